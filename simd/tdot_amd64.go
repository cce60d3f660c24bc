//go:build gc && !purego && !noasm

package simd

import (
	"sync"

	"github.com/klauspost/cpuid/v2"
)

// CPU features, read once. The AVX-512 tier uses byte/word instructions
// (BW), ymm forms of EVEX instructions (VL) and VPDPBUSD/VPDPWSSD (VNNI).
var (
	hasAVX2       = cpuid.CPU.Supports(cpuid.AVX2)
	hasAVX512VNNI = cpuid.CPU.Supports(cpuid.AVX512F, cpuid.AVX512BW, cpuid.AVX512VL, cpuid.AVX512VNNI)
	hasAVXVNNI    = cpuid.CPU.Supports(cpuid.AVX2, cpuid.AVXVNNI)
	// The ymm float kernels widen f16 with F16C and multiply-add with FMA;
	// every AVX2 CPU made so far has both, but the tiers below check.
	hasFloatAVX2 = cpuid.CPU.Supports(cpuid.AVX2, cpuid.F16C, cpuid.FMA3)
)

// Float kernels per width; a tier whose CPU lacks F16C or FMA keeps the
// generic ones (nil fields).
var (
	floatAVX2 = amd64FloatKernels{f16: f16MatVecAVX2, bf16: bf16MatVecAVX2, f32: f32MatVecAVX2,
		ws32: [3]wsumKernel[float32]{f32WeightedSum1AVX2, f32WeightedSum2AVX2, f32WeightedSum4AVX2},
		ws16: [3]wsumKernel[uint16]{f16WeightedSum1AVX2, f16WeightedSum2AVX2, f16WeightedSum4AVX2}}
	floatAVX512 = amd64FloatKernels{f16: f16MatVecAVX512, bf16: bf16MatVecAVX512, f32: f32MatVecAVX512, f32x4: f32MatVec4AVX512,
		ws32: [3]wsumKernel[float32]{f32WeightedSum1AVX512, f32WeightedSum2AVX512, f32WeightedSum4AVX512},
		ws16: [3]wsumKernel[uint16]{f16WeightedSum1AVX512, f16WeightedSum2AVX512, f16WeightedSum4AVX512}}
)

// withFloat sets impl's float kernels to k's when ok.
func (impl Impl) withFloat(k amd64FloatKernels, ok bool) Impl {
	if ok {
		impl.MatVecF16, impl.MatVecBF16, impl.MatVecF32 = k.matVecF16, k.matVecBF16, k.matVecF32
		if k.f32x4 != nil {
			impl.MatVecF32x4 = k.matVecF32x4
		}
		impl.WeightedSumF32, impl.WeightedSumF16 = k.weightedSumF32, k.weightedSumF16
	}
	return impl
}

// quantAVX512 and quantAVX2 are the vector loops of QuantizeActivations
// and Dequantize; they use only AVX-512F or AVX2 and serve every tier.
var (
	quantAVX512 = quantKernels{"avx512", quantAbsMaxAVX512, quantizeAVX512, dequantRowsAVX512, dequantOneAVX512}
	quantAVX2   = quantKernels{"avx2", quantAbsMaxAVX2, quantizeAVX2, dequantRowsAVX2, dequantOneAVX2}
)

