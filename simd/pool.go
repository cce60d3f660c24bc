package simd

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/klauspost/cpuid/v2"
)

// DefaultThreads is the number of physical cores (cpuid), or the number of
// logical CPUs when that is unknown, capped by GOMAXPROCS. Decode is bound
// by memory bandwidth, which one thread per core already saturates; SMT
// siblings only add contention.
func DefaultThreads() int {
	n := cpuid.CPU.PhysicalCores
	if n <= 0 {
		n = runtime.NumCPU()
	}
	return max(1, min(n, runtime.GOMAXPROCS(0)))
}

type opKind int

const (
	opT2 opKind = iota
	opT16
	opMM
	opI8
	opF16
	opBF16
	opF32
	opFunc
	opT2Batch
	opT2Gated
)

// job is one parallel call, kept in the Pool so a call allocates nothing.
type job struct {
	op     opKind
	impl   Impl
	dst    []int32
	ldd    int
	w      []byte
	wi8    []int8
	wh     []uint16  // f16 or bf16 bits
	wf     []float32 // f32 weights
	dstF   []float32
	xf     []float32
	stride int
	rows   int
	x      []int8
	ldx    int
	k      int
	xsum   int32
	xsums  []int32
	ntok   int
	fn     func(worker, lo, hi int) // opFunc
	items  int                      // opFunc
	mats   []T2Mat                  // opT2Batch, opT2Gated (gate, up)
	gate   Gate                     // opT2Gated
	dq     Dequant                  // opT2, opT16, opI8
	mdq    MatDequant               // opMM
	// split: rows (or items, or tokens when byTok) of share 0, the
	// caller's, and of each other share (multiples of the alignment).
	first int
	chunk int
	byTok bool
	// units is the job's size (rows, items or tokens); a job with piece >
	// 0 is handed out in pieces of that many rows, each taken by whichever
	// thread is free (see pieceBytes); unitBytes is the weight bytes a row
	// reads, 0 where pieces do not apply.
	units     int
	piece     int
	unitBytes int
}

// A job whose weights are at least pieceMin bytes (an output head: 328 MB
// for BitNet 2B4T's int8 one) is handed out in pieces of about pieceBytes,
// each to whichever thread is free, rather than in one fixed share each:
// a thread that is held up (by another process, an interrupt, a slower
// stretch of memory) then leaves the others more pieces instead of keeping
// them waiting at the end. Smaller jobs keep one share per thread, whose
// streams run longer.
const (
	pieceMin   = 64 << 20
	pieceBytes = 4 << 20
)

// rowAlign keeps each worker's rows a multiple of the widest row group of
// the kernels (16 rows: one AMX tile), so only the last worker runs a tail.
const rowAlign = 16

// Pool is a fixed set of worker goroutines, started once, that split the
// rows of a kernel call (or the tokens of a prefill with few rows) between
// them. The calling goroutine does the first share itself. A call starts no
// goroutine and allocates nothing. Calls are serialized: a Pool runs one
// kernel at a time, so share one per model, not per request.
//
// Decode makes a few hundred calls per token, each tens of microseconds
// long, with a little serial work between them. Waking a parked goroutine
// costs about as much as such a call (a futex wake, more in a virtual
// machine), so after its share a worker spins on the job counter for a
// millisecond (yielding the processor now and then) before it parks; a
// model that decodes or prefills keeps its workers awake, an idle one lets
// them sleep.
type Pool struct {
	mu      sync.Mutex
	threads int
	// state is seq<<8 | shares: a new job bumps seq; shares is how many
	// workers (the caller included) take part in it. One word, so a worker
	// that sees a new job also sees how many take part without reading
	// anything the next job may overwrite.
	state   atomic.Uint64
	pending atomic.Int32 // worker shares of the current job not yet done
	next    atomic.Int64 // the first row of the next piece (piece jobs)
	parked  []atomic.Bool
	wake    []chan struct{}
	quit    atomic.Bool
	j       job
	closed  bool
	// Balance of the shares: ends[i] is when worker i finished its last
	// share (ns since epoch); frac[op] the part of a job of that kind the
	// caller takes, learnt from how long the shares took (see balance).
	epoch time.Time
	ends  []atomic.Int64
	frac  [opT2Gated + 1]float64
	// Prefetch hints: hints[i] is the start of worker i's likely share of
	// the next job, hintSeq counts hints; exited counts the workers gone.
	hints   []hintSlot
	hintSeq atomic.Uint64
	exited  sync.WaitGroup
	sink    []atomic.Uint32 // per worker, keeps the touching loads
}

