package simd

import "fmt"

// Weighted sums of rows: attention's values. WeightedSumF32 and
// WeightedSumF16 set, for q < nq weight vectors,
//
//	dst[q·ldd + c] = Σ_{p<n} w[q·ldw + p] · v(p, c)   for c < cols,
//
// where the n rows of cols values are stored in column blocks of
// WeightedSumBlock: v(p, c) = v[(c/16)·ldb + p·16 + c%16], ldb ≥ 16·n (the
// last block's columns past cols are never read). Each block is one
// contiguous stream; the kernels read every row of it once for all nq
// vectors (1 to 4), and the AVX-512 ones four blocks side by side. Each
// output has its own running sum, which takes the products in order of p
// from zero. The generic tier rounds each product before adding it; the
// amd64 tiers with FMA fuse the two (one rounding) for the columns of the
// whole blocks and equal each other bit for bit; the columns of a last,
// partial block are summed by the generic loop on every tier.

// WeightedSumBlock is the number of columns in a block of WeightedSumF32's
// layout.
const WeightedSumBlock = 16

// checkWeightedSum panics unless the arguments describe nq vectors of n
// weights, nq outputs of cols, and n rows of cols values in blocks ldb apart.
func checkWeightedSum(fn string, dlen, ldd, cols, vlen, ldb, wlen, ldw, n, nq int) {
	if nq < 1 || nq > 4 {
		panic(fmt.Sprintf("simd: %s: %d weight vectors, want 1 to 4", fn, nq))
	}
	if cols < 0 || n < 0 || ldd < cols || ldw < n || ldb < WeightedSumBlock*n {
		panic(fmt.Sprintf("simd: %s: cols %d, n %d with strides dst %d, v blocks %d, w %d", fn, cols, n, ldd, ldb, ldw))
	}
	if need := (nq-1)*ldd + cols; dlen < need {
		panic(fmt.Sprintf("simd: %s: %d outputs of %d at distance %d need %d floats, dst has %d", fn, nq, cols, ldd, need, dlen))
	}
	if need := (nq-1)*ldw + n; wlen < need {
		panic(fmt.Sprintf("simd: %s: %d weight vectors of %d at distance %d need %d floats, w has %d", fn, nq, n, ldw, need, wlen))
	}
	if n > 0 && cols > 0 {
		last := cols - 1
		if need := last/WeightedSumBlock*ldb + (n-1)*WeightedSumBlock + last%WeightedSumBlock + 1; vlen < need {
			panic(fmt.Sprintf("simd: %s: %d rows of %d in blocks %d apart need %d values, v has %d", fn, n, cols, ldb, need, vlen))
		}
	}
}

// WeightedSumF32 sets dst[q·ldd + c] = Σ_{p<n} w[q·ldw + p]·v(p, c) for c <
// cols and q < nq (1 to 4), where the n rows are stored in column blocks of
// WeightedSumBlock: v(p, c) = v[(c/16)·ldb + p·16 + c%16], ldb ≥ 16·n. It
// uses impl's kernel (the generic one when it has none). Each output sums
// its products in order of p from zero: fused multiply-adds on the amd64
// tiers for the whole blocks, each product rounded first otherwise.
func WeightedSumF32(impl Impl, dst []float32, ldd, cols int, v []float32, ldb int, w []float32, ldw, n, nq int) {
	checkWeightedSum("WeightedSumF32", len(dst), ldd, cols, len(v), ldb, len(w), ldw, n, nq)
	if impl.WeightedSumF32 != nil {
		impl.WeightedSumF32(dst, ldd, cols, v, ldb, w, ldw, n, nq)
		return
	}
	genericWeightedSumF32(dst, ldd, 0, cols, v, ldb, w, ldw, n, nq)
}

// WeightedSumF16 is WeightedSumF32 over binary16 rows (an f16 KV cache),
// each value widened exactly.
func WeightedSumF16(impl Impl, dst []float32, ldd, cols int, v []uint16, ldb int, w []float32, ldw, n, nq int) {
	checkWeightedSum("WeightedSumF16", len(dst), ldd, cols, len(v), ldb, len(w), ldw, n, nq)
	if impl.WeightedSumF16 != nil {
		impl.WeightedSumF16(dst, ldd, cols, v, ldb, w, ldw, n, nq)
		return
	}
	genericWeightedSumF16(dst, ldd, 0, cols, v, ldb, w, ldw, n, nq)
}

// GenericWeightedSumF32 is the generic tier's WeightedSumF32 (arguments
// checked by the caller of an Impl's kernel).
func GenericWeightedSumF32(dst []float32, ldd, cols int, v []float32, ldb int, w []float32, ldw, n, nq int) {
	genericWeightedSumF32(dst, ldd, 0, cols, v, ldb, w, ldw, n, nq)
}

