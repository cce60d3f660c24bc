package sdk

import (
	"fmt"
	"unsafe"

	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/simd"
)

// linearKind is how a linear layer's weights are stored and multiplied.
type linearKind int

const (
	linT2    linearKind = iota // ternary i2b128: MatVecT2 (decode) / MatMulT2 (prefill)
	linT16                     // ternary t5b160: MatVecT16
	linI8                      // int8 with per-row scales: MatVecI8 (W8A8)
	linDense                   // float32: MatVecF32
	linF16                     // IEEE binary16: MatVecF16
	linBF16                    // bfloat16: MatVecBF16
)

// float reports whether the kind is a float matrix (an output head or an
// embedding), multiplied in float32 without quantizing its input.
func (k linearKind) float() bool { return k == linDense || k == linF16 || k == linBF16 }

// linear is one projection y = W·x of Out×In weights, read in place from
// the mapped file. For the ternary and int8 kinds the input is quantized
// per token to int8 with the absmax scheme of BitNet b1.58
// (architectures.md §1.3: s_x = 127/max|x|, round half to even), the dot
// products are exact integers, and
//
//	y[o] = dot[o] · scale[o] / s_x
//
// with scale the per-tensor γ (ternary) or the row scale (int8). With norm
// set it is a FusedBitLinear (architectures.md §2.4): x is first
// RMS-normalized with its own weight and eps.
type linear struct {
	name    string // tensor name without ".weight", as in the reference traces
	kind    linearKind
	out, in int
	padded  int // activation length the kernel takes (in rounded up to its block)
	w       []byte
	stride  int
	w8      []int8
	wf      []float32 // linDense
	wh      []uint16  // linF16, linBF16: the raw bits
	scales  []float32 // 1 element (ternary) or out elements (int8)
	norm    []float32
	eps     float32
}

// bytes is the size of the weights one pass reads.
func (l *linear) bytes() int64 {
	switch l.kind {
	case linT2, linT16:
		return int64(l.out) * int64(l.stride)
	case linI8:
		return int64(len(l.w8)) + 4*int64(l.out)
	case linF16, linBF16:
		return 2 * int64(len(l.wh))
	}
	return 4 * int64(len(l.wf))
}

// loadLinear views tensor name+".weight" as an out×in matrix. A ternary
// matrix's scale γ is the tensor's Scale; int8 rows carry their scales; a
// dense matrix (f32, f16, bf16) is allowed only when dense is true
// (output heads and embeddings, never block projections). Every kind is
// read in place from the mapping: f16 and bf16 are widened in registers by
// the kernels, row by row for an embedding lookup, never copied whole.
func (ld *loader) linear(name string, out, in int, dense bool) (*linear, error) {
	wn := name + ".weight"
	t, err := ld.tensor(wn)
	if err != nil {
		return nil, err
	}
	if !shapeIs(t, out, in) {
		return nil, ld.errorf("tensor %q has shape %v, want [%d %d]", wn, t.Shape, out, in)
	}
	l := &linear{name: name, out: out, in: in}
	switch t.DType {
	case mmapmodel.T2, mmapmodel.T16:
		v, err := mmapmodel.NewTernaryMatrix(t)
		if err != nil {
			return nil, err
		}
		ld.m.releases = append(ld.m.releases, v.Release)
		if !(t.Scale > 0) {
			return nil, ld.errorf("tensor %q has scale %v, want a positive per-tensor γ", wn, t.Scale)
		}
		l.kind, l.w, l.stride, l.scales = linT2, v.Data(), int(v.RowBytes), []float32{t.Scale}
		l.padded = simd.PaddedLen(in, simd.BlockI2B128)
		if t.DType == mmapmodel.T16 {
			l.kind, l.padded = linT16, simd.PaddedLen(in, simd.BlockT5B160)
		}
	case mmapmodel.I8:
		v, err := mmapmodel.NewInt8Matrix(t)
		if err != nil {
			return nil, err
		}
		ld.m.releases = append(ld.m.releases, v.Release)
		l.kind, l.w8, l.scales, l.padded = linI8, v.Data(), v.Scales(), in
	case mmapmodel.F32, mmapmodel.F16, mmapmodel.BF16:
		if !dense {
			return nil, ld.errorf("tensor %q has dtype %s; a block projection must be ternary (t2, t1.6) or i8", wn, t.DType)
		}
		l.padded = in
		n := out * in
		switch t.DType {
		case mmapmodel.F32:
			wf, err := ld.floats(t)
			if err != nil {
				return nil, err
			}
			l.kind, l.wf = linDense, wf
		case mmapmodel.F16:
			wh, err := halfView[mmapmodel.Float16](ld, t)
			if err != nil {
				return nil, err
			}
			l.kind, l.wh = linF16, wh
		default:
			wh, err := halfView[mmapmodel.BFloat16](ld, t)
			if err != nil {
				return nil, err
			}
			l.kind, l.wh = linBF16, wh
		}
		if len(l.wf)+len(l.wh) < n {
			return nil, ld.errorf("tensor %q holds %d values, want %d", wn, len(l.wf)+len(l.wh), n)
		}
	default:
		return nil, ld.errorf("tensor %q has dtype %s, not a matrix dtype", wn, t.DType)
	}
	return l, nil
}