// hintSlot is a range of weights a worker may load while it waits.
type hintSlot struct {
	p atomic.Pointer[byte]
	n atomic.Int64
}

// spinTime bounds how long an idle worker polls for the next job before it
// parks. A parked worker comes back late (about 60 µs on average on the
// 2-vCPU VM of docs/PERFORMANCE.md), and the serial work between a
// prefill's jobs (per-token norms, dequantization) often takes longer
// than the 100 µs or so workers used to poll: a 256-token 2B4T prefill
// lost about 50 ms to late starts then, 1–5 ms now, and was faster in 17 of 24
// alternating pairs. Decode's gaps are far shorter, so it never parks; an
// idle pool polls for a millisecond after its last job.
const spinTime = time.Millisecond

// NewPool starts a pool of threads workers (threads-1 goroutines plus the
// caller); threads <= 0 means DefaultThreads().
func NewPool(threads int) *Pool {
	if threads <= 0 {
		threads = DefaultThreads()
	}
	if threads > 255 {
		threads = 255 // shares travel in 8 bits of the state word
	}
	p := &Pool{threads: threads, parked: make([]atomic.Bool, threads), wake: make([]chan struct{}, threads),
		epoch: time.Now(), ends: make([]atomic.Int64, threads), hints: make([]hintSlot, threads), sink: make([]atomic.Uint32, threads)}
	for i := 1; i < threads; i++ {
		p.wake[i] = make(chan struct{}, 1)
		p.exited.Add(1)
		go p.worker(i)
	}
	return p
}

// Threads returns the number of threads the pool splits work over.
func (p *Pool) Threads() int { return p.threads }

// Close stops the workers and returns when they have exited, so that no
// worker touches memory a Prefetch named once Close returns. The pool must
// not be used afterwards.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.quit.Store(true)
	p.state.Add(1 << 8)
	for i := 1; i < p.threads; i++ {
		if p.parked[i].CompareAndSwap(true, false) {
			p.wake[i] <- struct{}{}
		}
	}
	p.mu.Unlock()
	p.exited.Wait()
}

func (p *Pool) worker(i int) {
	defer p.exited.Done()
	var seen, hinted uint64 // the last job and the last hint seen
	for {
		st := p.await(i, seen, &hinted)
		if p.quit.Load() {
			return
		}
		seen = st
		if i < int(st&0xff) {
			p.runShare(i)
			p.ends[i].Store(p.now())
			p.pending.Add(-1)
		}
	}
}

// await returns the state once it differs from seen: spinning first, then
// parked until the caller of the next job wakes the worker.
// A hint published since the last one the worker saw (*hinted) is acted on
// while it waits, even one published before it began to wait.
func (p *Pool) await(i int, seen uint64, hinted *uint64) uint64 {
	start := p.now()
	for n := 1; ; n++ {
		if st := p.state.Load(); st != seen {
			return st
		}
		if h := p.hintSeq.Load(); h != *hinted && h%2 == 0 {
			*hinted = h
			p.touch(i, h, seen)
			continue
		}
		if n&63 != 0 {
			continue
		}
		if p.now()-start < int64(spinTime) {
			runtime.Gosched()
			continue
		}
		p.parked[i].Store(true)
		if st := p.state.Load(); st != seen && p.parked[i].CompareAndSwap(true, false) {
			return st
		}
		// Either no job yet, or its caller claimed this worker and is
		// sending the wake-up.
		<-p.wake[i]
		start = p.now()
	}
}

