//go:build gc && !purego && !noasm

package simd

import "github.com/klauspost/cpuid/v2"

// The float products of attention (scores against the keys, weighted sums
// of the values, f32 or f16 caches) and of float heads (f32, f16, bf16) on
// the NEON tiers: the generic kernels' arithmetic four lanes at a time
// (the *LanesNEON and *WsumNEON kernels of tdot_arm64.s), each weight
// widened exactly and each product rounded before it is added in the
// generic order, so the results are the generic kernels' bit for bit.

// f32LanesNEON writes, for each of rows rows of w (stride bytes apart), the
// 16 lane sums of GenericMatVecF32 over steps·16 columns into lanes[16·r:].
//
//go:noescape
func f32LanesNEON(lanes *float32, w *float32, stride uintptr, x *float32, steps uintptr, rows uintptr)

// f32Lanes4NEON is f32LanesNEON for four inputs ldx bytes apart, each row
// read once: 64 lane sums a row, 16 for each input in turn.
//
//go:noescape
func f32Lanes4NEON(lanes *float32, w *float32, stride uintptr, x *float32, ldx uintptr, steps uintptr, rows uintptr)

// f16LanesNEON and bf16LanesNEON are f32LanesNEON for binary16 and
// bfloat16 rows, each weight widened exactly before its product.
//
//go:noescape
func f16LanesNEON(lanes *float32, w *uint16, stride uintptr, x *float32, steps uintptr, rows uintptr)

//go:noescape
func bf16LanesNEON(lanes *float32, w *uint16, stride uintptr, x *float32, steps uintptr, rows uintptr)

// f16WsumNEON is f32WsumNEON over a block of binary16 values.
//
//go:noescape
func f16WsumNEON(out *float32, blk *uint16, w *float32, n uintptr)

// f32WsumNEON sets out[c] = Σ_{p<n} w[p]·blk[16p+c] for c < 16, in the
// order of genericWeightedSumF32 (n > 0).
//
//go:noescape
func f32WsumNEON(out *float32, blk *float32, w *float32, n uintptr)

// neonLaneRows is how many rows' lane sums one f32LanesNEON call leaves on
// the stack (4 KiB).
const neonLaneRows = 64

// matVecF32NEON is GenericMatVecF32 with the lane sums from f32LanesNEON;
// the lane reduction and the column tail are the generic ones.
func matVecF32NEON(dst []float32, w []float32, stride int, x []float32) {
	checkFloatArgs("MatVecF32", len(dst), len(w), stride, len(x))
	main := len(x) &^ (FloatLanes - 1)
	if main == 0 || len(dst) == 0 {
		GenericMatVecF32(dst, w, stride, x)
		return
	}
	var lanes [neonLaneRows * FloatLanes]float32
	for r0 := 0; r0 < len(dst); r0 += neonLaneRows {
		n := min(neonLaneRows, len(dst)-r0)
		f32LanesNEON(&lanes[0], &w[r0*stride], uintptr(4*stride), &x[0], uintptr(main/FloatLanes), uintptr(n))
		for i := 0; i < n; i++ {
			row := w[(r0+i)*stride : (r0+i)*stride+len(x)]
			dst[r0+i] = tailF32(reduceLanes((*[FloatLanes]float32)(lanes[i*FloatLanes:])), row[main:], x[main:])
		}
	}
}

// matVecF32x4NEON is matVecF32NEON for four inputs (MatVecF32x4, which
// checks the arguments): the lane sums from f32Lanes4NEON, which reads
// each row (a position's key, for the query heads of a KV head) once for
// the four; reduction and tails as in matVecF32NEON, so each result is its
// bits.
func matVecF32x4NEON(dst []float32, ldd, rows int, w []float32, stride int, x []float32, ldx, k int) {
	main := k &^ (FloatLanes - 1)
	if main == 0 || rows == 0 {
		for q := 0; q < 4; q++ {
			GenericMatVecF32(dst[q*ldd:q*ldd+rows], w, stride, x[q*ldx:q*ldx+k])
		}
		return
	}
	const perRow = 4 * FloatLanes
	var lanes [neonLaneRows / 4 * perRow]float32
	for r0 := 0; r0 < rows; r0 += neonLaneRows / 4 {
		n := min(neonLaneRows/4, rows-r0)
		f32Lanes4NEON(&lanes[0], &w[r0*stride], uintptr(4*stride), &x[0], uintptr(4*ldx), uintptr(main/FloatLanes), uintptr(n))
		for i := 0; i < n; i++ {
			row := w[(r0+i)*stride : (r0+i)*stride+k]
			for q := 0; q < 4; q++ {
				xq := x[q*ldx : q*ldx+k]
				l := (*[FloatLanes]float32)(lanes[i*perRow+q*FloatLanes:])
				dst[q*ldd+r0+i] = tailF32(reduceLanes(l), row[main:], xq[main:])
			}
		}
	}
}