// halfView views a 16-bit float tensor in place as its raw bits; the view
// is released with the model.
func halfView[T mmapmodel.Float16 | mmapmodel.BFloat16](ld *loader, t *mmapmodel.Tensor) ([]uint16, error) {
	v, err := mmapmodel.NewView[T](t)
	if err != nil {
		return nil, err
	}
	ld.m.releases = append(ld.m.releases, v.Release)
	d := v.Data()
	if len(d) == 0 {
		return nil, nil
	}
	// Float16 and BFloat16 are uint16 underneath: same size and alignment.
	return unsafe.Slice((*uint16)(unsafe.Pointer(&d[0])), len(d)), nil
}

// withNorm makes l a FusedBitLinear with the RMSNorm weight name+".norm.weight".
func (ld *loader) withNorm(l *linear, eps float64) error {
	w, err := ld.vector(l.name+".norm.weight", l.in)
	if err != nil {
		return err
	}
	l.norm, l.eps = w, float32(eps)
	return nil
}

// scratch holds every buffer a forward pass needs, sized once for the
// widest layer and the largest token batch, so the per-token path does not
// allocate.
type scratch struct {
	xq     []int8        // [batch × maxPadded] quantized activations
	xs     []float32     // [batch] activation scales
	sums   []int32       // [batch] Σ xq
	acc    []int32       // [batch × maxOut] exact dot products
	normed []float32     // [batch × maxIn] FusedBitLinear norm output
	mats   [3]simd.T2Mat // the matrices of one applyGroup or applyEach job
	inW    int           // maxIn: the row stride of normed in applyEach
	padW   int           // maxPadded: the row stride of xq in applyEach
	hint   [3]simd.T2Mat // the matrices of the next job (prefetch)
	tok    tokJob        // the per-token job of run.perToken
	tokFn  func(worker, lo, hi int)
}

type scratchSize struct{ batch, maxIn, maxPadded, maxOut int }

// addGroup makes room for the outputs of ls side by side (applyGroup).
func (z *scratchSize) addGroup(ls []*linear) {
	n := 0
	for _, l := range ls {
		n += l.out
	}
	z.maxOut = max(z.maxOut, n)
}

func (z *scratchSize) add(l *linear) {
	z.maxIn = max(z.maxIn, l.in)
	z.maxPadded = max(z.maxPadded, l.padded)
	z.maxOut = max(z.maxOut, l.out)
}

func newScratch(z scratchSize) *scratch {
	sc := &scratch{
		xq:     make([]int8, z.batch*z.maxPadded),
		xs:     make([]float32, z.batch),
		sums:   make([]int32, z.batch),
		acc:    make([]int32, z.batch*z.maxOut),
		normed: make([]float32, z.batch*z.maxIn),
		inW:    z.maxIn,
		padW:   z.maxPadded,
	}
	sc.tokFn = sc.tok.run // bound once: a pool job per call allocates nothing
	return sc
}

