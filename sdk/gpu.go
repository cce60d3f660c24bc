package sdk

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"github.com/speakez/barewire/jetson"
	"github.com/speakez/barewire/jetson/cuda"
	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/simd"
)

// The CUDA backend (WithBackend("cuda")) runs a BitNet model's whole
// forward pass on one NVIDIA GPU through package jetson: the model file is
// placed once (registered and read in place on integrated GPUs, copied to
// device memory on discrete ones: jetson.Backend.PlaceWeights), and each
// session allocates its KV cache and activations in device memory when it
// is made. Per token the host gathers the embedding rows from the mapping
// and copies them in; every layer then runs as kernels (RMSNorm, int8
// quantization, ternary matrix × int8 vector or matrix, dequantization,
// RoPE, attention, gated FFN, residual adds), and the logits are copied
// back into the session's host slice, so sampling and Generate are the
// CPU's.
//
// Exactness against the CPU path: quantization, the integer dot products
// and their dequantization are the same operations, so equal inputs give
// equal bits. The float parts differ only in order or precision: RMSNorm
// sums squares in float32 on the GPU (float64 on the CPU); softmax and SiLU
// use ex2.approx and a float32 sum (math.Exp in float64 and a float64 sum
// on the CPU); the attention dot products and weighted sums, and the f16,
// bf16 and f32 heads, are added in the order of simd's generic tier (the
// CPU's AVX2 and AVX-512 tiers fuse multiply and add). A quantized
// activation next to a rounding boundary can therefore land one step away,
// which moves the logits by a small amount (the tests bound it).
//
// With WithGPUSplit, a one-token call splits each ternary matrix by rows:
// the GPU computes the first gpuRows rows while the model's CPU worker pool
// computes the rest from the mapped file, from a host copy of the quantized
// activations. Both write into one int32 vector that Dequantize reads: on an
// integrated GPU it is mapped pinned memory (the GPU and the CPU write their
// rows in place, no copy); on a discrete GPU the GPU writes the session's
// device accumulator and the CPU's rows are copied in after it. The dot
// products are exact integers on both sides, so the logits do not depend on
// the split.

// gpuLinear is one projection's weights in device memory or registered host
// memory, with its scales in the model's constant buffer.
type gpuLinear struct {
	name    string
	kind    linearKind
	out, in int
	w       cuda.DevicePtr
	stride  int // bytes between rows (t2), elements (i8 and float kinds)
	blocks  int // t2: 128-weight blocks per row
	scales  cuda.DevicePtr
	nscale  int
	ftype   jetson.FloatType
	// t2 split (WithGPUSplit): the GPU computes rows [0, gpuRows) of a
	// decoded token, the CPU pool the rest from cpu's mapped weights; src
	// and off locate the matrix for calibration.
	gpuRows int
	cpu     *linear
	src     *jetson.Weights
	off     int
}

type gpuLayer struct {
	attnNorm, attnSub, ffnNorm, ffnSub cuda.DevicePtr // attnSub, ffnSub 0 without sub-norms
	q, k, v, o, gate, up, down         gpuLinear
	heads, kvHeads, headDim, ffn       int
	silu                               bool
	eps                                float32
}

// gpuModel is a BitNet graph placed on a GPU.
type gpuModel struct {
	b     *jetson.Backend
	ownsB bool
	// override is where the weights go (WithGPUWeights, else the backend's).
	override jetson.Override
	maps     []*jetson.MappedFile
	weights  []*jetson.Weights
	consts   jetson.Buffer // norm weights and scales
	layers   []gpuLayer
	norm     cuda.DevicePtr
	head     gpuLinear
	ldq      int // bytes per token of quantized activations
	maxOut   int
	maxW     int

	// WithGPUSplit: the model's CPU pool and kernels, the GPU's share in
	// use, whether any matrix is split, and the calibration behind an
	// automatic share.
	pool      *simd.Pool
	impl      simd.Impl
	splitFrac float64
	split     bool
	cal       *jetson.Calibration
	calOn     string

	mu       sync.Mutex
	sessions map[*gpuSession]struct{}
}

