package simd

import (
	"fmt"
	"math"
)

// QuantizeActivations quantizes one token's activations to int8 with the
// per-token absmax scheme of BitNet b1.58 (W1.58A8; bitnet.cpp
// quantize_row_i8_s): scale = 127/max|x|, q = round-half-to-even(x·scale)
// clamped to [-128,127]. It returns the scale (x ≈ q/scale) and the exact sum
// of the quantized values, which the kernels need to remove the +1 offset of
// the stored weight codes. dst must be at least len(x) long; dst beyond
// len(x) is zeroed (the padding up to a whole block).
//
// Non-finite inputs are handled deterministically: NaN quantizes to 0, ±Inf
// is ignored for the maximum and clamps to 127/-128. An all-zero (or empty)
// x gives scale 1 and all-zero codes.
func QuantizeActivations(dst []int8, x []float32) (scale float32, sum int32) {
	if len(dst) < len(x) {
		panic(fmt.Sprintf("simd: QuantizeActivations: dst has %d slots for %d values", len(dst), len(x)))
	}
	var amax float32
	for _, v := range x {
		a := float32(math.Abs(float64(v)))
		if a > amax && !math.IsInf(float64(a), 0) {
			amax = a
		}
	}
	scale = 1
	if amax > 0 {
		scale = 127 / amax
	}
	for i, v := range x {
		var q int32
		switch {
		case v != v: // NaN
			q = 0
		default:
			f := math.RoundToEven(float64(v * scale))
			switch {
			case f > 127:
				q = 127
			case f < -128:
				q = -128
			default:
				q = int32(f)
			}
		}
		dst[i] = int8(q)
		sum += q
	}
	clear(dst[len(x):])
	return scale, sum
}

// SumInt8 returns the exact sum of x.
func SumInt8(x []int8) int32 {
	var s int32
	for _, v := range x {
		s += int32(v)
	}
	return s
}