// Prefetch says that the next call will be MatVecT2Batch over mats (or
// MatVecT2/MatVecT2Dequant over mats[0], when there is one), so that while
// the caller does other work first (normalizing and quantizing that call's
// input) each waiting worker loads the start of the rows it will likely be
// given (by the split balance has learnt) into its cache: up to
// prefetchBytes, stopping as soon as the call arrives. Results never
// depend on it; a wrong guess only costs the loads. Only the Dst length,
// W and Stride of each T2Mat are used; the caller keeps mats.
func (p *Pool) Prefetch(mats []T2Mat) {
	if p.threads < 2 || len(mats) == 0 {
		return
	}
	op, units := opT2, 0
	if len(mats) > 1 {
		op = opT2Batch
	}
	for _, m := range mats {
		units += len(m.Dst)
	}
	p.prefetch(op, units, mats)
}

// PrefetchGated is Prefetch for a MatVecT2Gated call over mats (gate, up):
// a worker loads the start of its rows of the gate matrix.
func (p *Pool) PrefetchGated(mats []T2Mat) {
	if p.threads < 2 || len(mats) != 2 {
		return
	}
	p.prefetch(opT2Gated, len(mats[0].Dst), mats[:1])
}

// prefetch publishes the hints of a job of the kind op over units rows,
// the rows taken in order from mats.
func (p *Pool) prefetch(op opKind, units int, mats []T2Mat) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, align := p.threads, rowAlign
	if units <= align || units*mats[0].Stride >= pieceMin { // pieces: no fixed shares
		return
	}
	first, chunk := p.split(op, units, align)
	p.hintSeq.Add(1) // odd while the hints change (a sequence lock)
	for i := 1; i < n; i++ {
		lo := first + (i-1)*chunk
		p.hints[i].p.Store(nil)
		for _, m := range mats {
			if lo < len(m.Dst) {
				rows := min(chunk, len(m.Dst)-lo)
				b := m.W[lo*m.Stride : (lo+rows)*m.Stride]
				p.hints[i].n.Store(int64(min(len(b), prefetchBytes)))
				p.hints[i].p.Store(&b[0])
				break
			}
			lo -= len(m.Dst)
		}
	}
	p.hintSeq.Add(1)
}

// split returns the caller's share of a job of the kind op over units and
// each other share (both multiples of align, the caller's at least one):
// the caller's part learnt by balance, an even split until then.
func (p *Pool) split(op opKind, units, align int) (first, chunk int) {
	n := p.threads
	f := p.frac[op]
	if f == 0 {
		f = 1 / float64(n)
	}
	first = min(max(int(f*float64(units)+float64(align)/2)/align*align, align), units)
	chunk = max(((units-first+n-2)/(n-1)+align-1)/align*align, align)
	return first, chunk
}

// prefetchBytes bounds what a worker loads on a Prefetch hint: half of this
// machine's 2 MiB L2, so that the rows are still there when the call comes
// (2B4T decode, 2 threads, in one process alternating with and without
// hints in pairs of tokens: 0.7% faster with 256 KiB, 0.8% with 512 KiB,
// 1.3% with 1 MiB, means of three runs of 120 tokens each).
const prefetchBytes = 1 << 20

// touch loads one byte of every cache line of worker i's hint (published
// as hint sequence h), 4 KiB at a time, until the hint ends or the state
// moves on from seen. A hint that changed while it was read is skipped.
func (p *Pool) touch(i int, h, seen uint64) {
	base, n := p.hints[i].p.Load(), p.hints[i].n.Load()
	if base == nil || n <= 0 || p.hintSeq.Load() != h {
		return
	}
	b := unsafe.Slice(base, n)
	var s uint32
	for off := 0; off < len(b); off += 4096 {
		if p.state.Load() != seen {
			break
		}
		for j := off; j < min(off+4096, len(b)); j += 64 {
			s += uint32(b[j])
		}
	}
	p.sink[i].Store(s)
}

// now is the time in nanoseconds since the pool started.
func (p *Pool) now() int64 { return int64(time.Since(p.epoch)) }

