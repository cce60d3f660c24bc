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
		hasKV: true, kvWidth: c.KVHeads * c.HeadDim, ropeDim: c.HeadDim, theta: c.RopeTheta}
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

// kvCache is one attention block's keys and values. Keys are stored by
// KV head, then position, [kvHeads × ctxLen × headDim] after RoPE, so that
// the scores of a head are one simd.MatVecF32 over its rows (rows =
// positions, stride headDim), one contiguous stream. Values are stored transposed, [kvHeads·headDim × span]
// with span = scoreSpan(ctxLen), so that the weighted sum Σ_p w_p·v_p of a
// head is one MatVecF32 too (rows = the head's columns, x = the weights):
// both read the cache as long contiguous rows at the kernels' speed.
//
// A position's values would land in kvHeads·headDim different rows of vt,
// each a cache miss and most a TLB miss. They are written instead to a
// small transposed tile of the last vTile positions, [kvHeads·headDim ×
// vTile], which stays in cache, and the tile is copied into vt, a whole
// cache line per row, when its last position is stored. The weighted sum
// reads positions below the tile's start from vt and the tile's from
// wherever it is, so it gives the same bits in both places.
//
// A session made WithKVCache(KVFloat16) keeps the same layout in k16, vt16
// and tail16 (binary16 bits) and leaves k, vt and tail nil.
type kvCache struct {
	k, vt  []float32
	k16    []uint16
	vt16   []uint16
	tail16 []uint16
	hd     int // headDim
	ctxLen int
	tail   []float32 // [kvHeads·headDim × vTile]: values of the tile being filled
	span   int
	stored int // positions stored in this sequence (the next one is stored)
}

// vTile is the width of the value tile: one step of the float kernels
// (scoreSpan pads to it), 64 bytes of float32.
const vTile = simd.FloatLanes

// newKVCache allocates the cache of one attention block, in binary16 when
// f16 is set.
func newKVCache(ctxLen, kvHeads, headDim int, f16 bool) *kvCache {
	span := scoreSpan(ctxLen)
	kvd := kvHeads * headDim
	kv := &kvCache{span: span, hd: headDim, ctxLen: ctxLen}
	if f16 {
		kv.k16, kv.vt16, kv.tail16 = make([]uint16, ctxLen*kvd), make([]uint16, kvd*span), make([]uint16, kvd*vTile)
	} else {
		kv.k, kv.vt, kv.tail = make([]float32, ctxLen*kvd), make([]float32, kvd*span), make([]float32, kvd*vTile)
	}
	return kv
}

// narrowKV narrows a key or value for an f16 cache, saturating at ±65504: an
// infinity would turn the zero weight of a padding position into NaN.
func narrowKV(x float32) uint16 {
	h := simd.F32ToF16(x)
	if h&0x7fff == 0x7c00 {
		h -= 1 // ±Inf → ±65504
	}
	return h
}

// store writes position pos's keys and values (kvHeads·headDim each).
// Positions are stored in order from 0 (a new sequence starts again at 0).
func (kv *kvCache) store(pos int, k, v []float32) {
	if kv.k16 != nil {
		kv.store16(pos, k, v)
		return
	}
	for h, hd := 0, kv.hd; h*hd < len(k); h++ {
		copy(kv.k[(h*kv.ctxLen+pos)*hd:(h*kv.ctxLen+pos+1)*hd], k[h*hd:(h+1)*hd])
	}
	col := pos & (vTile - 1)
	tail := kv.tail[col:]
	for i, x := range v {
		tail[i*vTile] = x
	}
	kv.stored = pos + 1
	if col == vTile-1 {
		base := pos - col
		for i := range v {
			copy(kv.vt[i*kv.span+base:i*kv.span+base+vTile], kv.tail[i*vTile:(i+1)*vTile])
		}
	}
}

// store16 is store for an f16 cache.
func (kv *kvCache) store16(pos int, k, v []float32) {
	for h, hd := 0, kv.hd; h*hd < len(k); h++ {
		dst := kv.k16[(h*kv.ctxLen+pos)*hd : (h*kv.ctxLen+pos+1)*hd]
		for i, x := range k[h*hd : (h+1)*hd] {
			dst[i] = narrowKV(x)
		}
	}
	col := pos & (vTile - 1)
	tail := kv.tail16[col:]
	for i, x := range v {
		tail[i*vTile] = narrowKV(x)
	}
	kv.stored = pos + 1
	if col == vTile-1 {
		base := pos - col
		for i := range v {
			copy(kv.vt16[i*kv.span+base:i*kv.span+base+vTile], kv.tail16[i*vTile:(i+1)*vTile])
		}
	}
}

