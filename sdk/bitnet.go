package sdk

import (
	"fmt"
	"math"

	"github.com/speakez/barewire/simd"
)

// BitNet b1.58 (architecture "bitnet-b1.58"), both published families
// (architectures.md §1.1, §1.2): 2B4T (GQA, ReLU², θ = 500000) and the
// 1bitLLM models (MHA, SiLU, θ = 10000), each with the two SubLN norms; and
// the LLaMA-architecture 1.58-bit fine-tunes (Llama3-8B-1.58,
// Falcon3-1.58bit, §1.1), the same graph without the SubLN norms.
// Tensor names are the Hugging Face names of §1.5 (2B4T spelling):
//
//	slot embedding:        model.embed_tokens.weight   f32 | f16 | bf16 | i8  [vocab, d]
//	slot block.N.mixer:    model.layers.N.input_layernorm.weight            f32 [d]
//	                       model.layers.N.self_attn.{q,k,v,o}_proj.weight   t2 | t1.6 (scale γ)
//	                       model.layers.N.self_attn.attn_sub_norm.weight    f32 [d]    (absent with sub_norms 0)
//	slot block.N.channel:  model.layers.N.post_attention_layernorm.weight   f32 [d]
//	                       model.layers.N.mlp.{gate,up,down}_proj.weight    t2 | t1.6
//	                       model.layers.N.mlp.ffn_sub_norm.weight           f32 [ffn]  (absent with sub_norms 0)
//	slot head:             model.norm.weight                                f32 [d]
//	                       lm_head.weight (optional; else the embedding is the head, §1.2 "tied")
//
// Parameters: vocab_size, hidden_size, num_layers, num_heads, num_kv_heads,
// head_dim (default hidden_size/num_heads), intermediate_size, rope_theta,
// rms_norm_eps, hidden_act ("relu2" or "silu"), context_length (default
// 2048), sub_norms (int: 1, the default, applies attn_sub_norm before o_proj
// and ffn_sub_norm before down_proj; 0 for the LLaMA-architecture
// fine-tunes, whose files then hold no sub-norm tensors), bos_token_id and
// eos_token_id (optional). A file without sub_norms is a SubLN model, as
// every file written before the parameter existed.
//
// Differences from the float reference by design: the KV cache, RoPE,
// softmax and norms are float32 (as in HF run in f32, §1.7); an int8 head
// (the default of the synthetic models) quantizes its input per token
// (W8A8) instead of the full-precision head of §1.2; an f16 or bf16 head
// (or tied embedding) is read in place and, like the attention scores and
// weighted sums, summed in float32 in the fixed order of the simd float
// kernels (simd.FloatLanes).

// BitNetConfig holds a BitNet model's hyper-parameters.
type BitNetConfig struct {
	Vocab, Dim, Layers, Heads, KVHeads, HeadDim, FFN int
	RopeTheta, Eps                                   float64
	Act                                              string // "relu2" (2B4T) or "silu" (1bitLLM)
	ContextLength                                    int
	// NoSubNorms leaves out the two SubLN norms (attn_sub_norm before
	// o_proj, ffn_sub_norm before down_proj): the LLaMA-architecture
	// 1.58-bit fine-tunes have none (architectures.md §1.1). The zero value
	// is the published BitNet b1.58 graph, with both.
	NoSubNorms bool
}

// Config2B4T is microsoft/bitnet-b1.58-2B-4T (architectures.md §1.1).
func Config2B4T() BitNetConfig {
	return BitNetConfig{Vocab: 128256, Dim: 2560, Layers: 30, Heads: 20, KVHeads: 5, HeadDim: 128, FFN: 6912,
		RopeTheta: 500000, Eps: 1e-5, Act: "relu2", ContextLength: 4096}
}