// run splits the prepared job over the workers and waits for all shares.
// The caller's share, run at once, is sized by balance when the job's
// kind can be (rows of a matrix, items of Run); the others share the rest
// evenly. Which thread computes a row never changes its result.
func (p *Pool) run(units int, align int) {
	n := p.threads
	chunk := (units + n - 1) / n
	chunk = (chunk + align - 1) / align * align
	if chunk == 0 {
		chunk = align
	}
	first := chunk
	p.j.units, p.j.piece = units, 0
	if n > 1 && p.j.unitBytes > 0 && units*p.j.unitBytes >= pieceMin {
		// Every thread takes pieces until none are left.
		p.j.piece = max(pieceBytes/p.j.unitBytes/align*align, align)
		p.next.Store(0)
		first, chunk = units, units // unused
	}
	balanced := n > 1 && units > align && !p.j.byTok && p.j.op != opMM && p.j.piece == 0
	if balanced {
		first, chunk = p.split(p.j.op, units, align)
	}
	p.j.first, p.j.chunk = first, chunk
	used := 1
	if units > first {
		used += (units - first + chunk - 1) / chunk
	}
	if p.j.piece > 0 {
		used = min(n, (units+p.j.piece-1)/p.j.piece)
	}
	if units == 0 {
		used = 0
	}
	t0 := p.now()
	if used > 1 {
		// Should the caller's share panic (and the panic be recovered up
		// the stack), the workers must be done with this job before the
		// next one is published: the lock is released as the panic
		// unwinds, and a late worker would count down the next job's
		// pending shares. In the normal case they are done already.
		defer p.awaitShares()
		p.pending.Store(int32(used - 1))
		seq := p.state.Load()>>8 + 1
		p.state.Store(seq<<8 | uint64(used))
		for i := 1; i < used; i++ {
			if p.parked[i].CompareAndSwap(true, false) {
				p.wake[i] <- struct{}{}
			}
		}
	}
	if used > 0 {
		p.runShare(0)
	}
	t1 := p.now()
	if used > 1 {
		p.awaitShares()
	}
	if balanced && used > 1 {
		p.balance(units, used, t0, t1)
	}
}

// awaitShares waits until every worker has finished its share of the job.
func (p *Pool) awaitShares() {
	for n := 1; p.pending.Load() > 0; n++ {
		if n&63 == 0 {
			runtime.Gosched()
		}
	}
}

// balance updates the caller's part of jobs of the running kind from the
// one just done: the caller did first units in t1-t0, the other shares
// the rest by the time the last of them ended (which counts the time a
// worker took to see the job). The caller's part that would have ended
// all shares together is averaged into frac, kept within half and one and
// a half times an even split. A worker that starts late or streams slower
// than the caller would otherwise leave the caller waiting at the end of
// every job with one thread's bandwidth in use.
func (p *Pool) balance(units, used int, t0, t1 int64) {
	te := int64(0)
	for i := 1; i < used; i++ {
		te = max(te, p.ends[i].Load())
	}
	d0, dw := float64(t1-t0), float64(te-t0)
	if d0 <= 0 || dw <= 0 {
		return
	}
	r0 := float64(p.j.first) / d0
	rw := float64(units-p.j.first) / float64(used-1) / dw
	even := 1 / float64(p.threads)
	want := r0 / (r0 + float64(p.threads-1)*rw)
	f := p.frac[p.j.op]
	if f == 0 {
		f = even
	}
	p.frac[p.j.op] = min(max(0.8*f+0.2*want, even/2), 1.5*even)
}

// share returns the range [lo, hi) of share i of a job of total units.
func (j *job) share(i, total int) (lo, hi int) {
	if i == 0 {
		return 0, min(j.first, total)
	}
	lo = min(j.first+(i-1)*j.chunk, total)
	return lo, min(lo+j.chunk, total)
}

// runShare runs share i of the job: its range, or pieces while any are
// left.
func (p *Pool) runShare(i int) {
	j := &p.j
	if j.piece > 0 {
		for {
			lo := int(p.next.Add(int64(j.piece))) - j.piece
			if lo >= j.units {
				return
			}
			p.runRange(i, lo, min(lo+j.piece, j.units))
		}
	}
	if lo, hi := j.share(i, j.units); lo < hi {
		p.runRange(i, lo, hi)
	}
}

