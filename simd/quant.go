package simd

import (
	"fmt"
	"math"
	"sync/atomic"
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
//
// Where the CPU has AVX2 or AVX-512 the maximum and the quantization of
// whole steps of 16 values run as assembly (quantKernels), with results
// identical to the Go loops, which do the rest.
func QuantizeActivations(dst []int8, x []float32) (scale float32, sum int32) {
	if len(dst) < len(x) {
		panic(fmt.Sprintf("simd: QuantizeActivations: dst has %d slots for %d values", len(dst), len(x)))
	}
	k := quantVec.Load()
	main := 0
	if k != nil {
		main = len(x) &^ (quantVecStep - 1)
	}
	var amax float32
	if main > 0 {
		amax = math.Float32frombits(k.absMax(&x[0], main))
	}
	amax = absMaxFinite(amax, x[main:])
	scale = 1
	if amax > 0 {
		scale = 127 / amax
	}
	// An infinite scale (max|x| below 127/MaxFloat32) makes 0·scale NaN,
	// whose conversion the Go loop defines; leave that case to it.
	if main > 0 && !math.IsInf(float64(scale), 0) {
		sum = k.quantize(&dst[0], &x[0], main, scale)
	} else {
		main = 0
	}
	sum += quantizeRange(dst[main:len(x)], x[main:], scale)
	clear(dst[len(x):])
	return scale, sum
}

// quantizeGeneric is QuantizeActivations in Go alone, the reference the
// vector kernels are tested against.
func quantizeGeneric(dst []int8, x []float32) (scale float32, sum int32) {
	if len(dst) < len(x) {
		panic(fmt.Sprintf("simd: QuantizeActivations: dst has %d slots for %d values", len(dst), len(x)))
	}
	amax := absMaxFinite(0, x)
	scale = 1
	if amax > 0 {
		scale = 127 / amax
	}
	sum = quantizeRange(dst[:len(x)], x, scale)
	clear(dst[len(x):])
	return scale, sum
}

// absMaxFinite returns the larger of amax and max|v| over the finite v in x.
func absMaxFinite(amax float32, x []float32) float32 {
	for _, v := range x {
		a := float32(math.Abs(float64(v)))
		if a > amax && !math.IsInf(float64(a), 0) {
			amax = a
		}
	}
	return amax
}

// quantizeRange sets dst[i] to the code of x[i] for the given scale and
// returns the sum of the codes; len(dst) == len(x).
func quantizeRange(dst []int8, x []float32, scale float32) (sum int32) {
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
	return sum
}

// quantKernels are one instruction set's forms of the loops of
// QuantizeActivations and Dequantize. Each covers n elements, n a positive
// multiple of quantVecStep, and equals the Go loop bit for bit.
type quantKernels struct {
	name        string
	absMax      func(x *float32, n int) uint32 // bits of max |x[i]| over finite x[i]
	quantize    func(dst *int8, x *float32, n int, scale float32) int32
	dequantRows func(dst *float32, acc *int32, s *float32, n int, inv float32)
	dequantOne  func(dst *float32, acc *int32, n int, s float32, inv float32)
}

const quantVecStep = 16

// quantVec is the best quantKernels of this CPU, nil where there are none
// (set by the architecture file's init); quantVecAll lists every usable
// one, for the tests.
var (
	quantVec    atomic.Pointer[quantKernels]
	quantVecAll []*quantKernels
)

// SumInt8 returns the exact sum of x.
func SumInt8(x []int8) int32 {
	var s int32
	for _, v := range x {
		s += int32(v)
	}
	return s
}
