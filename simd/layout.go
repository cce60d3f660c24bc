package simd

import "fmt"

// Layout names recorded by the model file format for packed ternary rows.
const (
	// LayoutI2B128 is the 2-bit ternary layout (2.0 bits per weight), the x86
	// I2_S block layout of bitnet.cpp (microsoft/BitNet src/ggml-bitnet-mad.cpp):
	// a row of K weights is padded to a multiple of 128; each block of 128
	// weights takes 32 bytes, and byte j (0..31) of a block holds weights j,
	// j+32, j+64 and j+96 in bit fields 7:6, 5:4, 3:2 and 1:0. A field holds
	// the code w+1 (00 = -1, 01 = 0, 10 = +1; 11 is never written). Padding
	// weights are code 01 (w = 0).
	//
	// One 32-byte load, shifts and masks give four byte vectors lined up with
	// four contiguous 32-byte slices of the activations, which is why the
	// weights are interleaved this way.
	LayoutI2B128 = "i2b128"

	// LayoutT5B160 is the 1.6-bit ternary layout (5 trits per byte): a row is
	// padded to a multiple of 160; each block of 160 weights takes 32 bytes,
	// and byte j (0..31) holds weights j, j+32, j+64, j+96 and j+128.
	//
	// Encoding (the fixed-point base-3 trick of llama.cpp TQ1_0, PR #8151,
	// https://compilade.net/blog/ternary-packing): with c_k = w+1 the code of
	// weight j+32k (k = 0..4),
	//
	//	v = c_0·81 + c_1·27 + c_2·9 + c_3·3 + c_4      (0 <= v <= 242)
	//	b = ceil(v·256/243)                             (the stored byte)
	//
	// so b/256 is v/243 rounded up, a base-3 fraction whose first digit is c_0.
	// Code c_k is then
	//
	//	c_k = (uint8(b·3^k) · 3) >> 8
	//
	// (multiply modulo 256 to drop the leading digits, then take the integer
	// part of three times the fraction). Equivalently, with the 16-bit prefix
	// m_k = (b·3^k) >> 8 (the first k digits, exactly, because the rounding
	// error of b is below 1/256 and 3^5/256 < 1), c_k = m_{k+1} - 3·m_k; the
	// amd64 kernels use that form (one VPMULHUW per digit). Padding weights are
	// w = 0 (code 1). Every one of the 243 byte values is checked by tests.
	LayoutT5B160 = "t5b160"
)

// BlockI2B128 and BlockT5B160 are the number of weights per 32-byte block.
const (
	BlockI2B128 = 128
	BlockT5B160 = 160
)

// RowBytesI2B128 returns the packed size of one row of k weights in the
// i2b128 layout: ceil(k/128)*32.
func RowBytesI2B128(k int) int {
	if k < 0 {
		panic(fmt.Sprintf("simd: RowBytesI2B128: negative length %d", k))
	}
	return (k + BlockI2B128 - 1) / BlockI2B128 * 32
}

// RowBytesT5B160 returns the packed size of one row of k weights in the
// t5b160 layout: ceil(k/160)*32.
func RowBytesT5B160(k int) int {
	if k < 0 {
		panic(fmt.Sprintf("simd: RowBytesT5B160: negative length %d", k))
	}
	return (k + BlockT5B160 - 1) / BlockT5B160 * 32
}

// PaddedLen returns k rounded up to a multiple of block (128 for i2b128, 160
// for t5b160): the length of the activation vector the kernels take.
func PaddedLen(k, block int) int {
	return (k + block - 1) / block * block
}

func checkTernary(fn string, w []int8) {
	for i, v := range w {
		if v < -1 || v > 1 {
			panic(fmt.Sprintf("simd: %s: weight %d is %d, not in {-1,0,1}", fn, i, v))
		}
	}
}

// PackI2B128 packs one row of ternary weights (each in {-1,0,1}) into dst in
// the i2b128 layout. dst must hold at least RowBytesI2B128(len(w)) bytes;
// exactly that many are written. It panics on a weight outside {-1,0,1}.
func PackI2B128(dst []byte, w []int8) {
	n := RowBytesI2B128(len(w))
	if len(dst) < n {
		panic(fmt.Sprintf("simd: PackI2B128: dst has %d bytes, row of %d weights needs %d", len(dst), len(w), n))
	}
	checkTernary("PackI2B128", w)
	for blk := 0; blk < n/32; blk++ {
		for j := 0; j < 32; j++ {
			var b byte
			for g := 0; g < 4; g++ {
				i := blk*BlockI2B128 + g*32 + j
				c := byte(1) // padding: w = 0
				if i < len(w) {
					c = byte(w[i] + 1)
				}
				b |= c << (6 - 2*g)
			}
			dst[blk*32+j] = b
		}
	}
}