// runRange runs units [lo, hi) of the job as worker i.
func (p *Pool) runRange(i, lo, hi int) {
	j := &p.j
	switch j.op {
	case opT2Batch:
		for _, m := range j.mats {
			// This share's rows of m: [lo, hi) less the rows before m.
			a, b := max(lo, 0), min(hi, len(m.Dst))
			if a < b {
				x, xsum := m.input(j.x, j.xsum)
				j.impl.MatVecT2(m.Dst[a:b], m.W[a*m.Stride:], m.Stride, x, xsum)
				m.Dequant.rows(m.Dst, a, b)
			}
			lo, hi = lo-len(m.Dst), hi-len(m.Dst)
			if hi <= 0 {
				break
			}
		}
	case opT2Gated:
		g, u := &j.mats[0], &j.mats[1]
		j.impl.MatVecT2(g.Dst[lo:hi], g.W[lo*g.Stride:], g.Stride, j.x, j.xsum)
		g.Dequant.rows(g.Dst, lo, hi)
		j.impl.MatVecT2(u.Dst[lo:hi], u.W[lo*u.Stride:], u.Stride, j.x, j.xsum)
		u.Dequant.rows(u.Dst, lo, hi)
		gy, uy := g.Dequant.Y[lo:hi], u.Dequant.Y[lo:hi]
		if j.gate == GateSiLU {
			SiLUGate(gy, gy, uy)
		} else {
			ReLUSquaredGate(gy, gy, uy)
		}
	case opFunc:
		j.fn(i, lo, hi)
	case opT2, opT16:
		f := j.impl.MatVecT2
		if j.op == opT16 {
			f = j.impl.MatVecT16
		}
		f(j.dst[lo:hi], j.w[lo*j.stride:], j.stride, j.x, j.xsum)
		j.dq.rows(j.dst, lo, hi)
	case opI8:
		j.impl.MatVecI8(j.dst[lo:hi], j.wi8[lo*j.stride:], j.stride, j.x)
		j.dq.rows(j.dst, lo, hi)
	case opF16, opBF16, opF32:
		switch j.op {
		case opF16:
			j.impl.MatVecF16(j.dstF[lo:hi], j.wh[lo*j.stride:], j.stride, j.xf)
		case opBF16:
			j.impl.MatVecBF16(j.dstF[lo:hi], j.wh[lo*j.stride:], j.stride, j.xf)
		default:
			j.impl.MatVecF32(j.dstF[lo:hi], j.wf[lo*j.stride:], j.stride, j.xf)
		}
	case opMM:
		if j.byTok {
			j.impl.MatMulT2(j.dst[lo*j.ldd:], j.ldd, j.w, j.stride, j.rows, j.x[lo*j.ldx:], j.ldx, j.k, j.xsums[lo:hi], hi-lo)
			j.mdq.block(j.dst, j.ldd, 0, j.rows, lo, hi)
			return
		}
		j.impl.MatMulT2(j.dst[lo:], j.ldd, j.w[lo*j.stride:], j.stride, hi-lo, j.x, j.ldx, j.k, j.xsums, j.ntok)
		j.mdq.block(j.dst, j.ldd, lo, hi, 0, j.ntok)
	}
}

// Run calls fn(worker, lo, hi) over disjoint ranges covering [0, items)
// on the pool's threads, worker 0 being the caller, and returns when all
// are done: float work of a layer (attention heads) shares the same awake
// workers as the kernels. fn should be a value made once (a method value
// kept in a struct), so that a call allocates nothing.
func (p *Pool) Run(items int, fn func(worker, lo, hi int)) {
	if items <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.j = job{op: opFunc, fn: fn, items: items}
	p.run(items, 1)
	p.j = job{}
}

// The Pool methods take the Impl to run (Active() for the best tier); nil
// kernels in it fall back to the generic ones.

// MatVecT2 is impl.MatVecT2 split by rows over the pool.
func (p *Pool) MatVecT2(impl Impl, dst []int32, w []byte, stride int, x []int8, xsum int32) {
	checkTernaryArgs("Pool.MatVecT2", len(dst), w, stride, len(x), BlockI2B128)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.j = job{op: opT2, impl: impl.withGeneric(), dst: dst, w: w, stride: stride, x: x, xsum: xsum, unitBytes: stride}
	p.run(len(dst), rowAlign)
	p.j = job{}
}

