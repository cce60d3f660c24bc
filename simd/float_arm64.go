//go:build gc && !purego && !noasm

package simd

// The float32 products of attention (scores against the keys, weighted sums
// of the values) and of float heads on the NEON tiers: the generic kernels'
// arithmetic four lanes at a time (f32LanesNEON, f32WsumNEON in
// tdot_arm64.s), each product rounded before it is added in the generic
// order, so the results are GenericMatVecF32's and GenericWeightedSumF32's
// bit for bit.

// f32LanesNEON writes, for each of rows rows of w (stride bytes apart), the
// 16 lane sums of GenericMatVecF32 over steps·16 columns into lanes[16·r:].
//
//go:noescape
func f32LanesNEON(lanes *float32, w *float32, stride uintptr, x *float32, steps uintptr, rows uintptr)

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

// weightedSumF32NEON is GenericWeightedSumF32 with the whole column blocks
// from f32WsumNEON (arguments checked by WeightedSumF32).
func weightedSumF32NEON(dst []float32, ldd, cols int, v []float32, ldb int, w []float32, ldw, n, nq int) {
	full := cols &^ (WeightedSumBlock - 1)
	if n > 0 {
		for q := 0; q < nq; q++ {
			for b := 0; b < full; b += WeightedSumBlock {
				f32WsumNEON(&dst[q*ldd+b], &v[b/WeightedSumBlock*ldb], &w[q*ldw], uintptr(n))
			}
		}
	} else {
		for q := 0; q < nq; q++ {
			clear(dst[q*ldd : q*ldd+full])
		}
	}
	if full < cols {
		genericWeightedSumF32(dst, ldd, full, cols, v, ldb, w, ldw, n, nq)
	}
}