// ConfigBitNetLarge is 1bitLLM/bitnet_b1_58-large (architectures.md §1.1).
func ConfigBitNetLarge() BitNetConfig {
	return BitNetConfig{Vocab: 32002, Dim: 1536, Layers: 24, Heads: 16, KVHeads: 16, HeadDim: 96, FFN: 4096,
		RopeTheta: 10000, Eps: 1e-5, Act: "silu", ContextLength: 2048}
}

func (c BitNetConfig) validate() error {
	switch {
	case c.Vocab <= 0 || c.Dim <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.KVHeads <= 0 || c.HeadDim <= 0 || c.FFN <= 0:
		return fmt.Errorf("sizes must be positive: %+v", c)
	case c.Heads%c.KVHeads != 0:
		return fmt.Errorf("%d heads not a multiple of %d KV heads", c.Heads, c.KVHeads)
	case c.HeadDim%2 != 0:
		return fmt.Errorf("RoPE needs an even head_dim, got %d", c.HeadDim)
	case c.Heads*c.HeadDim != c.Dim:
		return fmt.Errorf("num_heads·head_dim = %d, want hidden_size %d (the attention sub-norm has width d)", c.Heads*c.HeadDim, c.Dim)
	case !(c.RopeTheta > 0) || !(c.Eps >= 0):
		return fmt.Errorf("bad rope_theta %v or rms_norm_eps %v", c.RopeTheta, c.Eps)
	case c.Act != "relu2" && c.Act != "silu":
		return fmt.Errorf("hidden_act %q, want relu2 or silu", c.Act)
	}
	return nil
}

func loadBitNet(ld *loader) (*lmGraph, error) {
	var c BitNetConfig
	var err error
	for _, p := range []struct {
		key string
		dst *int
		def int64
		req bool
	}{
		{"vocab_size", &c.Vocab, 0, true}, {"hidden_size", &c.Dim, 0, true}, {"num_layers", &c.Layers, 0, true},
		{"num_heads", &c.Heads, 0, true}, {"num_kv_heads", &c.KVHeads, 0, true}, {"head_dim", &c.HeadDim, 0, false},
		{"intermediate_size", &c.FFN, 0, true}, {"context_length", &c.ContextLength, 2048, false},
	} {
		if *p.dst, err = ld.intParam(p.key, p.def, p.req); err != nil {
			return nil, err
		}
	}
	if c.HeadDim == 0 && c.Heads > 0 {
		c.HeadDim = c.Dim / c.Heads
	}
	if c.RopeTheta, err = ld.floatParam("rope_theta", 10000); err != nil {
		return nil, err
	}
	if c.Eps, err = ld.floatParam("rms_norm_eps", 1e-5); err != nil {
		return nil, err
	}
	if c.Act, err = ld.stringParam("hidden_act", ""); err != nil {
		return nil, err
	}
	if c.Act == "" {
		// §1.6 (c): never fall back to llama.cpp's SiLU default silently.
		return nil, ld.errorf("parameter hidden_act missing (relu2 for 2B4T, silu for 1bitLLM)")
	}
	sub, err := ld.intParam("sub_norms", 1, false)
	if err != nil {
		return nil, err
	}
	if sub > 1 {
		return nil, ld.errorf("parameter sub_norms = %d, want 1 (SubLN norms) or 0 (none)", sub)
	}
	c.NoSubNorms = sub == 0
	if err := c.validate(); err != nil {
		return nil, ld.errorf("%v", err)
	}
	g := &lmGraph{arch: ArchBitNet, vocab: c.Vocab, dim: c.Dim, ctxLen: c.ContextLength, eps: float32(c.Eps),
		hasKV: true, kvWidth: c.KVHeads * c.HeadDim, heads: c.Heads, ropeDim: c.HeadDim, theta: c.RopeTheta}
	if g.bos, err = ld.intParam("bos_token_id", -1, false); err != nil {
		return nil, err
	}
	if g.eos, err = ld.intParam("eos_token_id", -1, false); err != nil {
		return nil, err
	}
	if g.embed, err = ld.linear(bitnetEmbed, c.Vocab, c.Dim, true); err != nil {
		return nil, err
	}
	for l := range c.Layers {
		a, err := loadAttention(ld, c, l)
		if err != nil {
			return nil, err
		}
		f, err := loadFFN(ld, c, l)
		if err != nil {
			return nil, err
		}
		g.blocks = append(g.blocks, block{mixer: a, channel: f})
	}
	if g.head.norm, err = ld.vector(bitnetNorm+".weight", c.Dim); err != nil {
		return nil, err
	}
	g.head.lin = g.embed
	if ld.has(lmHeadName + ".weight") {
		if g.head.lin, err = ld.linear(lmHeadName, c.Vocab, c.Dim, true); err != nil {
			return nil, err
		}
	}
	g.finish()
	return g, nil
}