// tracer receives the int8 activations and exact dot products of every
// quantized projection (tests compare them with the reference's).
type tracer func(name string, pos int, xq []int8, dot []int32)

// run is what one forward pass carries: the model, its scratch and the
// position of the first token of the batch.
type run struct {
	m     *Model
	sc    *scratch
	pos0  int
	trace tracer
}

// apply sets y[t·ldy : t·ldy+out] = l(x[t·ldx : t·ldx+in]) for t < n.
// Several tokens (prefill) go through MatMulT2, which reads the weights
// once for all of them; one token (decode) through MatVecT2.
func (l *linear) apply(r *run, y []float32, ldy int, x []float32, ldx int, n int) {
	sc := r.sc
	if l.norm != nil {
		// architectures.md §2.4: x̂ = x / sqrt(mean(x²) + eps) · w_norm.
		r.perToken(n, tokJob{op: tokNorm, dst: sc.normed, ldd: l.in, x: x, ldx: ldx, w: l.in, weight: l.norm, eps: l.eps})
		x, ldx = sc.normed, l.in
	}
	if l.kind.float() {
		pool, impl := r.m.pool, r.m.impl
		for t := 0; t < n; t++ {
			yt, xt := y[t*ldy:t*ldy+l.out], x[t*ldx:t*ldx+l.in]
			switch l.kind {
			case linF16:
				pool.MatVecF16(impl, yt, l.wh, l.in, xt)
			case linBF16:
				pool.MatVecBF16(impl, yt, l.wh, l.in, xt)
			default:
				pool.MatVecF32(impl, yt, l.wf, l.in, xt)
			}
		}
		return
	}
	l.quantize(r, x, ldx, n)
	l.multiply(r, y, ldy, n)
}

// quantize sets the scratch's int8 activations, scales and sums of the n
// inputs x[t·ldx : t·ldx+in] (already normalized for a FusedBitLinear).
func (l *linear) quantize(r *run, x []float32, ldx int, n int) {
	sc := r.sc
	r.perToken(n, tokJob{op: tokQuantize, xq: sc.xq, p: l.padded, xs: sc.xs, sums: sc.sums, x: x, ldx: ldx, w: l.in})
}

// applyGroup sets ys[i][t·ldys[i] : …+out] = ls[i](x) for projections of
// one input (q, k, v; gate, up). One decoded token through 2-bit matrices
// that share their quantized input (sharesInput) is a single pool job, the
// rows of all of them split between the threads at once
// (simd.Pool.MatVecT2Batch); otherwise the first is applied and the others
// reuse its quantized input where they can. The results are the same
// either way.
func applyGroup(r *run, ls []*linear, ys [][]float32, ldys []int, x []float32, ldx int, n int) {
	batch := n == 1 && len(ls) <= len(r.sc.mats)
	for i, l := range ls {
		batch = batch && l.kind == linT2 && (i == 0 || l.sharesInput(ls[0]))
	}
	if !batch {
		ls[0].apply(r, ys[0], ldys[0], x, ldx, n)
		for i := 1; i < len(ls); i++ {
			ls[i].applyShared(r, ls[0], ys[i], ldys[i], x, ldx, n)
		}
		return
	}
	applyBatch(r, ls, ys, x, ldx, 0)
}