// MatVecT2Dequant is MatVecT2 that also dequantizes the results into dq.Y
// (see Dequant).
func (p *Pool) MatVecT2Dequant(impl Impl, dq Dequant, dst []int32, w []byte, stride int, x []int8, xsum int32) {
	checkTernaryArgs("Pool.MatVecT2Dequant", len(dst), w, stride, len(x), BlockI2B128)
	dq.check("Pool.MatVecT2Dequant", len(dst))
	p.mu.Lock()
	defer p.mu.Unlock()
	p.j = job{op: opT2, impl: impl.withGeneric(), dst: dst, w: w, stride: stride, x: x, xsum: xsum, dq: dq, unitBytes: stride}
	p.run(len(dst), rowAlign)
	p.j = job{}
}

// T2Mat is one matrix of a MatVecT2Batch: Dst[r] = row r of W (i2b128
// rows at Stride bytes) · x, and with Dequant.Y set also dequantized. X,
// when not nil, is this matrix's own input (with XSum = SumInt8(X)) in
// place of the call's x: projections of one token whose inputs are
// normalized and quantized apart (the MatMul-free LM's FusedBitLinear)
// still run as one job.
type T2Mat struct {
	Dst     []int32
	W       []byte
	Stride  int
	Dequant Dequant
	X       []int8
	XSum    int32
}

// input is the activations m multiplies in a call with input x.
func (m *T2Mat) input(x []int8, xsum int32) ([]int8, int32) {
	if m.X != nil {
		return m.X, m.XSum
	}
	return x, xsum
}

// Dequant asks a kernel call of the Pool to turn its exact results into
// floats as well: Y[r] = Dequantize(acc[r], Scales, XScale) (see
// Dequantize; Scales of length 1 or one per row). Each thread converts the
// rows it has just computed, while they are in its cache, instead of the
// caller reading them all from the other cores' caches afterwards; the
// values are those of one Dequantize call. The zero Dequant converts
// nothing.
type Dequant struct {
	Y, Scales []float32
	XScale    float32
}

// check panics unless d is empty or fits rows results.
func (d *Dequant) check(fn string, rows int) {
	if d.Y == nil {
		return
	}
	if len(d.Y) < rows || len(d.Scales) != 1 && len(d.Scales) < rows {
		panic(fmt.Sprintf("simd: %s: Dequant with %d outputs and %d scales for %d rows", fn, len(d.Y), len(d.Scales), rows))
	}
}

// rows dequantizes acc[lo:hi] into d.Y[lo:hi].
func (d *Dequant) rows(acc []int32, lo, hi int) {
	if d.Y == nil {
		return
	}
	s := d.Scales
	if len(s) != 1 {
		s = s[lo:hi]
	}
	Dequantize(d.Y[lo:hi], acc[lo:hi], s, d.XScale)
}

