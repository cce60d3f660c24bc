package sdk

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/speakez/barewire/simd"
)

// A language model's graph is made of components, one per slot of the
// model file: the embedding, each block's token mixer (attention, MLGRU),
// each block's channel mixer (gated FFN, GLU) and the head. Every block is
// the same pre-norm residual pair, with each component owning its norm:
//
//	h = h + mixer(RMSNorm(h, mixer.norm))
//	h = h + channel(RMSNorm(h, channel.norm))
//
// (architectures.md §1.2 for BitNet, §2.5 for the MatMul-free LM, whose
// fused add+norm is the same computation). A component of one kind can
// therefore be replaced by another kind in one slot without touching the
// rest of the graph.
type lmGraph struct {
	arch    string
	vocab   int
	dim     int
	ctxLen  int // the model's context length; 0 for recurrent models (no limit)
	eps     float32
	embed   *linear // [vocab, dim] dense or int8: rows are looked up
	blocks  []block
	head    lmHead
	size    scratchSize
	maxW    int // widest per-token temporary a component needs
	bos     int
	eos     int
	hasKV   bool
	kvWidth int // floats per position per layer in the KV cache (0 without attention)
	heads   int // query heads of the attention blocks (0 without attention)
	ropeDim int // head_dim for RoPE tables (0 without attention)
	theta   float64
}

type block struct {
	mixer   component
	channel component
}

// component is one slot's part of a block: it reads the normalized input x
// ([n][dim]) and writes its output to out ([n][dim]).
type component interface {
	preNorm() []float32
	forward(r *run, s *Session, state any, x, out []float32, n int)
	// newState allocates the component's per-session state (nil if none).
	newState(s *Session) any
	// reset clears the state for a new sequence.
	reset(state any)
	linears() []*linear
}

// prefetcher is a component that can name the matrices its first kernel
// call reads (run.prefetch), before its input is normalized.
type prefetcher interface {
	prefetch(r *run, n int)
}

// lmHead is the final norm and the output projection.
type lmHead struct {
	norm []float32
	lin  *linear
}

func (g *lmGraph) weightBytes() int64 {
	var n int64
	for _, b := range g.blocks {
		for _, l := range b.mixer.linears() {
			n += l.bytes()
		}
		for _, l := range b.channel.linears() {
			n += l.bytes()
		}
	}
	return n + g.head.lin.bytes()
}

// finish sizes the scratch buffers once every component is loaded.
func (g *lmGraph) finish() {
	g.maxW = g.dim
	for _, b := range g.blocks {
		for _, c := range []component{b.mixer, b.channel} {
			for _, l := range c.linears() {
				g.size.add(l)
				g.maxW = max(g.maxW, l.out, l.in)
			}
			g.size.addGroup(c.linears())
		}
	}
	g.size.add(g.head.lin)
}

// embedRow sets dst to the embedding of tok; an f16 or bf16 row is widened
// straight into dst from the mapping.
func (g *lmGraph) embedRow(dst []float32, tok int) {
	e := g.embed
	switch e.kind {
	case linDense:
		copy(dst, e.wf[tok*g.dim:(tok+1)*g.dim])
	case linF16:
		simd.F16ToF32s(dst, e.wh[tok*g.dim:(tok+1)*g.dim])
	case linBF16:
		simd.BF16ToF32s(dst, e.wh[tok*g.dim:(tok+1)*g.dim])
	case linI8:
		simd.DequantizeInt8(dst, e.w8[tok*g.dim:(tok+1)*g.dim], e.scales[tok])
	}
}

// Session holds one sequence's state (the KV cache of every attention
// block, the recurrent state of every MLGRU block) and every buffer a
// forward pass needs, all allocated by NewSession: decoding a token
// allocates nothing. A Session is used by one goroutine at a time; many
// sessions may share one Model.
type Session struct {
	m      *Model
	g      *lmGraph
	states []any // per block: mixer state
	pos    int
	ctxLen int
	chunk  int
	kvF16  bool // WithKVCache(KVFloat16)
	broken bool

	sc         *scratch
	h, x, o    []float32 // [chunk × dim]
	t1, t2, t3 []float32 // [chunk × maxW]
	t4         []float32
	scores     []float32 // [threads × attnQueries × ctxLen] attention weights
	decScores  []float32 // [heads × ctxLen] a decoded token's scores (attnJob.scoreRange)
	attn       attnJob
	attnFn     func(worker, lo, hi int) // s.attn.heads, bound once
	scoreFn    func(worker, lo, hi int) // s.attn.scoreRange
	valueFn    func(worker, lo, hi int) // s.attn.valueRange
	ropeCos    []float32                // [ctxLen × ropeDim/2]
	ropeSin    []float32
	logits     []float32 // [vocab]
	normed     []float32 // [dim]
	trace      tracer
	gen        generator
	r          run         // kept here: handed to components through an interface, it would escape
	gpu        *gpuSession // CUDA backend (gpu.go): device KV cache and activations
}

