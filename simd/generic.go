package simd

import "fmt"

// The generic reference kernels. They define the results every other tier
// must reproduce bit for bit, are always compiled, and are the fallback under
// the purego and noasm build tags. They favour obvious correctness over
// speed.

// Length limits of exact int32 results. A ternary dot product is at most
// 128·K in magnitude, and the AVX-512 kernel keeps partial sums scaled by 64
// in each of 16 lanes (at most 256·K); an int8 one is at most 16384·K.
const (
	MaxTernaryLen = 1 << 23
	MaxInt8Len    = 1<<17 - 1
)

// checkTernaryArgs validates the shared arguments of the ternary mat-vec
// kernels: rows = len(dst) rows of len(x)/block blocks each, the last row's
// blocks inside w. It panics with a message naming the kernel, because a
// wrong shape is a programming error, and asm kernels must never be handed
// one.
func checkTernaryArgs(fn string, rows int, w []byte, stride int, xlen, block int) (blocks int) {
	if xlen > MaxTernaryLen {
		panic(fmt.Sprintf("simd: %s: len(x) = %d exceeds %d, past which results could leave int32", fn, xlen, MaxTernaryLen))
	}
	if xlen%block != 0 {
		panic(fmt.Sprintf("simd: %s: len(x) = %d is not a multiple of %d", fn, xlen, block))
	}
	blocks = xlen / block
	if stride%32 != 0 || stride < blocks*32 {
		panic(fmt.Sprintf("simd: %s: stride %d must be a multiple of 32 and at least %d (%d blocks)", fn, stride, blocks*32, blocks))
	}
	if rows > 0 {
		if need := (rows-1)*stride + blocks*32; len(w) < need {
			panic(fmt.Sprintf("simd: %s: %d rows at stride %d need %d weight bytes, have %d", fn, rows, stride, need, len(w)))
		}
	}
	return blocks
}

func checkMatMulArgs(fn string, dst []int32, ldd int, w []byte, stride, rows int, x []int8, ldx, k int, xsum []int32, ntok int) (blocks int) {
	if rows < 0 || ntok < 0 || k < 0 {
		panic(fmt.Sprintf("simd: %s: negative shape rows=%d ntok=%d k=%d", fn, rows, ntok, k))
	}
	blocks = checkTernaryArgs(fn, rows, w, stride, k, BlockI2B128)
	if ntok == 0 || rows == 0 {
		return blocks
	}
	if ldd < rows || len(dst) < (ntok-1)*ldd+rows {
		panic(fmt.Sprintf("simd: %s: dst of %d with ldd %d cannot hold %d tokens × %d rows", fn, len(dst), ldd, ntok, rows))
	}
	if ldx < k || len(x) < (ntok-1)*ldx+k {
		panic(fmt.Sprintf("simd: %s: x of %d with ldx %d cannot hold %d tokens × %d values", fn, len(x), ldx, ntok, k))
	}
	if len(xsum) < ntok {
		panic(fmt.Sprintf("simd: %s: %d sums for %d tokens", fn, len(xsum), ntok))
	}
	return blocks
}

func checkI8Args(fn string, rows int, w []int8, stride, k int) {
	if k > MaxInt8Len {
		panic(fmt.Sprintf("simd: %s: len(x) = %d exceeds %d, past which results could leave int32", fn, k, MaxInt8Len))
	}
	if stride < k {
		panic(fmt.Sprintf("simd: %s: stride %d shorter than len(x) = %d", fn, stride, k))
	}
	if rows > 0 {
		if need := (rows-1)*stride + k; len(w) < need {
			panic(fmt.Sprintf("simd: %s: %d rows at stride %d need %d weights, have %d", fn, rows, stride, need, len(w)))
		}
	}
}

// GenericMatVecT2 sets dst[r] to the exact dot product of i2b128 weight row r
// (w[r*stride:]) with x, for r < len(dst). len(x) is a multiple of 128 and
// xsum = Σx; stride is a multiple of 32 and at least len(x)/4.
func GenericMatVecT2(dst []int32, w []byte, stride int, x []int8, xsum int32) {
	blocks := checkTernaryArgs("MatVecT2", len(dst), w, stride, len(x), BlockI2B128)
	for r := range dst {
		dst[r] = dotT2(w[r*stride:], x, blocks) - xsum
	}
}

// dotT2 returns Σ code·x over blocks i2b128 blocks.
func dotT2(w []byte, x []int8, blocks int) int32 {
	var s int32
	for b := 0; b < blocks; b++ {
		wb := w[b*32 : b*32+32]
		xb := x[b*128 : b*128+128]
		for j, c := range wb {
			c := int32(c)
			s += (c>>6)*int32(xb[j]) + (c>>4&3)*int32(xb[32+j]) +
				(c>>2&3)*int32(xb[64+j]) + (c&3)*int32(xb[96+j])
		}
	}
	return s
}

// GenericMatVecT16 is GenericMatVecT2 for the t5b160 layout: len(x) is a
// multiple of 160.
func GenericMatVecT16(dst []int32, w []byte, stride int, x []int8, xsum int32) {
	blocks := checkTernaryArgs("MatVecT16", len(dst), w, stride, len(x), BlockT5B160)
	for r := range dst {
		dst[r] = dotT16(w[r*stride:], x, blocks) - xsum
	}
}

func dotT16(w []byte, x []int8, blocks int) int32 {
	var s int32
	for b := 0; b < blocks; b++ {
		wb := w[b*32 : b*32+32]
		xb := x[b*160 : b*160+160]
		for j, c := range wb {
			for k := 0; k < 5; k++ {
				s += int32(DecodeT5(c, k)) * int32(xb[32*k+j])
			}
		}
	}
	return s
}

// GenericMatMulT2 is the prefill form of GenericMatVecT2: for ntok tokens,
// token t's activations are x[t*ldx : t*ldx+k] (k a multiple of 128) with sum
// xsum[t], and dst[t*ldd+r] receives the dot product of row r < rows with
// token t (token-major results).
func GenericMatMulT2(dst []int32, ldd int, w []byte, stride int, rows int, x []int8, ldx int, k int, xsum []int32, ntok int) {
	blocks := checkMatMulArgs("MatMulT2", dst, ldd, w, stride, rows, x, ldx, k, xsum, ntok)
	for t := 0; t < ntok; t++ {
		xt := x[t*ldx : t*ldx+k]
		for r := 0; r < rows; r++ {
			dst[t*ldd+r] = dotT2(w[r*stride:], xt, blocks) - xsum[t]
		}
	}
}

// GenericMatVecI8 sets dst[r] = Σ_c w[r*stride+c]·x[c] over c < len(x) for
// r < len(dst): an int8 matrix (per-row scales applied by the caller) times
// an int8 vector, exact in int32 (len(x) <= MaxInt8Len).
func GenericMatVecI8(dst []int32, w []int8, stride int, x []int8) {
	checkI8Args("MatVecI8", len(dst), w, stride, len(x))
	for r := range dst {
		row := w[r*stride : r*stride+len(x)]
		var s int32
		for c, v := range row {
			s += int32(v) * int32(x[c])
		}
		dst[r] = s
	}
}