// attention is the BitNet token mixer: q, k, v projections, rotate-half
// RoPE, causal softmax attention with grouped KV heads, the attention
// SubLN norm (nil without sub-norms) and the o projection (architectures.md
// §1.2, §7 items 3–7).
type attention struct {
	norm                    []float32
	q, k, v, o              *linear
	subNorm                 []float32
	heads, kvHeads, headDim int
	eps                     float32
}

// kvCache is one attention block's keys and values. Keys are stored by KV
// head, then position, [kvHeads × ctxLen × headDim] after RoPE: a head's
// scores are one simd.MatVecF32 over its key rows (rows = positions, stride
// headDim), read as four streams. Values are stored by KV head in the
// column blocks of simd.WeightedSumF32, [kvHeads × blocks × ctxLen × 16]
// with blocks = ⌈headDim/16⌉: a head's weighted sum reads each block as one
// contiguous stream of the positions so far, four blocks at a time. A
// position is stored as kvHeads key rows and kvHeads·blocks pieces of 64
// bytes.
//
// A session made WithKVCache(KVFloat16) keeps the same layout in k16 and
// v16 (binary16 bits) and leaves k and v nil.
type kvCache struct {
	k, v     []float32
	k16, v16 []uint16
	hd       int // headDim
	ctxLen   int
	vHead    int // values per KV head: blocks·16·ctxLen
}

// vBlock is the width of a value block (simd.WeightedSumBlock).
const vBlock = simd.WeightedSumBlock

// newKVCache allocates the cache of one attention block, in binary16 when
// f16 is set.
func newKVCache(ctxLen, kvHeads, headDim int, f16 bool) *kvCache {
	nk := ctxLen * kvHeads * headDim
	kv := &kvCache{hd: headDim, ctxLen: ctxLen, vHead: (headDim + vBlock - 1) / vBlock * vBlock * ctxLen}
	if f16 {
		kv.k16, kv.v16 = make([]uint16, nk), make([]uint16, kvHeads*kv.vHead)
	} else {
		kv.k, kv.v = make([]float32, nk), make([]float32, kvHeads*kv.vHead)
	}
	return kv
}

// narrowKV narrows a key or value for an f16 cache, saturating at ±65504: an
// infinity would turn a zero attention weight into NaN.
func narrowKV(x float32) uint16 {
	h := simd.F32ToF16(x)
	if h&0x7fff == 0x7c00 {
		h -= 1 // ±Inf → ±65504
	}
	return h
}

// store writes position pos's keys and values (kvHeads·headDim each).
func (kv *kvCache) store(pos int, k, v []float32) {
	hd, ldb := kv.hd, vBlock*kv.ctxLen
	for h := 0; h*hd < len(k); h++ {
		at := (h*kv.ctxLen + pos) * hd
		kh, vh := k[h*hd:(h+1)*hd], v[h*hd:(h+1)*hd]
		if kv.k16 != nil {
			for i, x := range kh {
				kv.k16[at+i] = narrowKV(x)
			}
		} else {
			copy(kv.k[at:at+hd], kh)
		}
		for b := 0; b < hd; b += vBlock {
			src := vh[b:min(b+vBlock, hd)]
			at := h*kv.vHead + b/vBlock*ldb + pos*vBlock
			if kv.v16 != nil {
				for i, x := range src {
					kv.v16[at+i] = narrowKV(x)
				}
			} else {
				copy(kv.v[at:at+len(src)], src)
			}
		}
	}
}