// scoreSpan rounds n positions up to whole steps of simd.FloatLanes: the
// attention weights of a head are padded with zeros to that length, so
// that the weighted sum has no column tail to add one by one (see heads).
func scoreSpan(n int) int { return (n + simd.FloatLanes - 1) &^ (simd.FloatLanes - 1) }

// attnRow is the length of a worker's row of Session.scores: the weights of
// a head (scoreSpan(ctxLen)) and the partial sum of its values (headDim).
func attnRow(ctxLen, headDim int) int { return scoreSpan(ctxLen) + headDim }

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

func (a *attention) preNorm() []float32 { return a.norm }
func (a *attention) linears() []*linear { return []*linear{a.q, a.k, a.v, a.o} }
func (a *attention) newState(s *Session) any {
	return newKVCache(s.ctxLen, a.kvHeads, a.headDim, s.kvF16)
}

// reset keeps the old entries: keys past Pos are never read, and values
// past Pos only with a weight of zero (see heads).
func (a *attention) reset(any) {}

func (a *attention) forward(r *run, s *Session, state any, x, out []float32, n int) {
	kv := state.(*kvCache)
	d := s.g.dim
	qd, kvd, hd := a.heads*a.headDim, a.kvHeads*a.headDim, a.headDim
	q, k, v, att := s.t1[:n*qd], s.t2[:n*kvd], s.t3[:n*kvd], s.t4[:n*qd]
	// §7 item 3: q, k and v share one quantized input.
	applyGroup(r, []*linear{a.q, a.k, a.v}, [][]float32{q, k, v}, []int{qd, kvd, kvd}, x, d, n)
	half := hd / 2
	for t := 0; t < n; t++ {
		pos := r.pos0 + t
		cos, sin := s.ropeCos[pos*half:(pos+1)*half], s.ropeSin[pos*half:(pos+1)*half]
		for h := 0; h < a.heads; h++ {
			simd.RoPERotateHalf(q[t*qd+h*hd:t*qd+(h+1)*hd], cos, sin)
		}
		for h := 0; h < a.kvHeads; h++ {
			simd.RoPERotateHalf(k[t*kvd+h*hd:t*kvd+(h+1)*hd], cos, sin)
		}
		kv.store(pos, k[t*kvd:(t+1)*kvd], v[t*kvd:(t+1)*kvd])
	}
	// Every (token, head) pair is one item for the model's pool threads.
	s.attn = attnJob{a: a, kv: kv, q: q, att: att, pos0: r.pos0, scores: s.scores, span: scoreSpan(s.ctxLen), row: attnRow(s.ctxLen, a.headDim), impl: s.m.impl}
	s.m.pool.Run(n*a.heads, s.attnFn)
	s.attn = attnJob{}
	for t := 0; a.subNorm != nil && t < n; t++ {
		// §1.2 SubLN: RMSNorm over the concatenated heads before o_proj.
		simd.RMSNorm(att[t*qd:(t+1)*qd], att[t*qd:(t+1)*qd], a.subNorm, a.eps)
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

func (f *ffn) forward(r *run, s *Session, _ any, x, out []float32, n int) {
	d, w := s.g.dim, f.width
	g, u := s.t1[:n*w], s.t2[:n*w]
	// §7 item 3: gate and up share one quantized input.
	applyGroup(r, []*linear{f.gate, f.up}, [][]float32{g, u}, []int{w, w}, x, d, n)
	if f.relu2 {
		simd.ReLUSquaredGate(g, g, u)
	} else {
		simd.SiLUGate(g, g, u)
	}
	for t := 0; f.subNorm != nil && t < n; t++ {
		simd.RMSNorm(g[t*w:(t+1)*w], g[t*w:(t+1)*w], f.subNorm, f.eps) // §1.2 SubLN before down_proj
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
	scores []float32 // [workers × attnQueries × row]: per query head, weights (span) and the last tile's sum (headDim)
	span   int       // scoreSpan(ctxLen)
	row    int       // attnRow(ctxLen, headDim)
	impl   simd.Impl // the model's kernels
}

// attnQueries is how many query heads of one KV head go through the cache
// together (simd.MatVecF32x4): a worker's scratch holds a row for each.
const attnQueries = 4

// heads computes items [lo, hi) (item = token·heads + head): causal softmax
// attention of the query head over positions 0..pos of its KV head
// (architectures.md §1.2, §7 item 7: q head j reads KV head j/(heads/kv)).
// Four consecutive items of one token and one KV head (GQA) go together:
// the keys and values are read once for the four (simd.MatVecF32x4, which
// gives each the bits of MatVecF32). An item's arithmetic depends only on
// its query, its position and the cache up to it, never on the batch, the
// worker or its neighbours, so prefill and decode give the same bits at any
// thread count.
func (j *attnJob) heads(worker, lo, hi int) {
	a := j.a
	group := a.heads / a.kvHeads
	for it := lo; it < hi; {
		h := it % a.heads
		n := 1
		if j.kv.k16 == nil && it+attnQueries <= hi && h+attnQueries <= a.heads && h/group == (h+attnQueries-1)/group {
			n = attnQueries
		}
		j.attend(worker, it/a.heads, h, n)
		it += n
	}
}

// attend computes query heads h..h+n-1 (n is 1 or attnQueries, all of one
// KV head) of token t.
func (j *attnJob) attend(worker, t, h, n int) {
	a, kv := j.a, j.kv
	qd, hd := a.heads*a.headDim, a.headDim
	kvh := h / (a.heads / a.kvHeads)
	scale := float32(1 / math.Sqrt(float64(hd))) // §1.2: head_dim^-0.5
	pos := j.pos0 + t
	sw := scoreSpan(pos + 1)
	rows := j.scores[worker*attnQueries*j.row : (worker+1)*attnQueries*j.row]
	q := j.q[t*qd+h*hd:]
	// Scores: one row of K per position (causal: 0..pos), the head's rows
	// contiguous; head i's weights in rows[i·row : i·row+sw].
	if kv.k16 != nil {
		j.attend16(rows, q[:hd], kvh, pos, t*qd+h*hd, scale)
		return
	}
	keys := kv.k[kvh*kv.ctxLen*hd:]
	if n == attnQueries {
		simd.MatVecF32x4(j.impl, rows, j.row, pos+1, keys, hd, q, hd, hd)
	} else {
		j.impl.MatVecF32(rows[:pos+1], keys, hd, q[:hd])
	}
	for i := 0; i < n; i++ {
		w := rows[i*j.row : i*j.row+sw]
		simd.SoftmaxScaled(w[:pos+1], scale)
		// The padding weights are zero, so the values past pos that they
		// meet (later tokens of a batch, or an earlier sequence's, always
		// finite) add exact zeros: the sum is the same whatever they hold.
		clear(w[pos+1:])
	}
	// Weighted sum: one row of V transposed per column of the head. The
	// last tile, base..base+vTile-1, is summed on its own (into
	// rows[i·row+span:], headDim long) and added: it may still be in
	// kv.tail.
	vt := kv.vt[kvh*hd*kv.span : (kvh+1)*hd*kv.span]
	base := pos &^ (vTile - 1)
	src, stride := vt[base:], kv.span
	if kv.stored < base+vTile {
		src, stride = kv.tail[kvh*hd*vTile:(kvh+1)*hd*vTile], vTile
	}
	out := j.att[t*qd+h*hd : t*qd+(h+n)*hd]
	if n == attnQueries {
		simd.MatVecF32x4(j.impl, rows[j.span:], j.row, hd, src, stride, rows[base:], j.row, vTile)
		if base > 0 {
			simd.MatVecF32x4(j.impl, out, hd, hd, vt, kv.span, rows, j.row, base)
		}
	} else {
		j.impl.MatVecF32(rows[j.span:j.span+hd], src, stride, rows[base:base+vTile])
		if base > 0 {
			j.impl.MatVecF32(out, vt, kv.span, rows[:base])
		}
	}
	for i := 0; i < n; i++ {
		o, last := out[i*hd:(i+1)*hd], rows[i*j.row+j.span:i*j.row+j.span+hd]
		if base == 0 {
			copy(o, last)
			continue
		}
		for c, x := range last {
			o[c] += x
		}
	}
}

// attend16 is attend for one query head q over an f16 cache (kv.k16...):
// the same steps through the f16 kernels, the head's output at att[out:].
func (j *attnJob) attend16(rows, q []float32, kvh, pos, out int, scale float32) {
	kv, hd := j.kv, j.a.headDim
	sw := scoreSpan(pos + 1)
	j.impl.MatVecF16(rows[:pos+1], kv.k16[kvh*kv.ctxLen*hd:], hd, q)
	w := rows[:sw]
	simd.SoftmaxScaled(w[:pos+1], scale)
	clear(w[pos+1:])
	vt := kv.vt16[kvh*hd*kv.span : (kvh+1)*hd*kv.span]
	base := pos &^ (vTile - 1)
	src, stride := vt[base:], kv.span
	if kv.stored < base+vTile {
		src, stride = kv.tail16[kvh*hd*vTile:(kvh+1)*hd*vTile], vTile
	}
	o, last := j.att[out:out+hd], rows[j.span:j.span+hd]
	j.impl.MatVecF16(last, src, stride, w[base:base+vTile])
	if base == 0 {
		copy(o, last)
		return
	}
	j.impl.MatVecF16(o, vt, kv.span, w[:base])
	for c, x := range last {
		o[c] += x
	}
}