// WithCUDABackend runs the model on b, a CUDA backend the caller opened
// (jetson.Open) and keeps: the caller closes it after the model. For
// programs that already hold the GPU (the device check), and for tests with
// the fake driver of jetson/jetsontest; WithBackend("cuda") opens a backend
// of its own.
func WithCUDABackend(b *jetson.Backend) Option {
	return func(c *openConfig) error {
		if b == nil {
			return errors.New("WithCUDABackend: nil backend")
		}
		c.backend, c.gpu = BackendCUDA, b
		return nil
	}
}

// WithGPUWeights overrides, for this model, where the CUDA backend puts the
// weights (jetson.ForceInPlace, jetson.ForceDeviceCopy, ...; jetson.Auto
// decides from the device's attributes). By default the backend's own
// setting counts (BAREWIRE_GPU_WEIGHTS, see docs/JETSON.md).
func WithGPUWeights(o jetson.Override) Option {
	return func(c *openConfig) error { c.gpuWeights, c.gpuWeightsSet = o, true; return nil }
}

// gpuUnavailable is the one-line error of a model that cannot run on the
// CUDA backend.
func gpuUnavailable(format string, args ...any) error {
	return fmt.Errorf("backend cuda: %w: %s", ErrBackendUnavailable, fmt.Sprintf(format, args...))
}

// openGPU places the model on the GPU of cfg (opening the driver unless a
// Backend was given).
func (m *Model) openGPU(cfg *openConfig) error {
	if m.arch != ArchBitNet {
		return gpuUnavailable("the %s architecture runs only on the CPU backend (use --backend cpu)", m.arch)
	}
	b, owns := cfg.gpu, false
	if b == nil {
		var err error
		if b, err = jetson.Open(jetson.Options{}); err != nil {
			return fmt.Errorf("backend cuda: %w (%w)", ErrBackendUnavailable, err)
		}
		owns = true
	}
	gm := &gpuModel{b: b, ownsB: owns, sessions: map[*gpuSession]struct{}{}, pool: m.pool, impl: m.impl, override: b.Override()}
	if cfg.gpuWeightsSet {
		gm.override = cfg.gpuWeights
	}
	if err := gm.load(m); err != nil {
		return errors.Join(err, gm.close())
	}
	if err := gm.setSplit(cfg.gpuSplit); err != nil {
		return errors.Join(err, gm.close())
	}
	m.gpu = gm
	return nil
}

// GPUPolicy says where the GPU backend put the model's weights and why
// (placement, device, memory model of the weights and of sessions), for
// logs and `edge-agent run`/`bench`; "" on the CPU backend.
func (m *Model) GPUPolicy() string {
	if m.gpu == nil || len(m.gpu.weights) == 0 {
		return ""
	}
	p := m.gpu.weights[0].Policy
	return fmt.Sprintf("%s (weights %s, sessions %s); %s", p.Reason, p.Model, p.Session(), m.gpu.splitText())
}

// GPUSplit is the share of each ternary matrix's rows the GPU computes for
// a decoded token, the CPU pool computing the rest (WithGPUSplit; the
// measured one with GPUSplitAuto): 1 when the CUDA backend keeps every row
// on the GPU, 0 on the CPU backend.
func (m *Model) GPUSplit() float64 {
	if m.gpu == nil {
		return 0
	}
	return m.gpu.splitFrac
}

// splitText describes the split for GPUPolicy.
func (gm *gpuModel) splitText() string {
	if !gm.split {
		t := "decode: every row on the GPU"
		if gm.cal != nil {
			t += fmt.Sprintf(" (calibrated on %s: GPU %v, CPU %v, split %v, GPU streamed %v)", gm.calOn, gm.cal.GPU, gm.cal.CPU, gm.cal.Split, gm.cal.Stream)
		}
		return t
	}
	t := fmt.Sprintf("decode: ternary rows split %.0f%% GPU, %.0f%% CPU (%d threads)", 100*gm.splitFrac, 100*(1-gm.splitFrac), gm.pool.Threads())
	if gm.cal != nil {
		t += fmt.Sprintf(", calibrated on %s: GPU %v, CPU %v, split %v, GPU streamed %v", gm.calOn, gm.cal.GPU, gm.cal.CPU, gm.cal.Split, gm.cal.Stream)
	}
	return t
}