func loadAttention(ld *loader, c BitNetConfig, l int) (*attention, error) {
	a := &attention{heads: c.Heads, kvHeads: c.KVHeads, headDim: c.HeadDim, eps: float32(c.Eps)}
	qd, kvd := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	var err error
	if a.norm, err = ld.vector(bitnetLayer(l, "input_layernorm.weight"), c.Dim); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		dst     **linear
		name    string
		out, in int
	}{{&a.q, "self_attn.q_proj", qd, c.Dim}, {&a.k, "self_attn.k_proj", kvd, c.Dim}, {&a.v, "self_attn.v_proj", kvd, c.Dim}, {&a.o, "self_attn.o_proj", c.Dim, qd}} {
		if *p.dst, err = ld.linear(bitnetLayer(l, p.name), p.out, p.in, false); err != nil {
			return nil, err
		}
	}
	if a.subNorm, err = loadSubNorm(ld, c, bitnetLayer(l, "self_attn.attn_sub_norm.weight"), qd); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *attention) preNorm() []float32     { return a.norm }
func (a *attention) prefetch(r *run, n int) { r.prefetch(n, a.q, a.k, a.v) }
func (a *attention) linears() []*linear     { return []*linear{a.q, a.k, a.v, a.o} }
func (a *attention) newState(s *Session) any {
	return newKVCache(s.ctxLen, a.kvHeads, a.headDim, s.kvF16)
}

// reset keeps the old entries: keys past Pos are never read, and values
// past Pos only with a weight of zero (see heads).
func (a *attention) reset(any) {}

func (a *attention) forward(r *run, s *Session, state any, x, out []float32, n int) {
	kv := state.(*kvCache)
	d := s.g.dim
	qd, kvd := a.heads*a.headDim, a.kvHeads*a.headDim
	q, k, v, att := s.t1[:n*qd], s.t2[:n*kvd], s.t3[:n*kvd], s.t4[:n*qd]
	// §7 item 3: q, k and v share one quantized input.
	applyGroup(r, []*linear{a.q, a.k, a.v}, [][]float32{q, k, v}, []int{qd, kvd, kvd}, x, d, n)
	r.perToken(n, tokJob{op: tokRoPE, rope: ropeJob{a: a, kv: kv, q: q, k: k, v: v, cos: s.ropeCos, sin: s.ropeSin, pos0: r.pos0}})
	s.attn = attnJob{a: a, kv: kv, q: q, att: att, pos0: r.pos0, scores: s.scores, row: s.ctxLen, impl: s.m.impl}
	if n == 1 && s.decScores != nil && a.heads > a.kvHeads {
		// A decoded token with grouped heads: the scores split by
		// positions, then the weighted sums by column blocks, so that no
		// KV head is read by two threads (see scoreRange).
		s.attn.shared = s.decScores
		s.m.pool.Run(a.kvHeads*s.attn.scoreItems(), s.scoreFn)
		s.m.pool.Run(a.kvHeads*s.attn.valueItems(), s.valueFn)
	} else {
		// Every (token, head) pair is one item for the model's pool threads.
		s.m.pool.Run(n*a.heads, s.attnFn)
	}
	s.attn = attnJob{}
	r.prefetch(n, a.o)
	if a.subNorm != nil {
		// §1.2 SubLN: RMSNorm over the concatenated heads before o_proj.
		r.perToken(n, tokJob{op: tokNorm, dst: att, ldd: qd, x: att, ldx: qd, w: qd, weight: a.subNorm, eps: a.eps})
	}
	a.o.apply(r, out, d, att, qd, n)
}