// NewSession starts a conversation with the model: its KV cache (for
// attention models) is allocated here, for the context length of
// WithContextLength.
func (m *Model) NewSession(opts ...SessionOption) (*Session, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	g := m.lm
	if g == nil {
		return nil, fmt.Errorf("NewSession on a %q model: %w", m.arch, ErrArch)
	}
	cfg := sessionConfig{chunk: defaultChunk}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.chunk <= 0 {
		return nil, fmt.Errorf("prefill chunk %d: %w", cfg.chunk, ErrInput)
	}
	switch cfg.kv {
	case "", KVFloat32:
	case KVFloat16:
		if m.gpu != nil {
			return nil, fmt.Errorf("KV cache %q: the CUDA backend keeps its cache in f32: %w", cfg.kv, ErrInput)
		}
	default:
		return nil, fmt.Errorf("KV cache %q: want %q or %q: %w", cfg.kv, KVFloat32, KVFloat16, ErrInput)
	}
	s := &Session{m: m, g: g, chunk: cfg.chunk, kvF16: cfg.kv == KVFloat16}
	if g.hasKV {
		s.ctxLen = cfg.contextLen
		if s.ctxLen <= 0 {
			s.ctxLen = min(g.ctxLen, DefaultContextLength)
		}
		if s.ctxLen <= 0 {
			s.ctxLen = DefaultContextLength
		}
		half := g.ropeDim / 2
		s.scores = make([]float32, m.pool.Threads()*attnQueries*s.ctxLen)
		s.attnFn = s.attn.heads
		if m.pool.Threads() > 1 {
			s.decScores = make([]float32, g.heads*s.ctxLen)
			s.scoreFn, s.valueFn = s.attn.scoreRange, s.attn.valueRange
		}
		s.ropeCos = make([]float32, s.ctxLen*half)
		s.ropeSin = make([]float32, s.ctxLen*half)
		// The angles of simd.RoPETable, pos·θ^(−2i/D) (RoFormer; rotate-half
		// pairing, architectures.md §1.2), with θ^(−2i/D) computed once per
		// i: the same float64 operations, so the same values.
		inv := make([]float64, half)
		for i := range inv {
			inv[i] = math.Pow(g.theta, -float64(2*i)/float64(2*half))
		}
		for p := 0; p < s.ctxLen; p++ {
			for i, f := range inv {
				sn, cs := math.Sincos(float64(p) * f)
				s.ropeCos[p*half+i], s.ropeSin[p*half+i] = float32(cs), float32(sn)
			}
		}
	}
	z := g.size
	z.batch = s.chunk
	s.sc = newScratch(z)
	n := s.chunk
	s.h, s.x, s.o = make([]float32, n*g.dim), make([]float32, n*g.dim), make([]float32, n*g.dim)
	s.t1, s.t2, s.t3, s.t4 = make([]float32, n*g.maxW), make([]float32, n*g.maxW), make([]float32, n*g.maxW), make([]float32, n*g.maxW)
	s.logits = make([]float32, g.vocab)
	s.normed = make([]float32, g.dim)
	s.states = make([]any, len(g.blocks))
	if m.gpu != nil { // CUDA backend (gpu.go): the KV cache is in device memory
		var err error
		if s.gpu, err = m.gpu.newSession(s); err != nil {
			return nil, err
		}
	} else {
		for i, b := range g.blocks {
			s.states[i] = b.mixer.newState(s)
		}
	}
	s.gen.init(g.vocab)
	return s, nil
}

// Model returns the session's model.
func (s *Session) Model() *Model { return s.m }

// Pos is the number of tokens in the session (the position of the next).
func (s *Session) Pos() int { return s.pos }

// ContextLength is the number of positions the session can hold (0 for a
// recurrent model, which has no limit).
func (s *Session) ContextLength() int { return s.ctxLen }