// setSplit applies WithGPUSplit's fraction f: GPUSplitAuto calibrates on
// the largest ternary matrix (the one whose time the split matters most
// for), through a jetson.TensorParallel whose CPU side is the model's pool.
func (gm *gpuModel) setSplit(f float64) error {
	gm.splitFrac = 1
	if f == 0 {
		return nil
	}
	var lins []*gpuLinear
	for i := range gm.layers {
		L := &gm.layers[i]
		lins = append(lins, &L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down)
	}
	lins = append(lins, &gm.head)
	if f == GPUSplitAuto {
		var big *gpuLinear
		for _, l := range lins {
			if l.kind == linT2 && (big == nil || l.out*l.stride > big.out*big.stride) {
				big = l
			}
		}
		if big == nil {
			return nil
		}
		c := big.cpu
		tp, err := gm.b.NewTensorParallel(big.src, big.off, c.stride, c.out, c.padded, func(dst []int32, r0, r1 int, x []int8, xsum int32) {
			gm.pool.MatVecT2(gm.impl, dst, c.w[r0*c.stride:], c.stride, x, xsum)
		})
		if err != nil {
			return fmt.Errorf("backend cuda: calibrating the GPU split: %w", err)
		}
		// Any activations do: the time does not depend on their values.
		x := make([]int8, c.padded)
		var xsum int32
		for i := range x {
			x[i] = int8(i*37%255 - 127)
			xsum += int32(x[i])
		}
		cal, err := tp.Calibrate(x, xsum, 5)
		if err = errors.Join(err, tp.Close()); err != nil {
			return fmt.Errorf("backend cuda: calibrating the GPU split: %w", err)
		}
		gm.cal, gm.calOn, f = &cal, big.name, cal.GPUFraction
	}
	gm.splitFrac = f
	for _, l := range lins {
		if l.kind == linT2 {
			l.gpuRows = jetson.SplitRows(l.out, f)
			gm.split = gm.split || l.gpuRows < l.out
		}
	}
	return nil
}