// MatVecT2Batch is MatVecT2 for several matrices with the same input x (the
// q, k and v projections of a token, or the gate and up projections) or
// each with its own (T2Mat.X), as one pool job: their rows, taken in order as one sequence, are split
// between the threads, so a thread streams its rows of several matrices
// without waiting for the others in between, and the pool synchronizes
// once. Results are those of one MatVecT2 per matrix. The caller keeps
// mats (a call does not copy it, so passing an array the caller owns
// allocates nothing).
func (p *Pool) MatVecT2Batch(impl Impl, mats []T2Mat, x []int8, xsum int32) {
	rows := 0
	for _, m := range mats {
		mx, _ := m.input(x, xsum)
		checkTernaryArgs("Pool.MatVecT2Batch", len(m.Dst), m.W, m.Stride, len(mx), BlockI2B128)
		m.Dequant.check("Pool.MatVecT2Batch", len(m.Dst))
		rows += len(m.Dst)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.j = job{op: opT2Batch, impl: impl.withGeneric(), mats: mats, rows: rows, x: x, xsum: xsum}
	p.run(rows, rowAlign)
	p.j = job{}
}

// Gate is the product of a gated FFN that MatVecT2Gated applies.
type Gate int

const (
	GateReLUSquared Gate = iota + 1 // ReLUSquaredGate (BitNet b1.58 2B4T)
	GateSiLU                        // SiLUGate (LLaMA-style BitNet)
)

// MatVecT2Gated computes the two projections of a gated FFN with the same
// input x and the same number of rows, mats[0] the gate and mats[1] the up
// projection (both with a Dequant), and then mats[0].Dequant.Y[r] =
// act(gate_r)·up_r. The rows are split between the threads as one job, and
// each thread computes its rows of both matrices, dequantizes them and
// applies the product to them, so that neither projection's output has to
// be read back from another core before the product. The values are those
// of MatVecT2Batch followed by ReLUSquaredGate or SiLUGate. The caller
// keeps mats.
func (p *Pool) MatVecT2Gated(impl Impl, mats []T2Mat, act Gate, x []int8, xsum int32) {
	if len(mats) != 2 || len(mats[0].Dst) != len(mats[1].Dst) {
		panic(fmt.Sprintf("simd: Pool.MatVecT2Gated: want a gate and an up matrix of the same rows, have %d matrices", len(mats)))
	}
	if act != GateReLUSquared && act != GateSiLU {
		panic(fmt.Sprintf("simd: Pool.MatVecT2Gated: gate %d", act))
	}
	rows := len(mats[0].Dst)
	for _, m := range mats {
		if m.X != nil {
			panic("simd: Pool.MatVecT2Gated: a matrix with an input of its own")
		}
		checkTernaryArgs("Pool.MatVecT2Gated", len(m.Dst), m.W, m.Stride, len(x), BlockI2B128)
		if m.Dequant.Y == nil {
			panic("simd: Pool.MatVecT2Gated: a matrix without a Dequant")
		}
		m.Dequant.check("Pool.MatVecT2Gated", rows)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.j = job{op: opT2Gated, impl: impl.withGeneric(), mats: mats, gate: act, rows: rows, x: x, xsum: xsum,
		unitBytes: mats[0].Stride + mats[1].Stride}
	p.run(rows, rowAlign)
	p.j = job{}
}

// MatVecT16 is impl.MatVecT16 split by rows over the pool.
func (p *Pool) MatVecT16(impl Impl, dst []int32, w []byte, stride int, x []int8, xsum int32) {
	checkTernaryArgs("Pool.MatVecT16", len(dst), w, stride, len(x), BlockT5B160)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.j = job{op: opT16, impl: impl.withGeneric(), dst: dst, w: w, stride: stride, x: x, xsum: xsum, unitBytes: stride}
	p.run(len(dst), rowAlign)
	p.j = job{}
}

// MatVecI8 is impl.MatVecI8 split by rows over the pool.
func (p *Pool) MatVecI8(impl Impl, dst []int32, w []int8, stride int, x []int8) {
	checkI8Args("Pool.MatVecI8", len(dst), w, stride, len(x))
	p.mu.Lock()
	defer p.mu.Unlock()
	p.j = job{op: opI8, impl: impl.withGeneric(), dst: dst, wi8: w, stride: stride, x: x, unitBytes: stride}
	p.run(len(dst), rowAlign)
	p.j = job{}
}

// MatVecI8Dequant is MatVecI8 that also dequantizes the results into dq.Y
// (see Dequant).
func (p *Pool) MatVecI8Dequant(impl Impl, dq Dequant, dst []int32, w []int8, stride int, x []int8) {
	checkI8Args("Pool.MatVecI8Dequant", len(dst), w, stride, len(x))
	dq.check("Pool.MatVecI8Dequant", len(dst))
	p.mu.Lock()
	defer p.mu.Unlock()
	p.j = job{op: opI8, impl: impl.withGeneric(), dst: dst, wi8: w, stride: stride, x: x, dq: dq, unitBytes: stride}
	p.run(len(dst), rowAlign)
	p.j = job{}
}

// MatVecF16 is impl.MatVecF16 split by rows over the pool. Each row is
// summed by one worker in the kernel's fixed order, so the results do not
// depend on the number of threads.
func (p *Pool) MatVecF16(impl Impl, dst []float32, w []uint16, stride int, x []float32) {
	checkFloatArgs("Pool.MatVecF16", len(dst), len(w), stride, len(x))
	p.runFloat(job{op: opF16, impl: impl.withGeneric(), dstF: dst, wh: w, stride: stride, xf: x, unitBytes: 2 * stride})
}

// MatVecBF16 is impl.MatVecBF16 split by rows over the pool.
func (p *Pool) MatVecBF16(impl Impl, dst []float32, w []uint16, stride int, x []float32) {
	checkFloatArgs("Pool.MatVecBF16", len(dst), len(w), stride, len(x))
	p.runFloat(job{op: opBF16, impl: impl.withGeneric(), dstF: dst, wh: w, stride: stride, xf: x, unitBytes: 2 * stride})
}

// MatVecF32 is impl.MatVecF32 split by rows over the pool.
func (p *Pool) MatVecF32(impl Impl, dst []float32, w []float32, stride int, x []float32) {
	checkFloatArgs("Pool.MatVecF32", len(dst), len(w), stride, len(x))
	p.runFloat(job{op: opF32, impl: impl.withGeneric(), dstF: dst, wf: w, stride: stride, xf: x, unitBytes: 4 * stride})
}

func (p *Pool) runFloat(j job) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.j = j
	p.run(len(j.dstF), rowAlign)
	p.j = job{}
}

// MatMulT2 is impl.MatMulT2 split over the pool: by rows when there are
// enough of them (every worker then streams a disjoint part of the weights
// once for all tokens), otherwise by tokens in groups of four.
func (p *Pool) MatMulT2(impl Impl, dst []int32, ldd int, w []byte, stride int, rows int, x []int8, ldx int, k int, xsum []int32, ntok int) {
	p.MatMulT2Dequant(impl, MatDequant{}, dst, ldd, w, stride, rows, x, ldx, k, xsum, ntok)
}

// MatDequant asks MatMulT2Dequant to turn its exact results into floats as
// well: Y[t·LDY + r] = Dequantize(dst[t·ldd + r], Scales, XScales[t]) for
// every token t and row r (Scales of length 1 or one per row). Each thread
// converts the block of results it has just computed (its rows of every
// token, or its tokens), while they are in its cache; the values are
// those of one Dequantize call per token. The zero MatDequant converts
// nothing.
type MatDequant struct {
	Y       []float32
	LDY     int
	Scales  []float32
	XScales []float32
}

// check panics unless d is empty or fits rows × ntok results.
func (d *MatDequant) check(fn string, rows, ntok int) {
	if d.Y == nil {
		return
	}
	if d.LDY < rows || len(d.Y) < (ntok-1)*d.LDY+rows || len(d.XScales) < ntok || len(d.Scales) != 1 && len(d.Scales) < rows {
		panic(fmt.Sprintf("simd: %s: MatDequant with %d outputs at stride %d, %d scales and %d token scales for %d rows × %d tokens",
			fn, len(d.Y), d.LDY, len(d.Scales), len(d.XScales), rows, ntok))
	}
}

// block dequantizes rows [r0, r1) of tokens [t0, t1) of acc (token t's
// results at acc[t·ldd:]).
func (d *MatDequant) block(acc []int32, ldd, r0, r1, t0, t1 int) {
	if d.Y == nil || r0 >= r1 {
		return
	}
	s := d.Scales
	if len(s) != 1 {
		s = s[r0:r1]
	}
	for t := t0; t < t1; t++ {
		Dequantize(d.Y[t*d.LDY+r0:t*d.LDY+r1], acc[t*ldd+r0:t*ldd+r1], s, d.XScales[t])
	}
}

// MatMulT2Dequant is MatMulT2 that also dequantizes the results into dq.Y
// (see MatDequant).
func (p *Pool) MatMulT2Dequant(impl Impl, dq MatDequant, dst []int32, ldd int, w []byte, stride int, rows int, x []int8, ldx int, k int, xsum []int32, ntok int) {
	checkMatMulArgs("Pool.MatMulT2", dst, ldd, w, stride, rows, x, ldx, k, xsum, ntok)
	dq.check("Pool.MatMulT2Dequant", rows, ntok)
	if rows == 0 || ntok == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.j = job{op: opMM, impl: impl.withGeneric(), dst: dst, ldd: ldd, w: w, stride: stride, rows: rows, x: x, ldx: ldx, k: k, xsums: xsum, ntok: ntok, mdq: dq}
	if rows >= rowAlign*p.threads || ntok < 4*p.threads {
		p.run(rows, rowAlign)
	} else {
		p.j.byTok = true
		p.run(ntok, 4)
	}
	p.j = job{}
}