// ffn is the BitNet channel mixer: act(gate(f))·up(f), the FFN SubLN norm
// (nil without sub-norms) and the down projection (architectures.md §1.2;
// act ReLU² for 2B4T, SiLU for 1bitLLM and the LLaMA fine-tunes, §7 item 5).
type ffn struct {
	norm           []float32
	gate, up, down *linear
	subNorm        []float32
	relu2          bool
	width          int
	eps            float32
}

func loadFFN(ld *loader, c BitNetConfig, l int) (*ffn, error) {
	f := &ffn{relu2: c.Act == "relu2", width: c.FFN, eps: float32(c.Eps)}
	var err error
	if f.norm, err = ld.vector(bitnetLayer(l, "post_attention_layernorm.weight"), c.Dim); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		dst     **linear
		name    string
		out, in int
	}{{&f.gate, "mlp.gate_proj", c.FFN, c.Dim}, {&f.up, "mlp.up_proj", c.FFN, c.Dim}, {&f.down, "mlp.down_proj", c.Dim, c.FFN}} {
		if *p.dst, err = ld.linear(bitnetLayer(l, p.name), p.out, p.in, false); err != nil {
			return nil, err
		}
	}
	if f.subNorm, err = loadSubNorm(ld, c, bitnetLayer(l, "mlp.ffn_sub_norm.weight"), c.FFN); err != nil {
		return nil, err
	}
	return f, nil
}

// loadSubNorm returns a SubLN norm's weights, or nil for a model without
// sub-norms, whose file must then not hold one: a norm that would be
// silently skipped means the file and its parameters disagree.
func loadSubNorm(ld *loader, c BitNetConfig, name string, n int) ([]float32, error) {
	if !c.NoSubNorms {
		return ld.vector(name, n)
	}
	if ld.has(name) {
		return nil, ld.errorf("tensor %q present, but parameter sub_norms is 0", name)
	}
	return nil, nil
}

func (f *ffn) preNorm() []float32    { return f.norm }
func (f *ffn) linears() []*linear    { return []*linear{f.gate, f.up, f.down} }
func (f *ffn) newState(*Session) any { return nil }
func (f *ffn) reset(any)             {}

func (f *ffn) prefetch(r *run, n int) {
	r.hint(n, gatedOK(r, f.gate, f.up, n), []*linear{f.gate, f.up})
}

func (f *ffn) forward(r *run, s *Session, _ any, x, out []float32, n int) {
	d, w := s.g.dim, f.width
	g, u := s.t1[:n*w], s.t2[:n*w]
	// §7 item 3: gate and up share one quantized input.
	if gatedOK(r, f.gate, f.up, n) {
		// One token: the threads apply the product to the rows they
		// computed.
		act := simd.GateSiLU
		if f.relu2 {
			act = simd.GateReLUSquared
		}
		applyGated(r, f.gate, f.up, g, u, x, act)
		r.prefetch(n, f.down)
	} else {
		applyGroup(r, []*linear{f.gate, f.up}, [][]float32{g, u}, []int{w, w}, x, d, n)
		r.prefetch(n, f.down)
		op := tokSiLU
		if f.relu2 {
			op = tokReLU2
		}
		r.perToken(n, tokJob{op: op, dst: g, ldd: w, x: u, ldx: w, w: w})
	}
	if f.subNorm != nil { // §1.2 SubLN before down_proj
		r.perToken(n, tokJob{op: tokNorm, dst: g, ldd: w, x: g, ldx: w, w: w, weight: f.subNorm, eps: f.eps})
	}
	f.down.apply(r, out, d, g, w, n)
}

// attnJob is one layer's attention over a batch of tokens, split by
// (token, head) between the model's pool threads.
type attnJob struct {
	a      *attention
	kv     *kvCache
	q, att []float32
	pos0   int
	scores []float32 // [workers × attnQueries × row]: per query head, its weights
	row    int       // the session's context length
	impl   simd.Impl // the model's kernels
	shared []float32 // [heads × row]: a decoded token's scores (scoreRange, valueRange)
}

