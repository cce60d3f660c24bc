package simd

import (
	"fmt"
	"math"
)

// Float matrix × float32 vector, for output heads (and tied embeddings)
// stored as f16, bf16 or f32 and read in place from the model mapping: the
// weights are widened in registers, never copied.
//
// Float sums depend on their order, so every tier adds in one fixed order:
// for the first len(x)&^15 columns, column c goes to lane c%16 and each of
// the 16 lanes accumulates its products in column order; the lanes are then
// reduced by a tree (lane l += lane l+8 for l < 8, then l+4, then l+2, then
// l+1); the last len(x)%16 columns are added to that sum one at a time, in
// order. The generic tier rounds each product before adding it; the amd64
// tiers (AVX2+F16C+FMA and AVX-512) fuse the multiply and add of the lane
// sums (one rounding), and equal each other bit for bit. The two can
// therefore differ in the last bits: by the usual bound for recursive
// summation, each result is within (len(x)/16 + 20)·2⁻²⁴·Σ|w·x| of the exact
// dot product (float16_test.go checks twice that between tiers). A row is
// computed by one worker, so results do not depend on the number of
// threads.

// FloatLanes is the number of lane sums of the float kernels.
const FloatLanes = 16

// F16ToF32 widens an IEEE 754 binary16 value. Every binary16 value,
// subnormals included, is exact in float32. A NaN keeps its payload and is
// made quiet, as VCVTPH2PS and FCVT do.
func F16ToF32(h uint16) float32 {
	if e := h & 0x7c00; e != 0 && e != 0x7c00 {
		// Normal: rebias the exponent (15 → 127) and widen the fraction.
		return math.Float32frombits(uint32(h&0x8000)<<16 | (uint32(h&0x7fff)<<13 + 112<<23))
	}
	return f16Special(h)
}

// f16Special widens the zeros, subnormals, infinities and NaNs; kept out
// of line so that F16ToF32 inlines.
//
//go:noinline
func f16Special(h uint16) float32 {
	sign := uint32(h>>15) << 31
	frac := uint32(h) & 0x3ff
	if h&0x7c00 != 0 { // inf or NaN
		if frac != 0 {
			return math.Float32frombits(sign | 0x7fc00000 | frac<<13)
		}
		return math.Float32frombits(sign | 0x7f800000)
	}
	// Zero or subnormal: frac · 2⁻²⁴, exact in float32.
	f := float32(frac) * (1.0 / (1 << 24))
	if sign != 0 {
		f = -f
	}
	return f
}

// F32ToF16 narrows f to IEEE 754 binary16, rounding to nearest with ties to
// even, as VCVTPS2PH and FCVT do by default: overflow gives ±Inf,
// values below half the smallest subnormal give ±0, and a NaN stays a
// quiet NaN with the top of its payload.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	if b&0x7fffffff > 0x7f800000 { // NaN
		return sign | 0x7e00 | uint16(b>>13)&0x3ff
	}
	exp := int(b>>23&0xff) - 127 + 15
	man := b & 0x7fffff
	if exp >= 31 { // too large, or Inf
		return sign | 0x7c00
	}
	if exp <= 0 { // subnormal in binary16, or zero
		if exp < -10 {
			return sign
		}
		man |= 0x800000
		shift := uint(14 - exp)
		r, rem, half := man>>shift, man&(1<<shift-1), uint32(1)<<(shift-1)
		if rem > half || rem == half && r&1 == 1 {
			r++
		}
		return sign | uint16(r)
	}
	r, rem := uint32(exp)<<10|man>>13, man&0x1fff
	if rem > 0x1000 || rem == 0x1000 && r&1 == 1 {
		r++ // a carry into the exponent is right, up to Inf
	}
	return sign | uint16(r)
}

// BF16ToF32 widens a bfloat16 value: its bits are the top half of a float32.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F16ToF32s sets dst[i] = F16ToF32(src[i]) for i < len(dst).
func F16ToF32s(dst []float32, src []uint16) {
	src = src[:len(dst)]
	for i, h := range src {
		// F16ToF32's normal case, written out so that the loop has no call.
		if e := h & 0x7c00; e != 0 && e != 0x7c00 {
			dst[i] = math.Float32frombits(uint32(h&0x8000)<<16 | (uint32(h&0x7fff)<<13 + 112<<23))
		} else {
			dst[i] = f16Special(h)
		}
	}
}