// applyBatch runs one token through ls (2-bit matrices sharing one input,
// as applyGroup checks) as one pool job: MatVecT2Batch, or with act
// MatVecT2Gated over a gate and an up matrix (ys[0] then holds the product).
func applyBatch(r *run, ls []*linear, ys [][]float32, x []float32, ldx int, act simd.Gate) {
	sc := r.sc
	if ls[0].norm != nil {
		simd.RMSNorm(sc.normed[:ls[0].in], x[:ls[0].in], ls[0].norm, ls[0].eps)
		x = sc.normed
	}
	ls[0].quantize(r, x, ldx, 1)
	p, off := ls[0].padded, 0
	for i, l := range ls {
		// Each thread dequantizes the rows it computes (simd.Dequant).
		dq := simd.Dequant{Y: ys[i][:l.out], Scales: l.scales, XScale: sc.xs[0]}
		sc.mats[i] = simd.T2Mat{Dst: sc.acc[off : off+l.out], W: l.w, Stride: l.stride, Dequant: dq}
		off += l.out
	}
	if act != 0 {
		r.m.pool.MatVecT2Gated(r.m.impl, sc.mats[:len(ls)], act, sc.xq[:p], sc.sums[0])
	} else {
		r.m.pool.MatVecT2Batch(r.m.impl, sc.mats[:len(ls)], sc.xq[:p], sc.sums[0])
	}
	if r.trace != nil {
		for i, l := range ls {
			r.trace(l.name, r.pos0, sc.xq[:l.in], sc.mats[i].Dst)
		}
	}
	clear(sc.mats[:])
}

// applyEach sets ys[i] = ls[i](x) for one token through 2-bit matrices
// that each normalize and quantize x on their own (FusedBitLinear: the
// MatMul-free mixer's i, f and g projections), as one pool job
// (simd.Pool.MatVecT2Batch, an input per matrix), so that the pool
// synchronizes once instead of once per matrix. The values are those of
// ls[i].apply one by one. It reports false, doing nothing, for more than
// one token, other kinds of matrix or too little scratch (a prefill chunk
// under len(ls) tokens); the caller then applies them one by one.
func applyEach(r *run, ls []*linear, ys [][]float32, x []float32, n int) bool {
	sc := r.sc
	if n != 1 || len(ls) > len(sc.mats) || len(ls) > len(sc.xs) {
		return false
	}
	for _, l := range ls {
		if l.kind != linT2 {
			return false
		}
	}
	off := 0
	for i, l := range ls {
		in := x[:l.in]
		if l.norm != nil {
			nd := sc.normed[i*sc.inW : i*sc.inW+l.in]
			simd.RMSNorm(nd, in, l.norm, l.eps)
			in = nd
		}
		xq := sc.xq[i*sc.padW : i*sc.padW+l.padded]
		sc.xs[i], sc.sums[i] = simd.QuantizeActivations(xq, in)
		dq := simd.Dequant{Y: ys[i][:l.out], Scales: l.scales, XScale: sc.xs[i]}
		sc.mats[i] = simd.T2Mat{Dst: sc.acc[off : off+l.out], W: l.w, Stride: l.stride, Dequant: dq, X: xq, XSum: sc.sums[i]}
		off += l.out
	}
	r.m.pool.MatVecT2Batch(r.m.impl, sc.mats[:len(ls)], nil, 0)
	if r.trace != nil {
		for i, l := range ls {
			r.trace(l.name, r.pos0, sc.mats[i].X[:l.in], sc.mats[i].Dst)
		}
	}
	clear(sc.mats[:])
	return true
}

// gatedOK reports whether a one-token pass can run gate and up (same
// input) as one simd.Pool.MatVecT2Gated job with the product applied.
func gatedOK(r *run, gate, up *linear, n int) bool {
	return n == 1 && gate.kind == linT2 && up.kind == linT2 && up.sharesInput(gate) && gate.out == up.out &&
		r.m.pool.Threads() > 1 && len(r.sc.mats) >= 2
}

// applyGated sets g = act(gate(x))·up(x) and u = up(x) for one token
// (gatedOK): each pool thread computes its rows of both projections and
// their product, the values of applyGroup followed by act.
func applyGated(r *run, gate, up *linear, g, u []float32, x []float32, act simd.Gate) {
	applyBatch(r, []*linear{gate, up}, [][]float32{g, u}, x, gate.in, act)
}