// attnQueries is how many query heads of one KV head go through the cache
// together: a worker's scratch holds a row of weights for each.
const attnQueries = 4

// heads computes items [lo, hi) (item = token·heads + head): causal softmax
// attention of the query head over positions 0..pos of its KV head
// (architectures.md §1.2, §7 item 7: q head j reads KV head j/(heads/kv)).
// Up to four consecutive items of one token and one KV head (GQA) go
// together, so the head's keys and values are read once for them. An
// item's arithmetic depends only on its query, its position and the cache
// up to it, never on the batch, the worker, the grouping or its neighbours
// (simd.MatVecF32x4 gives each query the bits of MatVecF32, and each of
// WeightedSumF32's sums is the same for any number of vectors), so prefill
// and decode give the same bits at any thread count.
func (j *attnJob) heads(worker, lo, hi int) {
	a := j.a
	group := a.heads / a.kvHeads
	for it := lo; it < hi; {
		h := it % a.heads
		n := 1
		for n < attnQueries && it+n < hi && h+n < a.heads && (h+n)/group == h/group {
			n++
		}
		j.attend(worker, it/a.heads, h, n)
		it += n
	}
}

// attend computes query heads h..h+n-1 (1 <= n <= attnQueries, all of one
// KV head) of token t.
func (j *attnJob) attend(worker, t, h, n int) {
	a, kv := j.a, j.kv
	qd, hd := a.heads*a.headDim, a.headDim
	kvh := h / (a.heads / a.kvHeads)
	scale := float32(1 / math.Sqrt(float64(hd))) // §1.2: head_dim^-0.5
	pos := j.pos0 + t
	rows := j.scores[worker*attnQueries*j.row : (worker+1)*attnQueries*j.row]
	q := j.q[t*qd+h*hd:]
	// Scores: one row of K per position (causal: 0..pos), the head's rows
	// contiguous; query i's weights in rows[i·row : i·row+pos+1].
	at := kvh * kv.ctxLen * hd
	switch {
	case kv.k16 != nil:
		for i := 0; i < n; i++ {
			j.impl.MatVecF16(rows[i*j.row:i*j.row+pos+1], kv.k16[at:], hd, q[i*hd:(i+1)*hd])
		}
	case len(q) >= attnQueries*hd:
		// Four queries in one pass; past n they belong to other KV
		// heads, and their rows are scratch.
		simd.MatVecF32x4(j.impl, rows, j.row, pos+1, kv.k[at:], hd, q, hd, hd)
	default:
		for i := 0; i < n; i++ {
			j.impl.MatVecF32(rows[i*j.row:i*j.row+pos+1], kv.k[at:], hd, q[i*hd:(i+1)*hd])
		}
	}
	for i := 0; i < n; i++ {
		simd.SoftmaxScaled(rows[i*j.row:i*j.row+pos+1], scale)
	}
	// Weighted sum of the values of positions 0..pos, one pass for the n
	// queries.
	out := j.att[t*qd+h*hd : t*qd+(h+n)*hd]
	vat, ldb := kvh*kv.vHead, vBlock*kv.ctxLen
	if kv.k16 != nil {
		simd.WeightedSumF16(j.impl, out, hd, hd, kv.v16[vat:], ldb, rows, j.row, pos+1, n)
	} else {
		simd.WeightedSumF32(j.impl, out, hd, hd, kv.v[vat:], ldb, rows, j.row, pos+1, n)
	}
}

// A decoded token's attention can also go through the pool in two jobs, so
// that every thread reads its own part of each KV head: scoreRange computes
// the scores of a range of positions for every query head of a KV head into
// shared, valueRange the softmax and the weighted sums of a range of column
// blocks. heads' items are query heads, and with grouped heads (2B4T: five
// KV heads of four query heads each) two threads split a KV head between
// them and both read all of its keys and values, a fifth more than the
// cache holds. Each score is one row's dot product and each output column
// sums its products in order of position whichever columns a call covers
// (simd.WeightedSumF32), so the two jobs give heads' bits: scoreRange and
// valueRange only regroup the same arithmetic.

