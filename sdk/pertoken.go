package sdk

import "github.com/speakez/barewire/simd"

// tokOp is a kind of per-token float work of a multi-token pass (tokJob).
type tokOp int

const (
	tokNorm     tokOp = iota + 1 // RMSNorm of each row: dst_t = RMSNorm(x_t, weight)
	tokQuantize                  // QuantizeActivations of each row into xq, xs, sums
	tokAdd                       // dst_t += x_t
	tokReLU2                     // dst_t = ReLU²(dst_t)·x_t (ReLUSquaredGate)
	tokSiLU                      // dst_t = SiLU(dst_t)·x_t (SiLUGate)
	tokRoPE                      // RoPE on q and k, then the KV cache store
	tokMLGRU                     // the MLGRU update and output gate, split by channels (mlgruJob)
)

// tokJob is the float work of a prefill chunk that is done token by token
// (norms, activation quantization, residual adds, gated products, RoPE and
// the cache stores), split by tokens between the model's pool threads
// (run.perToken). Every token's values are computed by one thread with the
// same calls as a serial loop, so they are the same bits at any thread
// count; only the tokens are shared out.
type tokJob struct {
	op       tokOp
	dst, x   []float32 // row t at dst[t·ldd:], x[t·ldx:], w values
	ldd, ldx int
	w        int
	weight   []float32 // tokNorm
	eps      float32
	xq       []int8 // tokQuantize: row t at xq[t·p:], padded to p
	p        int
	xs       []float32
	sums     []int32
	rope     ropeJob  // tokRoPE
	mlgru    mlgruJob // tokMLGRU
}

// mlgruJob is one MLGRU block's recurrence over a chunk of n tokens. It runs
// token after token, but every channel on its own (simd.MLGRUStep and
// SiLUGate are element-wise), so its items are blocks of mlgruSpan
// channels, each carried through all n tokens: any split gives the bits of
// the serial loop.
type mlgruJob struct {
	h, ig, fg, o []float32 // state [d]; gates and output [n × d]
	lb           []float32 // nil in layer 0
	n, d         int
}

// mlgruSpan is the channels of one mlgruJob item.
const mlgruSpan = 64

// channels runs channels [c0, c1) through every token.
func (m *mlgruJob) channels(c0, c1 int) {
	var lb []float32
	if m.lb != nil {
		lb = m.lb[c0:c1]
	}
	h := m.h[c0:c1]
	for t := 0; t < m.n; t++ {
		at := t * m.d
		simd.MLGRUStep(h, m.ig[at+c0:at+c1], m.fg[at+c0:at+c1], lb)
		ot := m.o[at+c0 : at+c1]
		simd.SiLUGate(ot, h, ot) // RMSNorm(g)·h·σ(h)
	}
}

// ropeJob is one attention block's RoPE and cache store for a chunk.
type ropeJob struct {
	a        *attention
	kv       *kvCache
	q, k, v  []float32
	cos, sin []float32 // the session's tables, [ctxLen × headDim/2]
	pos0     int
}

// run does tokens [lo, hi) of the job.
func (j *tokJob) run(_, lo, hi int) {
	if j.op == tokMLGRU {
		j.mlgru.channels(lo*mlgruSpan, min(hi*mlgruSpan, j.mlgru.d))
		return
	}
	for t := lo; t < hi; t++ {
		switch j.op {
		case tokNorm:
			simd.RMSNorm(j.dst[t*j.ldd:t*j.ldd+j.w], j.x[t*j.ldx:t*j.ldx+j.w], j.weight, j.eps)
		case tokQuantize:
			j.xs[t], j.sums[t] = simd.QuantizeActivations(j.xq[t*j.p:(t+1)*j.p], j.x[t*j.ldx:t*j.ldx+j.w])
		case tokAdd:
			simd.AddTo(j.dst[t*j.ldd:t*j.ldd+j.w], j.x[t*j.ldx:t*j.ldx+j.w])
		case tokReLU2:
			d := j.dst[t*j.ldd : t*j.ldd+j.w]
			simd.ReLUSquaredGate(d, d, j.x[t*j.ldx:t*j.ldx+j.w])
		case tokSiLU:
			d := j.dst[t*j.ldd : t*j.ldd+j.w]
			simd.SiLUGate(d, d, j.x[t*j.ldx:t*j.ldx+j.w])
		case tokRoPE:
			j.rope.token(t)
		}
	}
}

// token rotates token t's query and key heads and stores its keys and
// values at its position.
func (r *ropeJob) token(t int) {
	a := r.a
	qd, kvd, hd := a.heads*a.headDim, a.kvHeads*a.headDim, a.headDim
	half := hd / 2
	pos := r.pos0 + t
	cos, sin := r.cos[pos*half:(pos+1)*half], r.sin[pos*half:(pos+1)*half]
	for h := 0; h < a.heads; h++ {
		simd.RoPERotateHalf(r.q[t*qd+h*hd:t*qd+(h+1)*hd], cos, sin)
	}
	for h := 0; h < a.kvHeads; h++ {
		simd.RoPERotateHalf(r.k[t*kvd+h*hd:t*kvd+(h+1)*hd], cos, sin)
	}
	r.kv.store(pos, r.k[t*kvd:(t+1)*kvd], r.v[t*kvd:(t+1)*kvd])
}

// perTokenMin is the fewest tokens split between threads: below it the
// caller does the job alone (a decoded token always), since a pool job
// costs a few microseconds of synchronization.
const perTokenMin = 4

// perToken runs j over n tokens: on the pool's threads, or on the caller
// for fewer than perTokenMin tokens or one thread.
func (r *run) perToken(n int, j tokJob) {
	if n < perTokenMin || r.m.pool.Threads() == 1 {
		j.run(0, 0, n)
		return
	}
	r.sc.tok = j
	r.m.pool.Run(n, r.sc.tokFn)
	r.sc.tok = tokJob{}
}