// prefetch tells the pool that the next kernel call of a one-token pass
// reads ls (one matrix, or the group of an applyGroup), so that waiting
// workers load the start of their rows while the caller normalizes and
// quantizes the input (simd.Pool.Prefetch). Only 2-bit matrices.
func (r *run) prefetch(n int, ls ...*linear) { r.hint(n, false, ls) }

// hint is prefetch for the next job over ls, a MatVecT2Gated job when
// gated (applyGated).
func (r *run) hint(n int, gated bool, ls []*linear) {
	if n != 1 || len(ls) > len(r.sc.hint) {
		return
	}
	for i, l := range ls {
		if l.kind != linT2 {
			return
		}
		r.sc.hint[i] = simd.T2Mat{Dst: r.sc.acc[:l.out], W: l.w, Stride: l.stride}
	}
	if gated {
		r.m.pool.PrefetchGated(r.sc.hint[:len(ls)])
	} else {
		r.m.pool.Prefetch(r.sc.hint[:len(ls)])
	}
	clear(r.sc.hint[:])
}

// sharesInput reports whether l can reuse the int8 activations that prev
// just quantized from the same input (§7 item 3: q/k/v and gate/up quantize
// one input): same width and padding, no norm of its own.
func (l *linear) sharesInput(prev *linear) bool {
	return l.norm == nil && prev.norm == nil && !l.kind.float() && !prev.kind.float() &&
		l.in == prev.in && l.padded == prev.padded
}

// applyShared is apply on the input prev just quantized (see sharesInput).
func (l *linear) applyShared(r *run, prev *linear, y []float32, ldy int, x []float32, ldx int, n int) {
	if !l.sharesInput(prev) {
		l.apply(r, y, ldy, x, ldx, n)
		return
	}
	l.multiply(r, y, ldy, n)
}

// multiply runs the kernel on the quantized activations in the scratch
// and dequantizes into y.
func (l *linear) multiply(r *run, y []float32, ldy int, n int) {
	sc, p := r.sc, l.padded
	pool, impl, acc := r.m.pool, r.m.impl, sc.acc
	// Through MatVecT2, MatMulT2 or MatVecI8 each thread dequantizes the
	// results it computes (simd.Dequant, simd.MatDequant); otherwise
	// Dequantize afterwards.
	dq := simd.Dequant{Y: y[:l.out], Scales: l.scales, XScale: sc.xs[0]}
	done := false
	switch l.kind {
	case linT2:
		if n == 1 {
			pool.MatVecT2Dequant(impl, dq, acc[:l.out], l.w, l.stride, sc.xq[:p], sc.sums[0])
			done = true
		} else {
			mdq := simd.MatDequant{Y: y, LDY: ldy, Scales: l.scales, XScales: sc.xs[:n]}
			pool.MatMulT2Dequant(impl, mdq, acc, l.out, l.w, l.stride, l.out, sc.xq, p, p, sc.sums, n)
			done = true
		}
	case linT16:
		for t := 0; t < n; t++ {
			pool.MatVecT16(impl, acc[t*l.out:(t+1)*l.out], l.w, l.stride, sc.xq[t*p:(t+1)*p], sc.sums[t])
		}
	case linI8:
		if n == 1 {
			pool.MatVecI8Dequant(impl, dq, acc[:l.out], l.w8, l.in, sc.xq[:l.in])
			done = true
			break
		}
		for t := 0; t < n; t++ {
			pool.MatVecI8(impl, acc[t*l.out:(t+1)*l.out], l.w8, l.in, sc.xq[t*p:t*p+l.in])
		}
	default:
		panic(fmt.Sprintf("sdk: linear %s: kind %d", l.name, l.kind))
	}
	for t := 0; t < n; t++ {
		a := acc[t*l.out : (t+1)*l.out]
		if r.trace != nil {
			r.trace(l.name, r.pos0+t, sc.xq[t*p:t*p+l.in], a)
		}
		if !done {
			simd.Dequantize(y[t*ldy:t*ldy+l.out], a, l.scales, sc.xs[t])
		}
	}
}