// matVec16NEON is GenericMatVecF16 (bf false) or GenericMatVecBF16 (bf
// true) with the lane sums from f16LanesNEON or bf16LanesNEON: the same
// products in the same order, so the same bits.
func matVec16NEON(fn string, bf bool, dst []float32, w []uint16, stride int, x []float32) {
	checkFloatArgs(fn, len(dst), len(w), stride, len(x))
	main := len(x) &^ (FloatLanes - 1)
	if main == 0 || len(dst) == 0 {
		if bf {
			GenericMatVecBF16(dst, w, stride, x)
		} else {
			GenericMatVecF16(dst, w, stride, x)
		}
		return
	}
	var lanes [neonLaneRows * FloatLanes]float32
	for r0 := 0; r0 < len(dst); r0 += neonLaneRows {
		n := min(neonLaneRows, len(dst)-r0)
		if bf {
			bf16LanesNEON(&lanes[0], &w[r0*stride], uintptr(2*stride), &x[0], uintptr(main/FloatLanes), uintptr(n))
		} else {
			f16LanesNEON(&lanes[0], &w[r0*stride], uintptr(2*stride), &x[0], uintptr(main/FloatLanes), uintptr(n))
		}
		for i := 0; i < n; i++ {
			row := w[(r0+i)*stride : (r0+i)*stride+len(x)]
			s := reduceLanes((*[FloatLanes]float32)(lanes[i*FloatLanes:]))
			if bf {
				dst[r0+i] = tailBF16(s, row[main:], x[main:])
			} else {
				dst[r0+i] = tailF16(s, row[main:], x[main:])
			}
		}
	}
}

func matVecF16NEON(dst []float32, w []uint16, stride int, x []float32) {
	matVec16NEON("MatVecF16", false, dst, w, stride, x)
}

func matVecBF16NEON(dst []float32, w []uint16, stride int, x []float32) {
	matVec16NEON("MatVecBF16", true, dst, w, stride, x)
}

// weightedSumF32NEON and weightedSumF16NEON are GenericWeightedSumF32 and
// GenericWeightedSumF16 with the whole column blocks from f32WsumNEON and
// f16WsumNEON (arguments checked by WeightedSumF32 and WeightedSumF16).
func weightedSumF32NEON(dst []float32, ldd, cols int, v []float32, ldb int, w []float32, ldw, n, nq int) {
	weightedSumNEON(f32WsumNEON, genericWeightedSumF32, dst, ldd, cols, v, ldb, w, ldw, n, nq)
}

func weightedSumF16NEON(dst []float32, ldd, cols int, v []uint16, ldb int, w []float32, ldw, n, nq int) {
	weightedSumNEON(f16WsumNEON, genericWeightedSumF16, dst, ldd, cols, v, ldb, w, ldw, n, nq)
}

// weightedSumNEON runs block over the whole column blocks and the generic
// loop from c0 over the rest.
func weightedSumNEON[T float32 | uint16](block func(out *float32, blk *T, w *float32, n uintptr),
	generic func(dst []float32, ldd, c0, cols int, v []T, ldb int, w []float32, ldw, n, nq int),
	dst []float32, ldd, cols int, v []T, ldb int, w []float32, ldw, n, nq int) {
	full := cols &^ (WeightedSumBlock - 1)
	if n > 0 {
		for q := 0; q < nq; q++ {
			for b := 0; b < full; b += WeightedSumBlock {
				block(&dst[q*ldd+b], &v[b/WeightedSumBlock*ldb], &w[q*ldw], uintptr(n))
			}
		}
	} else {
		for q := 0; q < nq; q++ {
			clear(dst[q*ldd : q*ldd+full])
		}
	}
	if full < cols {
		generic(dst, ldd, full, cols, v, ldb, w, ldw, n, nq)
	}
}

// The element loops of float.go and argmax.go (normVec) and quant.go
// (quantNEON) on
// NEON, from vecKernels in simd/internal/arm64gen: each performs the Go
// loop's float operations one by one, in its order, so that the results
// are the Go loops' bit for bit. n is a multiple of 16.

//go:noescape
func quantAbsMaxNEON(x *float32, n int) uint32