// UnpackI2B128 decodes k weights of one i2b128 row into dst (len(dst) >= k).
// A field holding the never-written code 11 decodes as +2, so that tests see
// corrupt input instead of a silently valid weight.
func UnpackI2B128(dst []int8, src []byte, k int) {
	if n := RowBytesI2B128(k); len(src) < n || len(dst) < k {
		panic(fmt.Sprintf("simd: UnpackI2B128: %d weights need %d source bytes (have %d) and %d destination slots (have %d)", k, n, len(src), k, len(dst)))
	}
	for i := 0; i < k; i++ {
		blk, r := i/BlockI2B128, i%BlockI2B128
		g, j := r/32, r%32
		dst[i] = int8(src[blk*32+j]>>(6-2*g)&3) - 1
	}
}

// pow3 holds 3^k for the t5b160 digit extraction.
var pow3 = [6]int{1, 3, 9, 27, 81, 243}

// EncodeT5 returns the t5b160 byte for five codes c[k] = w_k+1 in {0,1,2},
// c[0] being weight j, c[4] weight j+128 of a block.
func EncodeT5(c [5]uint8) byte {
	v := 0
	for k := 0; k < 5; k++ {
		v = v*3 + int(c[k])
	}
	return byte((v*256 + 242) / 243)
}

// DecodeT5 returns code k (0..4) of a t5b160 byte: (uint8(b·3^k)·3) >> 8.
func DecodeT5(b byte, k int) uint8 {
	q := uint8(int(b) * pow3[k])
	return uint8(uint16(q) * 3 >> 8)
}

// PackT5B160 packs one row of ternary weights (each in {-1,0,1}) into dst in
// the t5b160 layout. dst must hold at least RowBytesT5B160(len(w)) bytes;
// exactly that many are written. It panics on a weight outside {-1,0,1}.
func PackT5B160(dst []byte, w []int8) {
	n := RowBytesT5B160(len(w))
	if len(dst) < n {
		panic(fmt.Sprintf("simd: PackT5B160: dst has %d bytes, row of %d weights needs %d", len(dst), len(w), n))
	}
	checkTernary("PackT5B160", w)
	for blk := 0; blk < n/32; blk++ {
		for j := 0; j < 32; j++ {
			var c [5]uint8
			for k := 0; k < 5; k++ {
				i := blk*BlockT5B160 + k*32 + j
				c[k] = 1
				if i < len(w) {
					c[k] = uint8(w[i] + 1)
				}
			}
			dst[blk*32+j] = EncodeT5(c)
		}
	}
}

// UnpackT5B160 decodes k weights of one t5b160 row into dst (len(dst) >= k).
func UnpackT5B160(dst []int8, src []byte, k int) {
	if n := RowBytesT5B160(k); len(src) < n || len(dst) < k {
		panic(fmt.Sprintf("simd: UnpackT5B160: %d weights need %d source bytes (have %d) and %d destination slots (have %d)", k, n, len(src), k, len(dst)))
	}
	for i := 0; i < k; i++ {
		blk, r := i/BlockT5B160, i%BlockT5B160
		g, j := r/32, r%32
		dst[i] = int8(DecodeT5(src[blk*32+j], g)) - 1
	}
}

// FillRandom fills dst with uniformly random valid bytes of a packed ternary
// layout (LayoutI2B128 or LayoutT5B160): every field holds a code of -1, 0 or
// +1. It is for benchmarks and synthetic models; padding is not treated
// specially.
func FillRandom(dst []byte, layout string, seed uint64) error {
	var table []byte
	switch layout {
	case LayoutI2B128:
		for b := 0; b < 256; b++ {
			if b&3 != 3 && b>>2&3 != 3 && b>>4&3 != 3 && b>>6 != 3 {
				table = append(table, byte(b))
			}
		}
	case LayoutT5B160:
		for v := 0; v < 243; v++ {
			table = append(table, byte((v*256+242)/243))
		}
	default:
		return fmt.Errorf("simd: FillRandom: unknown layout %q", layout)
	}
	// SplitMix64 (Steele et al. 2014): fast, and plenty for test data.
	s := seed
	for i := 0; i < len(dst); {
		s += 0x9e3779b97f4a7c15
		z := s
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		z ^= z >> 31
		for j := 0; j < 8 && i < len(dst); j++ {
			dst[i] = table[int(z&0xff)%len(table)]
			z >>= 8
			i++
		}
	}
	return nil
}