func init() {
	if hasAVX2 {
		quantVecAll = append(quantVecAll, &quantAVX2)
		quantVec.Store(&quantAVX2)
	}
	if cpuid.CPU.Supports(cpuid.AVX512F) {
		quantVecAll = append(quantVecAll, &quantAVX512)
		quantVec.Store(&quantAVX512)
		normVec = true
	}
	register(Impl{
		Tier:      TierAVX2,
		MatVecT2:  amd64Kernels{t2: t2DecodeAVX2}.matVecT2,
		MatVecT16: amd64Kernels{t16: t16DecodeAVX2}.matVecT16,
		MatMulT2:  amd64Kernels{t2: t2DecodeAVX2, mm4: t2MatMul4AVX2}.matMulT2,
		MatVecI8:  amd64Kernels{i8: i8MatVecAVX2, i8Step: 32}.matVecI8,
	}.withFloat(floatAVX2, hasFloatAVX2), hasAVX2)
	register(Impl{
		Tier:      TierAVXVNNI,
		MatVecT2:  amd64Kernels{t2: t2DecodeAVXVNNI}.matVecT2,
		MatVecT16: amd64Kernels{t16: t16DecodeAVXVNNI}.matVecT16,
		MatMulT2:  amd64Kernels{t2: t2DecodeAVXVNNI, mm4: t2MatMul4AVXVNNI}.matMulT2,
		MatVecI8:  amd64Kernels{i8: i8MatVecAVXVNNI, i8Step: 32}.matVecI8,
	}.withFloat(floatAVX2, hasFloatAVX2), hasAVXVNNI)
	register(Impl{
		Tier:      TierAVX512VNNI,
		MatVecT2:  amd64Kernels{t2: t2DecodeVNNI512, t2x8: t2DecodeVNNI512x8, permute: true}.matVecT2,
		MatVecT16: amd64Kernels{t16: t16DecodeVNNI512}.matVecT16,
		MatMulT2:  amd64Kernels{t2: t2DecodeVNNI512, permute: true, mm4: t2MatMul4VNNI512}.matMulT2,
		MatVecI8:  amd64Kernels{i8: i8MatVecVNNI512, i8Step: 64}.matVecI8,
	}.withFloat(floatAVX512, true), hasAVX512VNNI)
}

// amd64Kernels adapts one tier's assembly to the Impl signatures: argument
// checks (the assembly trusts its arguments), empty shapes, the t5b160
// activation transform, prefill token tails and int8 column tails.
type amd64Kernels struct {
	t2     func(dst *int32, w *byte, stride int, x *int8, blocks int, rows int, xsum int32)
	t16    func(dst *int32, w *byte, stride int, y *int16, blocks int, rows int, xsum int32)
	mm4    func(dst *int32, ldd int, w *byte, stride int, rows int, x *int8, ldx int, blocks int, xsum *int32)
	i8     func(dst *int32, w *int8, stride int, x *int8, steps int, rows int)
	i8Step int
	// permute: t2 takes the activations rearranged by t2Permute.
	permute bool
	// t2x8, when set (with permute), takes the rows in multiples of 8
	// (eight streams) and t2 the rest, for calls of at least t2x8MinBytes
	// of weights.
	t2x8 func(dst *int32, w *byte, stride int, x *int8, blocks int, rows int, xsum int32)
}

// t2x8MinBytes is the least weight bytes for which MatVecT2 on AVX-512
// reads eight streams (t2DecodeVNNI512x8) instead of four. Streaming from
// memory, eight streams are faster: a 1 GiB matrix 1–9% (1 and 2 threads,
// three runs of eight alternating passes each), 2B4T decode 1.3–2.6% (in
// one process, alternating, the variants' token positions swapped between
// runs). From the caches they are slower (one VINSERTI64X4 per row pair
// and block more): 5–15% at 1–4 MiB. A call this small is either a short
// matrix or a thread's share of one, and a model's weights pass through
// memory; a variable so that tests can run every size through it.
var t2x8MinBytes = 256 << 10

func (k amd64Kernels) matVecT2(dst []int32, w []byte, stride int, x []int8, xsum int32) {
	blocks := checkTernaryArgs("MatVecT2", len(dst), w, stride, len(x), BlockI2B128)
	if len(dst) == 0 {
		return
	}
	if blocks == 0 {
		for i := range dst {
			dst[i] = -xsum
		}
		return
	}
	if !k.permute {
		k.t2(&dst[0], &w[0], stride, &x[0], blocks, len(dst), xsum)
		return
	}
	xp := t2Scratch.Get().(*[]int8)
	if n := (blocks + 1) / 2 * 256; cap(*xp) < n {
		*xp = make([]int8, n)
	}
	p := (*xp)[:(blocks+1)/2*256]
	t2Permute(p, x)
	rows := len(dst)
	if n8 := rows &^ 7; k.t2x8 != nil && n8 > 0 && n8*stride >= t2x8MinBytes {
		k.t2x8(&dst[0], &w[0], stride, &p[0], blocks, n8, xsum)
		dst, w, rows = dst[n8:], w[n8*stride:], rows-n8
	}
	if rows > 0 {
		k.t2(&dst[0], &w[0], stride, &p[0], blocks, rows, xsum)
	}
	t2Scratch.Put(xp)
}

// t2Scratch holds permuted activations for the AVX-512 decode kernel.
var t2Scratch = sync.Pool{New: func() any { return new([]int8) }}

