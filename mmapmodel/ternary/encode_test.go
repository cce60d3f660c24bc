package ternary_test

import (
	"encoding/binary"
	"math"
	"math/rand/v2"

	"github.com/speakez/barewire/mmapmodel/ternary"
)

// The encoders below are written from the reference quantizers, not from the
// decoders under test: MSB src/ggml-bitnet-mad.cpp quantize_i2_s, GGML
// ggml-quants.c quantize_row_tq1_0_ref / quantize_row_tq2_0_ref, and HFT
// integrations/bitnet.py pack_weights.

func randomTrits(rng *rand.Rand, n int) []int8 {
	v := make([]int8, n)
	for i := range v {
		v[i] = int8(rng.IntN(3)) - 1
	}
	return v
}

// encodeI2S packs flat values with block size qk (128 x86, 64 ARM) and
// appends the 32-byte tail holding scale.
func encodeI2S(vals []int8, qk int, scale float32) []byte {
	n := len(vals)
	out := make([]byte, n/4+32)
	gw := qk / 4
	for i := 0; i < n/qk; i++ {
		for j := 0; j < qk; j++ {
			q := byte(vals[i*qk+j] + 1)
			out[i*gw+j%gw] |= q << (6 - 2*(j/gw))
		}
	}
	binary.LittleEndian.PutUint32(out[n/4:], math.Float32bits(scale))
	return out
}

// encodeTQ2 encodes 256-weight blocks with per-block scales d.
func encodeTQ2(vals []int8, d []float32) []byte {
	var out []byte
	for b := 0; b < len(vals)/256; b++ {
		x := vals[b*256:]
		var blk [66]byte
		for j := 0; j < 64; j += 32 {
			for m := 0; m < 32; m++ {
				var q byte
				for n := 0; n < 4; n++ {
					q += byte(x[m+n*32]+1) << (2 * n)
				}
				blk[j+m] = q
			}
			x = x[128:]
		}
		binary.LittleEndian.PutUint16(blk[64:], ternary.F32ToF16(d[b]))
		out = append(out, blk[:]...)
	}
	return out
}

func encodeTQ1(vals []int8, d []float32) []byte {
	var out []byte
	ceil := func(q int) byte { return byte((q*256 + 242) / 243) }
	for b := 0; b < len(vals)/256; b++ {
		x := vals[b*256:]
		var blk [54]byte
		for m := 0; m < 32; m++ {
			q := 0
			for n := 0; n < 5; n++ {
				q = q*3 + int(x[m+n*32]+1)
			}
			blk[m] = ceil(q)
		}
		x = x[160:]
		for m := 0; m < 16; m++ {
			q := 0
			for n := 0; n < 5; n++ {
				q = q*3 + int(x[m+n*16]+1)
			}
			blk[32+m] = ceil(q)
		}
		x = x[80:]
		for j := 0; j < 4; j++ {
			q := 0
			for m := 0; m < 4; m++ {
				q = q*3 + int(x[j+m*4]+1)
			}
			blk[48+j] = ceil(q * 3)
		}
		binary.LittleEndian.PutUint16(blk[52:], ternary.F32ToF16(d[b]))
		out = append(out, blk[:]...)
	}
	return out
}

// packHF packs an [out, in] ternary matrix into [out/4, in] bytes.
func packHF(vals []int8, out, in int) []byte {
	p := out / 4
	packed := make([]byte, p*in)
	for i := 0; i < 4; i++ {
		for r := 0; r < p; r++ {
			for c := 0; c < in; c++ {
				packed[r*in+c] |= byte(vals[(i*p+r)*in+c]+1) << (2 * i)
			}
		}
	}
	return packed
}

func decodeAll(t interface{ Row(int, []int8) error }, rows, cols int) ([]int8, error) {
	out := make([]int8, rows*cols)
	for r := 0; r < rows; r++ {
		if err := t.Row(r, out[r*cols:(r+1)*cols]); err != nil {
			return nil, err
		}
	}
	return out, nil
}