// BF16ToF32s sets dst[i] = BF16ToF32(src[i]) for i < len(dst).
func BF16ToF32s(dst []float32, src []uint16) {
	src = src[:len(dst)]
	for i, h := range src {
		dst[i] = BF16ToF32(h)
	}
}

// checkFloatArgs validates a float mat-vec call: rows rows of k weights at
// stride elements, the last one inside w.
func checkFloatArgs(fn string, rows, wlen, stride, k int) {
	if stride < k {
		panic(fmt.Sprintf("simd: %s: stride %d shorter than len(x) = %d", fn, stride, k))
	}
	if rows > 0 {
		if need := (rows-1)*stride + k; wlen < need {
			panic(fmt.Sprintf("simd: %s: %d rows at stride %d need %d weights, have %d", fn, rows, stride, need, wlen))
		}
	}
}

// reduceLanes sums the lanes in the tree order of every tier.
func reduceLanes(a *[FloatLanes]float32) float32 {
	for l := 0; l < 8; l++ {
		a[l] += a[l+8]
	}
	for l := 0; l < 4; l++ {
		a[l] += a[l+4]
	}
	a[0] += a[2]
	a[1] += a[3]
	return a[0] + a[1]
}

// dotLanes adds w[c]·x[c] to lane c%16 of acc for the whole steps of 16 in
// len(w) columns, each product rounded first: the explicit conversion keeps
// the compiler from fusing it into a multiply-add on the architectures
// where it would (arm64, amd64 v3), so the generic results are the same
// everywhere. The lanes live in registers while the loop runs.
func dotLanes(acc *[FloatLanes]float32, w, x []float32) {

	a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15 := acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7], acc[8], acc[9], acc[10], acc[11], acc[12], acc[13], acc[14], acc[15]
	x = x[:len(w)]
	for len(w) >= FloatLanes {
		wl, xl := (*[FloatLanes]float32)(w), (*[FloatLanes]float32)(x)
		a0 = float32(wl[0]*xl[0]) + a0
		a1 = float32(wl[1]*xl[1]) + a1
		a2 = float32(wl[2]*xl[2]) + a2
		a3 = float32(wl[3]*xl[3]) + a3
		a4 = float32(wl[4]*xl[4]) + a4
		a5 = float32(wl[5]*xl[5]) + a5
		a6 = float32(wl[6]*xl[6]) + a6
		a7 = float32(wl[7]*xl[7]) + a7
		a8 = float32(wl[8]*xl[8]) + a8
		a9 = float32(wl[9]*xl[9]) + a9
		a10 = float32(wl[10]*xl[10]) + a10
		a11 = float32(wl[11]*xl[11]) + a11
		a12 = float32(wl[12]*xl[12]) + a12
		a13 = float32(wl[13]*xl[13]) + a13
		a14 = float32(wl[14]*xl[14]) + a14
		a15 = float32(wl[15]*xl[15]) + a15
		w, x = w[FloatLanes:], x[FloatLanes:]
	}
	acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7], acc[8], acc[9], acc[10], acc[11], acc[12], acc[13], acc[14], acc[15] = a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15
}

// The column tails, shared by every tier: s plus w[c]·x[c] for each c in
// order, products rounded.

func tailF16(s float32, w []uint16, x []float32) float32 {
	w = w[:len(x)]
	for c, h := range w {
		s = float32(F16ToF32(h)*x[c]) + s
	}
	return s
}

func tailBF16(s float32, w []uint16, x []float32) float32 {
	w = w[:len(x)]
	for c, h := range w {
		s = float32(BF16ToF32(h)*x[c]) + s
	}
	return s
}

func tailF32(s float32, w []float32, x []float32) float32 {
	w = w[:len(x)]
	for c, v := range w {
		s = float32(v*x[c]) + s
	}
	return s
}