func (gm *gpuModel) load(m *Model) error {
	g := m.lm
	byFile := map[*mmapmodel.File]*jetson.Weights{}
	for _, f := range m.file.Files() {
		mf, err := jetson.MapFile(f.Path)
		if err != nil {
			return fmt.Errorf("backend cuda: %w", err)
		}
		w, err := gm.b.PlaceWeightsWith(mf, gm.override)
		if err != nil {
			return errors.Join(fmt.Errorf("backend cuda: %s: %w", f.Path, err), mf.Close())
		}
		gm.weights = append(gm.weights, w)
		if w.Policy.Placement == jetson.DeviceCopy {
			// The copy does not need the mapping any more.
			if err := mf.Close(); err != nil {
				return err
			}
		} else {
			gm.maps = append(gm.maps, mf)
		}
		byFile[f] = w
	}

	// Float vectors and scales go to one constant buffer; offsets are in
	// floats, each vector starting on a 256-byte boundary.
	var host []float32
	type fixup struct {
		dst *cuda.DevicePtr
		off int
	}
	var fix []fixup
	put := func(dst *cuda.DevicePtr, v []float32) {
		if v == nil {
			return
		}
		off := (len(host) + 63) &^ 63
		host = append(host, make([]float32, off-len(host))...)
		host = append(host, v...)
		fix = append(fix, fixup{dst, off})
	}
	lin := func(dst *gpuLinear, l *linear) error {
		t, err := m.file.Tensor(l.name + ".weight")
		if err != nil {
			return err
		}
		w := byFile[t.File()]
		if w == nil {
			return fmt.Errorf("backend cuda: tensor %q: its file was not placed", t.Name)
		}
		*dst = gpuLinear{name: l.name, kind: l.kind, out: l.out, in: l.in, w: w.At(int(t.Offset)), nscale: len(l.scales),
			gpuRows: l.out, cpu: l, src: w, off: int(t.Offset)}
		switch {
		case l.norm != nil:
			return gpuUnavailable("projection %q has its own norm (FusedBitLinear), which has no GPU path", l.name)
		case l.kind == linT2:
			dst.stride, dst.blocks = l.stride, l.padded/128
			gm.ldq = max(gm.ldq, l.padded)
		case l.kind == linI8:
			if l.in%4 != 0 {
				return gpuUnavailable("int8 matrix %q has rows of %d bytes; the GPU kernel needs a multiple of 4", l.name, l.in)
			}
			dst.stride = l.in
			gm.ldq = max(gm.ldq, l.padded)
		case l.kind.float():
			dst.stride, dst.ftype = l.in, map[linearKind]jetson.FloatType{linDense: jetson.F32, linF16: jetson.F16, linBF16: jetson.BF16}[l.kind]
		default:
			return gpuUnavailable("tensor %q is ternary t1.6 (t5b160), which has no GPU kernel yet (convert the model with t2 weights)", t.Name)
		}
		put(&dst.scales, l.scales)
		gm.maxOut = max(gm.maxOut, l.out)
		return nil
	}
	gm.maxW = g.maxW
	gm.layers = make([]gpuLayer, len(g.blocks))
	for i, blk := range g.blocks {
		a, ok1 := blk.mixer.(*attention)
		f, ok2 := blk.channel.(*ffn)
		if !ok1 || !ok2 {
			return gpuUnavailable("block %d is not attention + FFN", i)
		}
		L := &gm.layers[i]
		L.heads, L.kvHeads, L.headDim, L.ffn, L.silu, L.eps = a.heads, a.kvHeads, a.headDim, f.width, !f.relu2, a.eps
		put(&L.attnNorm, a.norm)
		put(&L.attnSub, a.subNorm)
		put(&L.ffnNorm, f.norm)
		put(&L.ffnSub, f.subNorm)
		for _, p := range []struct {
			dst *gpuLinear
			l   *linear
		}{{&L.q, a.q}, {&L.k, a.k}, {&L.v, a.v}, {&L.o, a.o}, {&L.gate, f.gate}, {&L.up, f.up}, {&L.down, f.down}} {
			if p.l.kind.float() {
				return gpuUnavailable("block projection %q is a float matrix", p.l.name)
			}
			if err := lin(p.dst, p.l); err != nil {
				return err
			}
		}
	}
	put(&gm.norm, g.head.norm)
	if err := lin(&gm.head, g.head.lin); err != nil {
		return err
	}
	gm.ldq = (max(gm.ldq, g.dim) + 127) &^ 127
	var err error
	if gm.consts, err = gm.b.Alloc(4 * max(len(host), 1)); err != nil {
		return err
	}
	if err := gm.b.Driver().MemcpyHtoD(gm.consts.Ptr, f32Bytes(host)); err != nil {
		return fmt.Errorf("backend cuda: copying norms and scales: %w", err)
	}
	for _, x := range fix {
		*x.dst = gm.consts.Ptr.Add(4 * x.off)
	}
	return nil
}

// close frees the sessions' device memory still held, the constants and
// the weights, and closes the Backend if the model opened it.
func (gm *gpuModel) close() error {
	gm.mu.Lock()
	var errs []error
	for s := range gm.sessions {
		errs = append(errs, s.freeLocked())
	}
	gm.mu.Unlock()
	errs = append(errs, gm.b.Free(gm.consts))
	gm.consts = jetson.Buffer{}
	for _, w := range gm.weights {
		errs = append(errs, w.Release())
	}
	for _, mf := range gm.maps {
		errs = append(errs, mf.Close())
	}
	gm.weights, gm.maps = nil, nil
	if gm.ownsB {
		errs = append(errs, gm.b.Close())
	}
	return errors.Join(errs...)
}