// Reset starts a new sequence: the KV cache is emptied and recurrent
// state zeroed. Nothing is allocated.
func (s *Session) Reset() {
	for i, b := range s.g.blocks {
		b.mixer.reset(s.states[i])
	}
	s.pos = 0
	s.broken = false
}

// ErrSessionInterrupted is returned by a session whose last call was
// cancelled in the middle of a layer: its state is partial and it must be
// Reset.
var ErrSessionInterrupted = errors.New("session interrupted mid-update; call Reset")

// Forward appends tokens to the sequence (prefill when there are several)
// and returns the logits of the last one. The slice is the session's and
// is overwritten by the next call. ctx is checked between layers: a
// cancelled call returns ctx.Err() within one layer's time. A call
// cancelled after its first layer (or between two prefill chunks) leaves
// the session partly updated: it then answers ErrSessionInterrupted until
// Reset.
func (s *Session) Forward(ctx context.Context, tokens []int) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("Forward of no tokens: %w", ErrInput)
	}
	if err := s.forward(ctx, tokens, nil); err != nil {
		return nil, err
	}
	return s.logits, nil
}

// ForwardEach is Forward that computes the logits of every position and
// hands each to fn (the slice is reused for the next position).
func (s *Session) ForwardEach(ctx context.Context, tokens []int, fn func(pos int, logits []float32)) error {
	return s.forward(ctx, tokens, fn)
}

func (s *Session) forward(ctx context.Context, tokens []int, each func(int, []float32)) error {
	if err := s.m.check(); err != nil {
		return err
	}
	if s.broken {
		return ErrSessionInterrupted
	}
	g := s.g
	for i, t := range tokens {
		if t < 0 || t >= g.vocab {
			return fmt.Errorf("token %d (index %d) outside the vocabulary of %d: %w", t, i, g.vocab, ErrInput)
		}
	}
	if s.ctxLen > 0 && s.pos+len(tokens) > s.ctxLen {
		return fmt.Errorf("%d tokens at position %d do not fit a context of %d: %w", len(tokens), s.pos, s.ctxLen, ErrContextFull)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	pos0 := s.pos
	for len(tokens) > 0 {
		n := min(len(tokens), s.chunk)
		if err := s.chunkForward(ctx, tokens[:n], each, len(tokens) == n); err != nil {
			if s.pos != pos0 { // earlier chunks of this call are in the state
				s.broken = true
			}
			return err
		}
		tokens = tokens[n:]
	}
	return nil
}

// chunkForward runs n ≤ chunk tokens through every block.
func (s *Session) chunkForward(ctx context.Context, tokens []int, each func(int, []float32), last bool) error {
	if s.gpu != nil { // CUDA backend (gpu.go)
		return s.gpu.forward(ctx, s, tokens, each, last)
	}
	g, n, d := s.g, len(tokens), s.g.dim
	h := s.h[:n*d]
	for t, tok := range tokens {
		g.embedRow(h[t*d:(t+1)*d], tok)
	}
	s.r = run{m: s.m, sc: s.sc, pos0: s.pos, trace: s.trace}
	r := &s.r
	x, o := s.x[:n*d], s.o[:n*d]
	for i, b := range g.blocks {
		if err := ctx.Err(); err != nil {
			if i > 0 {
				s.broken = true
			}
			return err
		}
		for _, c := range [2]component{b.mixer, b.channel} {
			if p, ok := c.(prefetcher); ok {
				p.prefetch(r, n)
			}
			r.perToken(n, tokJob{op: tokNorm, dst: x, ldd: d, x: h, ldx: d, w: d, weight: c.preNorm(), eps: g.eps})
			var st any
			if c == b.mixer {
				st = s.states[i]
			}
			c.forward(r, s, st, x, o, n)
			r.perToken(n, tokJob{op: tokAdd, dst: h, ldd: d, x: o, ldx: d, w: d})
		}
	}
	s.pos += n
	for t := 0; t < n; t++ {
		if each == nil && !(last && t == n-1) {
			continue
		}
		simd.RMSNorm(s.normed, h[t*d:(t+1)*d], g.head.norm, g.eps)
		r.pos0 = s.pos - n + t
		g.head.lin.apply(r, s.logits, 0, s.normed, 0, 1)
		if each != nil {
			each(s.pos-n+t, s.logits)
		}
	}
	return nil
}