// t2Permute rearranges i2b128 activations for a kernel that loads two
// blocks (64 bytes) of a row at once: for each pair of blocks and each code
// position g (weights j+32g), the 32 activations of the first block, then
// the 32 of the second (zero when the block count is odd):
// p[pair*256 + g*64 + half*32 + j] = x[(2*pair+half)*128 + 32g + j].
func t2Permute(p []int8, x []int8) {
	blocks := len(x) / BlockI2B128
	for b := 0; b < blocks; b++ {
		for g := 0; g < 4; g++ {
			copy(p[b/2*256+g*64+b%2*32:][:32], x[b*128+g*32:][:32])
		}
	}
	if blocks%2 == 1 {
		last := p[blocks/2*256:]
		for g := 0; g < 4; g++ {
			clear(last[g*64+32 : g*64+64])
		}
	}
}

// t16Scratch holds the int16 activation transform of t5b160 decode; pooled
// so a call allocates nothing once warm.
var t16Scratch = sync.Pool{New: func() any { return new([]int16) }}

// t16Words is the int16 count of the transform per 160-weight block: five
// digits × (16 even + 16 odd positions).
const t16Words = 160

// t16Prep writes y for x: per block and digit k = 1..5, the 16 values
// y_k[j] for even j, then the 16 for odd j, where y_k[j] = x[32(k-1)+j] -
// 3·x[32k+j] for k < 5 and y_5[j] = x[128+j] (see the kernel comment in
// _asm/main.go).
func t16Prep(y []int16, x []int8) {
	for b := 0; b < len(x)/BlockT5B160; b++ {
		xb := x[b*BlockT5B160 : (b+1)*BlockT5B160]
		yb := y[b*t16Words : (b+1)*t16Words]
		for k := 1; k <= 5; k++ {
			for j := 0; j < 32; j++ {
				v := int16(xb[32*(k-1)+j])
				if k < 5 {
					v -= 3 * int16(xb[32*k+j])
				}
				yb[(k-1)*32+(j&1)*16+j/2] = v
			}
		}
	}
}

func (k amd64Kernels) matVecT16(dst []int32, w []byte, stride int, x []int8, xsum int32) {
	blocks := checkTernaryArgs("MatVecT16", len(dst), w, stride, len(x), BlockT5B160)
	if len(dst) == 0 {
		return
	}
	if blocks == 0 {
		for i := range dst {
			dst[i] = -xsum
		}
		return
	}
	yp := t16Scratch.Get().(*[]int16)
	if n := blocks * t16Words; cap(*yp) < n {
		*yp = make([]int16, n)
	}
	y := (*yp)[:blocks*t16Words]
	t16Prep(y, x)
	k.t16(&dst[0], &w[0], stride, &y[0], blocks, len(dst), xsum)
	t16Scratch.Put(yp)
}

func (k amd64Kernels) matMulT2(dst []int32, ldd int, w []byte, stride int, rows int, x []int8, ldx int, kk int, xsum []int32, ntok int) {
	blocks := checkMatMulArgs("MatMulT2", dst, ldd, w, stride, rows, x, ldx, kk, xsum, ntok)
	if rows == 0 || ntok == 0 {
		return
	}
	t := 0
	if blocks > 0 {
		for ; t+4 <= ntok; t += 4 {
			k.mm4(&dst[t*ldd], ldd, &w[0], stride, rows, &x[t*ldx], ldx, blocks, &xsum[t])
		}
	}
	for ; t < ntok; t++ {
		k.matVecT2(dst[t*ldd:t*ldd+rows], w, stride, x[t*ldx:t*ldx+kk], xsum[t])
	}
}

func (k amd64Kernels) matVecI8(dst []int32, w []int8, stride int, x []int8) {
	checkI8Args("MatVecI8", len(dst), w, stride, len(x))
	if len(dst) == 0 {
		return
	}
	steps := len(x) / k.i8Step
	main := steps * k.i8Step
	if steps > 0 {
		k.i8(&dst[0], &w[0], stride, &x[0], steps, len(dst))
	} else {
		clear(dst)
	}
	if main == len(x) {
		return
	}
	tail := x[main:]
	for r := range dst {
		row := w[r*stride+main : r*stride+len(x)]
		s := dst[r]
		for c, v := range row {
			s += int32(v) * int32(tail[c])
		}
		dst[r] = s
	}
}