// gpuSession is a session's device memory: one allocation holding the KV
// caches of every layer, the activations of one prefill chunk, the RoPE
// tables and the logits.
type gpuSession struct {
	gm     *gpuModel
	buf    jetson.Buffer
	ctxLen int
	h      cuda.DevicePtr // [chunk × dim] residual stream
	xn     cuda.DevicePtr // [chunk × maxW] normed input of a projection
	ta, tb cuda.DevicePtr // [chunk × maxW] q/gate and attention/up
	kv     cuda.DevicePtr // [layers × 2 × ctxLen × kvWidth]
	q8     cuda.DevicePtr // [chunk × ldq] int8
	xs     cuda.DevicePtr // [chunk] float32 activation scales
	xsum   cuda.DevicePtr // [chunk] int32 sums of q8
	acc    cuda.DevicePtr // [chunk × maxOut] int32 dot products
	scores cuda.DevicePtr // [chunk × heads × ctxLen]
	cos    cuda.DevicePtr // [ctxLen × headDim/2]
	sin    cuda.DevicePtr
	logits cuda.DevicePtr // [vocab]

	// Split decode (gm.split): the host copy of the token's quantized
	// activations (valid until the next quantize), and the vector both sides
	// write: part on the host, partDev for the GPU and Dequantize (mapped
	// pinned memory when partMapped, else the device accumulator, part then
	// holding only the CPU's rows).
	splitting  bool // this call is one token
	xq         []int8
	xqValid    bool
	part       []int32
	partRaw    []byte
	partDev    cuda.DevicePtr
	partMapped bool
}

// newSession allocates s's device memory and copies in its RoPE
// tables (computed on the host, as for the CPU path).
func (gm *gpuModel) newSession(s *Session) (*gpuSession, error) {
	g := s.g
	kvw := g.kvWidth
	heads := 0
	for _, L := range gm.layers {
		heads = max(heads, L.heads)
	}
	gs := &gpuSession{gm: gm, ctxLen: s.ctxLen}
	size := 0
	carve := func(dst *cuda.DevicePtr, n int) func(base cuda.DevicePtr) {
		off := size
		size += (n + 255) &^ 255
		return func(base cuda.DevicePtr) { *dst = base.Add(off) }
	}
	c := s.chunk
	set := []func(cuda.DevicePtr){
		carve(&gs.h, 4*c*g.dim), carve(&gs.xn, 4*c*gm.maxW), carve(&gs.ta, 4*c*gm.maxW), carve(&gs.tb, 4*c*gm.maxW),
		carve(&gs.kv, 4*len(gm.layers)*2*s.ctxLen*kvw), carve(&gs.q8, c*gm.ldq), carve(&gs.xs, 4*c), carve(&gs.xsum, 4*c),
		carve(&gs.acc, 4*c*gm.maxOut), carve(&gs.scores, 4*c*heads*s.ctxLen),
		carve(&gs.cos, 4*len(s.ropeCos)), carve(&gs.sin, 4*len(s.ropeSin)), carve(&gs.logits, 4*g.vocab),
	}
	var err error
	if gs.buf, err = gm.b.Alloc(size); err != nil {
		return nil, fmt.Errorf("session on the GPU (%d bytes for a context of %d): %w", size, s.ctxLen, err)
	}
	for _, f := range set {
		f(gs.buf.Ptr)
	}
	drv := gm.b.Driver()
	if err := errors.Join(drv.MemcpyHtoD(gs.cos, f32Bytes(s.ropeCos)), drv.MemcpyHtoD(gs.sin, f32Bytes(s.ropeSin))); err != nil {
		return nil, errors.Join(err, gm.b.Free(gs.buf))
	}
	if gm.split {
		if err := gs.allocSplit(); err != nil {
			return nil, errors.Join(err, gm.b.Free(gs.buf))
		}
	}
	gm.mu.Lock()
	gm.sessions[gs] = struct{}{}
	gm.mu.Unlock()
	// A session has no Close: its device memory goes with it, or with the
	// model, whichever comes first.
	runtime.AddCleanup(s, func(gs *gpuSession) { gs.free() }, gs)
	return gs, nil
}