// GenericWeightedSumF16 is the generic tier's WeightedSumF16.
func GenericWeightedSumF16(dst []float32, ldd, cols int, v []uint16, ldb int, w []float32, ldw, n, nq int) {
	genericWeightedSumF16(dst, ldd, 0, cols, v, ldb, w, ldw, n, nq)
}

// genericWeightedSumF32 computes columns c0 <= c < cols (c0 a multiple of
// the block), each product rounded before it is added.
func genericWeightedSumF32(dst []float32, ldd, c0, cols int, v []float32, ldb int, w []float32, ldw, n, nq int) {
	for q := 0; q < nq; q++ {
		clear(dst[q*ldd+c0 : q*ldd+cols])
		for b := c0; b < cols && n > 0; b += WeightedSumBlock {
			out := dst[q*ldd+b : q*ldd+min(b+WeightedSumBlock, cols)]
			blk := v[b/WeightedSumBlock*ldb:]
			if len(out) == WeightedSumBlock {
				wsumBlockF32((*[WeightedSumBlock]float32)(out), blk[:n*WeightedSumBlock], w[q*ldw:q*ldw+n])
				continue
			}
			for p, wp := range w[q*ldw : q*ldw+n] {
				row := blk[p*WeightedSumBlock : p*WeightedSumBlock+len(out)]
				for c, x := range row {
					out[c] = float32(wp*x) + out[c]
				}
			}
		}
	}
}

// wsumBlockF32 sets out[c] = Σ_p w[p]·blk[p·16 + c] for the 16 columns of
// one block, each product rounded and added in order of p (as the loop of
// genericWeightedSumF32), with the sums in registers: eight columns at a
// time, which fits the sixteen float registers of amd64 and leaves arm64
// room to spare.
func wsumBlockF32(out *[WeightedSumBlock]float32, blk []float32, w []float32) {
	for half := 0; half < WeightedSumBlock; half += 8 {
		var a0, a1, a2, a3, a4, a5, a6, a7 float32
		for p, wp := range w {
			r := (*[8]float32)(blk[p*WeightedSumBlock+half:])
			a0 = float32(wp*r[0]) + a0
			a1 = float32(wp*r[1]) + a1
			a2 = float32(wp*r[2]) + a2
			a3 = float32(wp*r[3]) + a3
			a4 = float32(wp*r[4]) + a4
			a5 = float32(wp*r[5]) + a5
			a6 = float32(wp*r[6]) + a6
			a7 = float32(wp*r[7]) + a7
		}
		out[half], out[half+1], out[half+2], out[half+3] = a0, a1, a2, a3
		out[half+4], out[half+5], out[half+6], out[half+7] = a4, a5, a6, a7
	}
}

// wsumBlockF16 is wsumBlockF32 over binary16 rows.
func wsumBlockF16(out *[WeightedSumBlock]float32, blk []uint16, w []float32) {
	for half := 0; half < WeightedSumBlock; half += 8 {
		var a0, a1, a2, a3, a4, a5, a6, a7 float32
		for p, wp := range w {
			r := (*[8]uint16)(blk[p*WeightedSumBlock+half:])
			a0 = float32(wp*F16ToF32(r[0])) + a0
			a1 = float32(wp*F16ToF32(r[1])) + a1
			a2 = float32(wp*F16ToF32(r[2])) + a2
			a3 = float32(wp*F16ToF32(r[3])) + a3
			a4 = float32(wp*F16ToF32(r[4])) + a4
			a5 = float32(wp*F16ToF32(r[5])) + a5
			a6 = float32(wp*F16ToF32(r[6])) + a6
			a7 = float32(wp*F16ToF32(r[7])) + a7
		}
		out[half], out[half+1], out[half+2], out[half+3] = a0, a1, a2, a3
		out[half+4], out[half+5], out[half+6], out[half+7] = a4, a5, a6, a7
	}
}

func genericWeightedSumF16(dst []float32, ldd, c0, cols int, v []uint16, ldb int, w []float32, ldw, n, nq int) {
	for q := 0; q < nq; q++ {
		clear(dst[q*ldd+c0 : q*ldd+cols])
		for b := c0; b < cols && n > 0; b += WeightedSumBlock {
			out := dst[q*ldd+b : q*ldd+min(b+WeightedSumBlock, cols)]
			blk := v[b/WeightedSumBlock*ldb:]
			if len(out) == WeightedSumBlock {
				wsumBlockF16((*[WeightedSumBlock]float32)(out), blk[:n*WeightedSumBlock], w[q*ldw:q*ldw+n])
				continue
			}
			for p, wp := range w[q*ldw : q*ldw+n] {
				row := blk[p*WeightedSumBlock : p*WeightedSumBlock+len(out)]
				for c, h := range row {
					out[c] = float32(wp*F16ToF32(h)) + out[c]
				}
			}
		}
	}
}