// attnScoreSpan is the number of positions in one item of scoreRange.
const attnScoreSpan = 16

// scoreItems is the number of items of scoreRange per KV head.
func (j *attnJob) scoreItems() int { return (j.pos0 + attnScoreSpan) / attnScoreSpan }

// valueItems is the number of items of valueRange per KV head: its column
// blocks.
func (j *attnJob) valueItems() int { return (j.a.headDim + vBlock - 1) / vBlock }

// scoreRange computes items [lo, hi) of a decoded token's scores (item =
// KV head·scoreItems + span): positions span·16.. of every query head of
// the KV head, into shared.
func (j *attnJob) scoreRange(_, lo, hi int) {
	a, kv := j.a, j.kv
	hd, group, per := a.headDim, a.heads/a.kvHeads, j.scoreItems()
	for it := lo; it < hi; {
		kvh := it / per
		end := min(hi, (kvh+1)*per)
		p0, p1 := (it-kvh*per)*attnScoreSpan, min((end-kvh*per)*attnScoreSpan, j.pos0+1)
		at := (kvh*kv.ctxLen + p0) * hd
		for h := kvh * group; h < (kvh+1)*group; {
			q := j.q[h*hd:]
			if kv.k16 == nil && h+attnQueries <= (kvh+1)*group {
				simd.MatVecF32x4(j.impl, j.shared[h*j.row+p0:], j.row, p1-p0, kv.k[at:], hd, q, hd, hd)
				h += attnQueries
				continue
			}
			dst := j.shared[h*j.row+p0 : h*j.row+p1]
			if kv.k16 != nil {
				j.impl.MatVecF16(dst, kv.k16[at:], hd, q[:hd])
			} else {
				j.impl.MatVecF32(dst, kv.k[at:], hd, q[:hd])
			}
			h++
		}
		it = end
	}
}

// valueRange computes items [lo, hi) of a decoded token's weighted sums
// (item = KV head·valueItems + column block): the worker takes the scores
// of up to four query heads of the KV head from shared, applies the
// softmax in its own rows, and sums the values of its column blocks.
func (j *attnJob) valueRange(worker, lo, hi int) {
	a, kv := j.a, j.kv
	hd, group, per := a.headDim, a.heads/a.kvHeads, j.valueItems()
	scale := float32(1 / math.Sqrt(float64(hd))) // §1.2: head_dim^-0.5
	n := j.pos0 + 1
	rows := j.scores[worker*attnQueries*j.row : (worker+1)*attnQueries*j.row]
	ldb := vBlock * kv.ctxLen
	for it := lo; it < hi; {
		kvh := it / per
		end := min(hi, (kvh+1)*per)
		b0, b1 := it-kvh*per, end-kvh*per
		c0, cols := b0*vBlock, min(b1*vBlock, hd)-b0*vBlock
		vat := kvh*kv.vHead + b0*ldb
		for h := kvh * group; h < (kvh+1)*group; h += attnQueries {
			nq := min(attnQueries, (kvh+1)*group-h)
			for i := 0; i < nq; i++ {
				w := rows[i*j.row : i*j.row+n]
				copy(w, j.shared[(h+i)*j.row:(h+i)*j.row+n])
				simd.SoftmaxScaled(w, scale)
			}
			out := j.att[h*hd+c0:]
			if kv.k16 != nil {
				simd.WeightedSumF16(j.impl, out, hd, cols, kv.v16[vat:], ldb, rows, j.row, n, nq)
			} else {
				simd.WeightedSumF32(j.impl, out, hd, cols, kv.v[vat:], ldb, rows, j.row, n, nq)
			}
		}
		it = end
	}
}