func (gs *gpuSession) free() error {
	gs.gm.mu.Lock()
	defer gs.gm.mu.Unlock()
	return gs.freeLocked()
}

func (gs *gpuSession) freeLocked() error {
	if _, ok := gs.gm.sessions[gs]; !ok {
		return nil
	}
	delete(gs.gm.sessions, gs)
	err := gs.gm.b.Free(gs.buf)
	gs.buf = jetson.Buffer{}
	if gs.partMapped {
		err = errors.Join(err, gs.gm.b.Driver().MemFreeHost(gs.partRaw))
	}
	gs.part, gs.partRaw, gs.partMapped = nil, nil, false
	return err
}

// allocSplit makes the host side of split decode, once per session.
// Mapped pinned memory only on an integrated GPU, where it is the same
// DRAM: uncached there, which is harmless for a vector written once and
// read once (CUDA for Tegra app note §4.1); a discrete GPU would read it
// over PCIe.
func (gs *gpuSession) allocSplit() error {
	gm := gs.gm
	gs.xq = make([]int8, gm.ldq)
	caps, d := gm.b.Capabilities(), gm.b.Driver()
	if caps.Integrated && caps.CanMapHostMemory {
		raw, err := d.MemAllocHost(4*gm.maxOut, cuda.HostAllocDeviceMap)
		if err != nil {
			return fmt.Errorf("session on the GPU: split result: %w", err)
		}
		p, err := d.HostDevicePointer(raw)
		if err != nil {
			return errors.Join(fmt.Errorf("session on the GPU: split result: %w", err), d.MemFreeHost(raw))
		}
		gs.partRaw, gs.partDev, gs.partMapped = raw, p, true
		gs.part = unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(raw))), gm.maxOut)
		return nil
	}
	gs.part, gs.partDev = make([]int32, gm.maxOut), gs.acc
	return nil
}

func f32Bytes(x []float32) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 4*len(x))
}

// forward is chunkForward on the GPU: n ≤ chunk tokens through every block,
// then the head for the positions whose logits are wanted. ctx is checked
// between blocks as on the CPU.
func (gs *gpuSession) forward(ctx context.Context, s *Session, tokens []int, each func(int, []float32), last bool) error {
	gm, g, n, d := gs.gm, s.g, len(tokens), s.g.dim
	if gs.buf.Ptr == 0 {
		return ErrClosed
	}
	h := s.h[:n*d]
	for t, tok := range tokens {
		g.embedRow(h[t*d:(t+1)*d], tok)
	}
	if err := gm.b.Driver().MemcpyHtoD(gs.h, f32Bytes(h)); err != nil {
		return fmt.Errorf("backend cuda: %w", err)
	}
	pos0 := s.pos
	gs.splitting = gm.split && n == 1
	for i := range gm.layers {
		if err := ctx.Err(); err != nil {
			if i > 0 {
				s.broken = true
			}
			return err
		}
		if err := gs.layer(i, pos0, n, g.eps); err != nil {
			s.broken = true
			return err
		}
	}
	s.pos += n
	for t := 0; t < n; t++ {
		if each == nil && !(last && t == n-1) {
			continue
		}
		if err := gs.head(t, d, g.eps, s.logits); err != nil {
			s.broken = true
			return err
		}
		if each != nil {
			each(s.pos-n+t, s.logits)
		}
	}
	return nil
}