// floatChunk is the number of f16 or bf16 weights the generic kernels widen
// at a time into a stack buffer for dotLanes (a multiple of FloatLanes).
const floatChunk = 256

// GenericMatVecF16 sets dst[r] = Σ_c f(w[r*stride+c])·x[c] over c < len(x)
// for r < len(dst), with f = F16ToF32: an f16 matrix read in place times a
// float32 vector, summed in the order described at FloatLanes.
func GenericMatVecF16(dst []float32, w []uint16, stride int, x []float32) {
	checkFloatArgs("MatVecF16", len(dst), len(w), stride, len(x))
	main := len(x) &^ (FloatLanes - 1)
	var buf [floatChunk]float32
	for r := range dst {
		row := w[r*stride : r*stride+len(x)]
		var acc [FloatLanes]float32
		for c := 0; c < main; c += floatChunk {
			n := min(floatChunk, main-c)
			F16ToF32s(buf[:n], row[c:])
			dotLanes(&acc, buf[:n], x[c:])
		}
		dst[r] = tailF16(reduceLanes(&acc), row[main:], x[main:])
	}
}

// GenericMatVecBF16 is GenericMatVecF16 for bfloat16 weights.
func GenericMatVecBF16(dst []float32, w []uint16, stride int, x []float32) {
	checkFloatArgs("MatVecBF16", len(dst), len(w), stride, len(x))
	main := len(x) &^ (FloatLanes - 1)
	var buf [floatChunk]float32
	for r := range dst {
		row := w[r*stride : r*stride+len(x)]
		var acc [FloatLanes]float32
		for c := 0; c < main; c += floatChunk {
			n := min(floatChunk, main-c)
			BF16ToF32s(buf[:n], row[c:])
			dotLanes(&acc, buf[:n], x[c:])
		}
		dst[r] = tailBF16(reduceLanes(&acc), row[main:], x[main:])
	}
}

// GenericMatVecF32 is GenericMatVecF16 for float32 weights: the same order,
// so a matrix of f16 values gives the same results stored either way.
func GenericMatVecF32(dst []float32, w []float32, stride int, x []float32) {
	checkFloatArgs("MatVecF32", len(dst), len(w), stride, len(x))
	main := len(x) &^ (FloatLanes - 1)
	for r := range dst {
		row := w[r*stride : r*stride+len(x)]
		var acc [FloatLanes]float32
		dotLanes(&acc, row[:main], x)
		dst[r] = tailF32(reduceLanes(&acc), row[main:], x[main:])
	}
}

// MatVecF32x4 sets dst[q·ldd + r] = Σ_c w[r·stride+c]·x[q·ldx+c] over c < k,
// for r < rows and q < 4: four inputs against one matrix, such as the query
// heads that share a KV head against its keys. Each (row, input) gets
// exactly impl.MatVecF32's result; tiers with a kernel for it (AVX-512)
// read each row once for the four inputs, the others make four MatVecF32
// calls.
func MatVecF32x4(impl Impl, dst []float32, ldd, rows int, w []float32, stride int, x []float32, ldx, k int) {
	if ldd < rows || len(dst) < 3*ldd+rows {
		panic(fmt.Sprintf("simd: MatVecF32x4: %d outputs at distance %d need %d floats, dst has %d", rows, ldd, 3*ldd+rows, len(dst)))
	}
	if ldx < k || len(x) < 3*ldx+k {
		panic(fmt.Sprintf("simd: MatVecF32x4: 4 inputs of %d at distance %d need %d floats, x has %d", k, ldx, 3*ldx+k, len(x)))
	}
	checkFloatArgs("MatVecF32x4", rows, len(w), stride, k)
	if impl.MatVecF32x4 != nil {
		impl.MatVecF32x4(dst, ldd, rows, w, stride, x, ldx, k)
		return
	}
	f := impl.MatVecF32
	if f == nil {
		f = GenericMatVecF32
	}
	for q := 0; q < 4; q++ {
		f(dst[q*ldd:q*ldd+rows], w, stride, x[q*ldx:q*ldx+k])
	}
}