// amd64FloatKernels adapts one width's float assembly to the Impl
// signatures: argument checks, empty shapes, and the columns past the last
// step of 16 (added in Go, in the same order as the generic kernels).
type amd64FloatKernels struct {
	f16, bf16 func(dst *float32, w *uint16, stride int, x *float32, steps int, rows int)
	f32       func(dst *float32, w *float32, stride int, x *float32, steps int, rows int)
	f32x4     func(dst *float32, ldd int, w *float32, stride int, x *float32, ldx int, steps int, rows int)
	// weighted sums for 1, 2 and 4 weight vectors
	ws32 [3]wsumKernel[float32]
	ws16 [3]wsumKernel[uint16]
}

// wsumPart splits nq weight vectors into the kernels' 4, 2 and 1: it
// returns the kernel index (0: one, 1: two, 2: four) and count of the
// first part.
func wsumPart(nq int) (int, int) {
	switch {
	case nq >= 4:
		return 2, 4
	case nq >= 2:
		return 1, 2
	}
	return 0, 1
}

// weightedSumF32 is WeightedSumF32 (arguments checked by it): the whole
// blocks of 16 columns in the assembly (wsumBlocks), the rest in the generic
// loop.
func (k amd64FloatKernels) weightedSumF32(dst []float32, ldd, cols int, v []float32, ldb int, w []float32, ldw, n, nq int) {
	if main := wsumBlocks(k.ws32, 4, dst, ldd, cols, v, ldb, w, ldw, n, nq); main < cols {
		genericWeightedSumF32(dst, ldd, main, cols, v, ldb, w, ldw, n, nq)
	}
}

func (k amd64FloatKernels) weightedSumF16(dst []float32, ldd, cols int, v []uint16, ldb int, w []float32, ldw, n, nq int) {
	if main := wsumBlocks(k.ws16, 2, dst, ldd, cols, v, ldb, w, ldw, n, nq); main < cols {
		genericWeightedSumF16(dst, ldd, main, cols, v, ldb, w, ldw, n, nq)
	}
}

// wsumKernel is a weighted-sum kernel of the assembly (strides in bytes).
type wsumKernel[T float32 | uint16] func(dst *float32, ldd int, v *T, ldb int, w *float32, ldw int, n int, steps int)

// wsumBlocks runs the kernels ks (for 1, 2 and 4 vectors; values of size
// bytes) over the whole blocks of 16 columns, in parts of 4, 2 and 1 of
// the nq vectors, and returns the number of columns done.
func wsumBlocks[T float32 | uint16](ks [3]wsumKernel[T], size int,
	dst []float32, ldd, cols int, v []T, ldb int, w []float32, ldw, n, nq int) int {
	steps := cols / FloatLanes
	for q := 0; q < nq && steps > 0; {
		i, m := wsumPart(nq - q)
		if n == 0 {
			for j := q; j < q+m; j++ {
				clear(dst[j*ldd : j*ldd+steps*FloatLanes])
			}
		} else {
			ks[i](&dst[q*ldd], 4*ldd, &v[0], size*ldb, &w[q*ldw], 4*ldw, n, steps)
		}
		q += m
	}
	return steps * FloatLanes
}

// matVecF32x4 is matVecF32 for four inputs (see MatVecF32x4, which checks
// the arguments): the same whole steps in the assembly, the same tails.
func (k amd64FloatKernels) matVecF32x4(dst []float32, ldd, rows int, w []float32, stride int, x []float32, ldx, n int) {
	if rows == 0 {
		return
	}
	steps := n / FloatLanes
	main := steps * FloatLanes
	if steps == 0 {
		for q := 0; q < 4; q++ {
			clear(dst[q*ldd : q*ldd+rows])
		}
	} else {
		k.f32x4(&dst[0], 4*ldd, &w[0], 4*stride, &x[0], 4*ldx, steps, rows)
	}
	if main == n {
		return
	}
	for q := 0; q < 4; q++ {
		d, xq := dst[q*ldd:q*ldd+rows], x[q*ldx+main:q*ldx+n]
		for r := range d {
			d[r] = tailF32(d[r], w[r*stride+main:r*stride+n], xq)
		}
	}
}

func (k amd64FloatKernels) matVecF16(dst []float32, w []uint16, stride int, x []float32) {
	checkFloatArgs("MatVecF16", len(dst), len(w), stride, len(x))
	main := k.main16(dst, w, stride, x, k.f16)
	if main == len(x) {
		return
	}
	for r := range dst {
		dst[r] = tailF16(dst[r], w[r*stride+main:r*stride+len(x)], x[main:])
	}
}