// layer runs block i (attention, then FFN, each with its residual add) for
// n tokens at positions pos0.., in the CPU's order of operations (see
// attention.forward and ffn.forward).
func (gs *gpuSession) layer(i, pos0, n int, eps float32) error {
	gm, L := gs.gm, &gs.gm.layers[i]
	b := gm.b
	d := L.q.in
	qd, kvd, hd, half := L.heads*L.headDim, L.kvHeads*L.headDim, L.headDim, L.headDim/2
	kc := gs.kv.Add(4 * (2 * i) * gs.ctxLen * kvd)
	vc := gs.kv.Add(4 * (2*i + 1) * gs.ctxLen * kvd)
	kAt, vAt := kc.Add(4*pos0*kvd), vc.Add(4*pos0*kvd)
	cos, sin := gs.cos.Add(4*pos0*half), gs.sin.Add(4*pos0*half)
	scale := float32(1 / math.Sqrt(float64(hd)))

	// Attention: q, k and v share one quantized input; k and v are written
	// straight into the cache at their positions.
	wrap := func(err error) error { return fmt.Errorf("backend cuda: layer %d: %w", i, err) }
	if err := gs.normQuantize(gs.h, L.attnNorm, d, n, eps); err != nil {
		return wrap(err)
	}
	if err := gs.project(&L.q, gs.ta, qd, n, false); err != nil {
		return wrap(err)
	}
	if err := gs.project(&L.k, kAt, kvd, n, false); err != nil {
		return wrap(err)
	}
	if err := gs.project(&L.v, vAt, kvd, n, false); err != nil {
		return wrap(err)
	}
	if err := b.RoPE(gs.ta, qd, L.heads, hd, cos, sin, half, n); err != nil {
		return wrap(err)
	}
	if err := b.RoPE(kAt, kvd, L.kvHeads, hd, cos, sin, half, n); err != nil {
		return wrap(err)
	}
	if err := b.Attention(gs.tb, qd, gs.ta, qd, kc, vc, kvd, L.heads, L.kvHeads, hd, pos0, n, scale, gs.scores, gs.ctxLen); err != nil {
		return wrap(err)
	}
	var err error
	if L.attnSub != 0 {
		// SubLN over the concatenated heads before o_proj.
		err = gs.normQuantize(gs.tb, L.attnSub, qd, n, L.eps)
	} else {
		err = gs.quantize(gs.tb, qd, n)
	}
	if err != nil {
		return wrap(err)
	}
	if err := gs.project(&L.o, gs.h, d, n, true); err != nil {
		return wrap(err)
	}

	// FFN: gate and up share one quantized input.
	if err := gs.normQuantize(gs.h, L.ffnNorm, d, n, eps); err != nil {
		return wrap(err)
	}
	if err := gs.project(&L.gate, gs.ta, L.ffn, n, false); err != nil {
		return wrap(err)
	}
	if err := gs.project(&L.up, gs.tb, L.ffn, n, false); err != nil {
		return wrap(err)
	}
	if err := b.GLU(gs.ta, gs.ta, gs.tb, n*L.ffn, L.silu); err != nil {
		return wrap(err)
	}
	if L.ffnSub != 0 {
		err = gs.normQuantize(gs.ta, L.ffnSub, L.ffn, n, L.eps)
	} else {
		err = gs.quantize(gs.ta, L.ffn, n)
	}
	if err != nil {
		return wrap(err)
	}
	if err := gs.project(&L.down, gs.h, d, n, true); err != nil {
		return wrap(err)
	}
	return nil
}

// quantize quantizes n rows of w floats at x (pitch w) into q8.
func (gs *gpuSession) quantize(x cuda.DevicePtr, w, n int) error {
	gs.xqValid = false
	return gs.gm.b.Quantize(gs.q8, gs.gm.ldq, gs.xs, gs.xsum, x, w, w, n)
}

// normQuantize RMS-normalizes n rows of w floats at x (pitch w) with gains
// g into xn and quantizes them into q8, in one launch.
func (gs *gpuSession) normQuantize(x, g cuda.DevicePtr, w, n int, eps float32) error {
	gs.xqValid = false
	return gs.gm.b.RMSNormQuantize(gs.q8, gs.gm.ldq, gs.xs, gs.xsum, gs.xn, x, g, w, w, n, eps)
}