//go:noescape
func quantizeNEON(dst *int8, x *float32, n int, scale float32) int32

//go:noescape
func dequantRowsNEON(dst *float32, acc *int32, s *float32, n int, inv float32)

//go:noescape
func dequantOneNEON(dst *float32, acc *int32, n int, s float32, inv float32)

//go:noescape
func sumSquaresNEON(x *float32, n int, s *[8]float64)

//go:noescape
func sumLanesNEON(x *float32, n int, s *[8]float64)

//go:noescape
func maxNEON(x *float32, n int) float32

//go:noescape
func expScaledNEON(dst *float32, x *float32, n int, m float32, scale float32)

//go:noescape
func scaleNEON(dst *float32, x *float32, n int, inv float32)

//go:noescape
func scaleWeightNEON(dst *float32, x *float32, w *float32, n int, inv float32)

//go:noescape
func reluSqGateNEON(dst *float32, gate *float32, up *float32, n int)

//go:noescape
func addToNEON(dst *float32, x *float32, n int)

//go:noescape
func ropeNEON(x *float32, cos *float32, sin *float32, h int, n int)

//go:noescape
func argmaxNEON(x *float32, n int, bv *[64]float32, bi *[64]int32)

//go:noescape
func siluNEON(dst *float32, x *float32, n int)

//go:noescape
func siluGateNEON(dst *float32, gate *float32, up *float32, n int)

//go:noescape
func mlgruNEON(h *float32, ig *float32, fg *float32, n int)

//go:noescape
func mlgruLBNEON(h *float32, ig *float32, fg *float32, lb *float32, n int)

func sumSquaresVec(x *float32, n int, s *[8]float64)              { sumSquaresNEON(x, n, s) }
func scaleVec(dst, x *float32, n int, inv float32)                { scaleNEON(dst, x, n, inv) }
func scaleWeightVec(dst, x, w *float32, n int, inv float32)       { scaleWeightNEON(dst, x, w, n, inv) }
func sumLanesVec(x *float32, n int, s *[8]float64)                { sumLanesNEON(x, n, s) }
func maxVec(x *float32, n int) float32                            { return maxNEON(x, n) }
func expScaledVec(dst, x *float32, n int, m, scale float32)       { expScaledNEON(dst, x, n, m, scale) }
func reluSqGateVec(dst, gate, up *float32, n int)                 { reluSqGateNEON(dst, gate, up, n) }
func addToVec(dst, x *float32, n int)                             { addToNEON(dst, x, n) }
func ropeVec(x, cos, sin *float32, h, n int)                      { ropeNEON(x, cos, sin, h, n) }
func siluVec(dst, x *float32, n int)                              { siluNEON(dst, x, n) }
func argmaxVec(x *float32, n int, bv *[64]float32, bi *[64]int32) { argmaxNEON(x, n, bv, bi) }
func siluGateVec(dst, gate, up *float32, n int)                   { siluGateNEON(dst, gate, up, n) }
func mlgruVec(h, ig, fg *float32, n int)                          { mlgruNEON(h, ig, fg, n) }
func mlgruLBVec(h, ig, fg, lb *float32, n int)                    { mlgruLBNEON(h, ig, fg, lb, n) }

// quantNEON is the NEON form of the loops of QuantizeActivations and
// Dequantize.
var quantNEON = quantKernels{"neon", quantAbsMaxNEON, quantizeNEON, dequantRowsNEON, dequantOneNEON}

func init() {
	// Advanced SIMD is part of every AArch64 CPU that Linux and Go run on;
	// checked all the same, as the kernel tiers are.
	if cpuid.CPU.Supports(cpuid.ASIMD) {
		quantVecAll = append(quantVecAll, &quantNEON)
		quantVec.Store(&quantNEON)
		normVec = true
	}
}

// readStreamNEON and readStreamNEONnp read n bytes (a multiple of 512) as
// eight concurrent streams of 64-byte loads, with and without software
// prefetch: with the Go loop, the read patterns MeasureReadBandwidth
// times on arm64 (the fastest counts).
//
//go:noescape
func readStreamNEON(p *byte, n int)

//go:noescape
func readStreamNEONnp(p *byte, n int)

var readStreams = []func([]byte){readStreamGo, neonStream(readStreamNEON), neonStream(readStreamNEONnp)}

// neonStream wraps a NEON read loop for readStreams: the whole multiples
// of 512 bytes.
func neonStream(f func(*byte, int)) func([]byte) {
	return func(p []byte) {
		if n := len(p) &^ 511; n > 0 {
			f(&p[0], n)
		}
	}
}