func (k amd64FloatKernels) matVecBF16(dst []float32, w []uint16, stride int, x []float32) {
	checkFloatArgs("MatVecBF16", len(dst), len(w), stride, len(x))
	main := k.main16(dst, w, stride, x, k.bf16)
	if main == len(x) {
		return
	}
	for r := range dst {
		dst[r] = tailBF16(dst[r], w[r*stride+main:r*stride+len(x)], x[main:])
	}
}

// main16 runs f on the whole steps of 16 columns (or clears dst when there
// are none) and returns the number of columns covered.
func (k amd64FloatKernels) main16(dst []float32, w []uint16, stride int, x []float32,
	f func(dst *float32, w *uint16, stride int, x *float32, steps int, rows int)) int {
	steps := len(x) / FloatLanes
	if len(dst) == 0 || steps == 0 {
		clear(dst)
		return 0
	}
	f(&dst[0], &w[0], 2*stride, &x[0], steps, len(dst))
	return steps * FloatLanes
}

func (k amd64FloatKernels) matVecF32(dst []float32, w []float32, stride int, x []float32) {
	checkFloatArgs("MatVecF32", len(dst), len(w), stride, len(x))
	steps := len(x) / FloatLanes
	main := steps * FloatLanes
	if len(dst) == 0 || steps == 0 {
		clear(dst)
		main = 0
	} else {
		k.f32(&dst[0], &w[0], 4*stride, &x[0], steps, len(dst))
	}
	if main == len(x) {
		return
	}
	for r := range dst {
		dst[r] = tailF32(dst[r], w[r*stride+main:r*stride+len(x)], x[main:])
	}
}

// readStreams are the read loops MeasureReadBandwidth times (the best one
// counts): eight streams prefetching 1 KiB ahead, four 2.5 KiB ahead, eight
// without prefetch and eight 2 KiB ahead, with the widest loads the CPU
// has.
var readStreams = func() []func([]byte) {
	pick := func(z, y func(*byte, int)) func([]byte) {
		return func(p []byte) {
			if len(p) < 512 {
				return
			}
			n := len(p) &^ 511
			if hasAVX512VNNI {
				z(&p[0], n)
			} else {
				y(&p[0], n)
			}
		}
	}
	if !hasAVX2 {
		return []func([]byte){readStreamGo}
	}
	return []func([]byte){pick(readStream512, readStream256), pick(readStream512x4, readStream256x4), pick(readStream512np, readStream256np),
		pick(readStream512p2, readStream256p2)}
}()

// The element loops of float.go and argmax.go (normVec).
func sumSquaresVec(x *float32, n int, s *[8]float64)              { sumSquaresAVX512(x, n, s) }
func scaleVec(dst, x *float32, n int, inv float32)                { scaleAVX512(dst, x, n, inv) }
func scaleWeightVec(dst, x, w *float32, n int, inv float32)       { scaleWeightAVX512(dst, x, w, n, inv) }
func sumLanesVec(x *float32, n int, s *[8]float64)                { sumLanesAVX512(x, n, s) }
func maxVec(x *float32, n int) float32                            { return maxAVX512(x, n) }
func expScaledVec(dst, x *float32, n int, m, scale float32)       { expScaledAVX512(dst, x, n, m, scale) }
func reluSqGateVec(dst, gate, up *float32, n int)                 { reluSqGateAVX512(dst, gate, up, n) }
func siluVec(dst, x *float32, n int)                              { siluAVX512(dst, x, n) }
func siluGateVec(dst, gate, up *float32, n int)                   { siluGateAVX512(dst, gate, up, n) }
func mlgruVec(h, ig, fg *float32, n int)                          { mlgruAVX512(h, ig, fg, n) }
func mlgruLBVec(h, ig, fg, lb *float32, n int)                    { mlgruLBAVX512(h, ig, fg, lb, n) }
func argmaxVec(x *float32, n int, bv *[64]float32, bi *[64]int32) { argmaxAVX512(x, n, bv, bi) }
func addToVec(dst, x *float32, n int)                             { addToAVX512(dst, x, n) }
func ropeVec(x, cos, sin *float32, h, n int)                      { ropeAVX512(x, cos, sin, h, n) }