// project multiplies l by the quantized activations of n tokens and
// dequantizes into y (pitch ldy), adding to it with accumulate. One token
// goes through the matrix × vector kernel, several through the prefill
// kernel that reads the weights once for four tokens.
func (gs *gpuSession) project(l *gpuLinear, y cuda.DevicePtr, ldy, n int, accumulate bool) error {
	b, sub, acc := gs.gm.b, false, gs.acc
	switch l.kind {
	case linT2:
		if n == 1 && gs.splitting && l.gpuRows < l.out {
			if err := gs.splitMatVec(l); err != nil {
				return err
			}
			acc, sub = gs.partDev, true
		} else if n == 1 {
			// One launch: the product, minus the activations' sum (in
			// device memory, from Quantize), dequantized into y.
			return b.TMatVecDequant(y, l.w, l.stride, l.out, gs.q8, l.blocks, l.scales, l.nscale, gs.xs, gs.xsum, accumulate)
		} else if err := b.TMatMul(gs.acc, l.out, l.w, l.stride, l.out, gs.q8, gs.gm.ldq, l.blocks, gs.xsum, n); err != nil {
			return err
		}
	case linI8:
		for t := 0; t < n; t++ {
			if err := b.I8MatVec(gs.acc.Add(4*t*l.out), l.w, l.stride, l.out, gs.q8.Add(t*gs.gm.ldq), l.in); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("projection %s: kind %d has no GPU kernel", l.name, l.kind)
	}
	return b.Dequantize(y, ldy, acc, l.out, l.scales, l.nscale, gs.xs, gs.xsum, sub, l.out, n, accumulate)
}

// splitMatVec computes l's product for one token into partDev: rows
// [0, gpuRows) on the GPU, the rest on the CPU pool while the GPU works.
// Both sides leave the activations' sum out (xsum 0), which Dequantize
// subtracts.
func (gs *gpuSession) splitMatVec(l *gpuLinear) error {
	b, drv := gs.gm.b, gs.gm.b.Driver()
	if !gs.xqValid {
		// Synchronous: waits for the Quantize kernel. Shared by the
		// projections of one input (q, k, v; gate, up).
		if err := drv.MemcpyDtoH(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(gs.xq))), len(gs.xq)), gs.q8); err != nil {
			return err
		}
		gs.xqValid = true
	}
	g, c := l.gpuRows, l.cpu
	if err := b.TMatVec(gs.partDev, l.w, l.stride, g, gs.q8, l.blocks, 0); err != nil {
		return err
	}
	gs.gm.pool.MatVecT2(gs.gm.impl, gs.part[g:l.out], c.w[g*c.stride:], c.stride, gs.xq[:c.padded], 0)
	if gs.partMapped {
		// The CPU's stores precede the Dequantize launch, which sees them;
		// the stream orders it after the GPU's rows.
		return nil
	}
	// A synchronous copy on the launch stream: after the GPU's rows,
	// before Dequantize.
	return drv.MemcpyHtoD(gs.partDev.Add(4*g), unsafe.Slice((*byte)(unsafe.Pointer(&gs.part[g])), 4*(l.out-g)))
}

// head computes token t's logits (final norm, output projection) and
// copies them into logits.
func (gs *gpuSession) head(t, d int, eps float32, logits []float32) error {
	gm := gs.gm
	b, l := gm.b, &gm.head
	var err error
	if l.kind.float() {
		if err = b.RMSNorm(gs.xn, gs.h.Add(4*t*d), gm.norm, d, d, 1, eps); err == nil {
			err = b.FMatVec(gs.logits, l.w, l.ftype, l.stride, l.out, gs.xn, l.in)
		}
	} else if err = gs.normQuantize(gs.h.Add(4*t*d), gm.norm, d, 1, eps); err == nil {
		err = gs.project(l, gs.logits, l.out, 1, false)
	}
	if err == nil {
		err = b.Driver().MemcpyDtoH(f32Bytes(logits), gs.logits)
	}
	if err != nil {
		return fmt.Errorf("backend cuda: head: %w", err)
	}
	return nil
}
