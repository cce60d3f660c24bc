package sdk

import (
	"math"
)

// The MatMul-free LM (architecture "hgrn-bit", architectures.md §2): an
// MLGRU token mixer and a ternary GLU channel mixer per block, every
// projection including the output head a FusedBitLinear (its own RMSNorm,
// eps 1e-6, §2.4). Tensor names follow §2.6:
//
//	slot embedding:        model.embeddings.weight                 f32 | f16 | bf16 | i8 [vocab, d]
//	slot block.N.mixer:    model.layers.N.attn_norm.weight         f32 [d]
//	                       model.layers.N.attn.{i,f,g,o}_proj.weight      t2 | t1.6 [d, d]
//	                       model.layers.N.attn.{i,f,g,o}_proj.norm.weight f32 [d]
//	                       model.layers.N.attn.g_norm.weight       f32 [d]
//	                       model.layers.N.attn.lower_bound         f32 [d]  (layers > 0)
//	slot block.N.channel:  model.layers.N.mlp_norm.weight          f32 [d]
//	                       model.layers.N.mlp.gate_proj.weight     [2I, d] (+ .norm.weight [d])
//	                       model.layers.N.mlp.down_proj.weight     [d, I]  (+ .norm.weight [I])
//	slot head:             model.norm.weight                       f32 [d]
//	                       lm_head.weight  t2 [vocab, d] (+ lm_head.norm.weight [d])
//
// model.layers.N.attn.lower_bound is the forget-gate lower bound of layer
// N already remapped from the checkpoint's model.lower_bounds [L, d]
// (lb = cumsum(softmax(lower_bounds, dim=0)) − softmax(...)[0], §2.2), so
// that each block's mixer is self-contained and can be replaced alone.
// Parameters: vocab_size, hidden_size, num_layers, intermediate_size,
// rms_norm_eps (default 1e-6), bos_token_id, eos_token_id (optional).

// MMFreeConfig holds a MatMul-free LM's hyper-parameters.
type MMFreeConfig struct {
	Vocab, Dim, Layers, FFN int
	Eps                     float64
}

// ConfigMMFree370M is ridger/MMfreeLM-370M (architectures.md §2.1; FFN
// inner 256·ceil(int(1024·4·2/3)/256) = 2816).
func ConfigMMFree370M() MMFreeConfig {
	return MMFreeConfig{Vocab: 32000, Dim: 1024, Layers: 24, FFN: 2816, Eps: 1e-6}
}

// MMFreeLowerBounds computes the per-layer forget-gate lower bounds from
// a checkpoint's model.lower_bounds ([layers][d], architectures.md §2.2):
// softmax across layers per channel, cumulative sum, minus the first
// layer's share, so layer 0 gets 0.
func MMFreeLowerBounds(raw [][]float64) [][]float64 {
	L := len(raw)
	if L == 0 {
		return nil
	}
	d := len(raw[0])
	lb := make([][]float64, L)
	for l := range lb {
		lb[l] = make([]float64, d)
	}
	for ch := 0; ch < d; ch++ {
		m := math.Inf(-1)
		for l := range L {
			m = max(m, raw[l][ch])
		}
		var sum float64
		p := make([]float64, L)
		for l := range L {
			p[l] = math.Exp(raw[l][ch] - m)
			sum += p[l]
		}
		cum := 0.0
		for l := range L {
			cum += p[l] / sum
			lb[l][ch] = cum - p[0]/sum
		}
	}
	return lb
}

func loadMMFree(ld *loader) (*lmGraph, error) {
	var c MMFreeConfig
	var err error
	for _, p := range []struct {
		key string
		dst *int
	}{{"vocab_size", &c.Vocab}, {"hidden_size", &c.Dim}, {"num_layers", &c.Layers}, {"intermediate_size", &c.FFN}} {
		if *p.dst, err = ld.intParam(p.key, 0, true); err != nil {
			return nil, err
		}
	}
	if c.Eps, err = ld.floatParam("rms_norm_eps", 1e-6); err != nil {
		return nil, err
	}
	if c.Vocab <= 0 || c.Dim <= 0 || c.Layers <= 0 || c.FFN <= 0 || !(c.Eps >= 0) {
		return nil, ld.errorf("bad hyper-parameters %+v", c)
	}
	g := &lmGraph{arch: ArchMMFree, vocab: c.Vocab, dim: c.Dim, eps: float32(c.Eps)}
	if g.bos, err = ld.intParam("bos_token_id", -1, false); err != nil {
		return nil, err
	}
	if g.eos, err = ld.intParam("eos_token_id", -1, false); err != nil {
		return nil, err
	}
	if g.embed, err = ld.linear(mmfreeEmbed, c.Vocab, c.Dim, true); err != nil {
		return nil, err
	}
	if !g.embed.kind.float() && g.embed.kind != linI8 {
		return nil, ld.errorf("tensor %q must be f32, f16, bf16 or i8", mmfreeEmbed+".weight")
	}
	fused := func(name string, out, in int) (*linear, error) {
		l, err := ld.linear(name, out, in, false)
		if err != nil {
			return nil, err
		}
		return l, ld.withNorm(l, c.Eps)
	}
	for l := range c.Layers {
		mx := &mlgru{eps: float32(c.Eps)}
		if mx.norm, err = ld.vector(mmfreeLayer(l, "attn_norm.weight"), c.Dim); err != nil {
			return nil, err
		}
		for _, p := range []struct {
			dst  **linear
			name string
		}{{&mx.i, "attn.i_proj"}, {&mx.f, "attn.f_proj"}, {&mx.g, "attn.g_proj"}, {&mx.o, "attn.o_proj"}} {
			if *p.dst, err = fused(mmfreeLayer(l, p.name), c.Dim, c.Dim); err != nil {
				return nil, err
			}
		}
		if mx.gNorm, err = ld.vector(mmfreeLayer(l, "attn.g_norm.weight"), c.Dim); err != nil {
			return nil, err
		}
		if lbName := mmfreeLayer(l, "attn.lower_bound"); ld.has(lbName) {
			if mx.lb, err = ld.vector(lbName, c.Dim); err != nil {
				return nil, err
			}
		} else if l > 0 {
			return nil, ld.errorf("tensor %q missing", lbName)
		}
		if l == 0 {
			mx.lb = nil // §2.2: layer 0 has no lower bound
		}
		ch := &glu{width: c.FFN}
		if ch.norm, err = ld.vector(mmfreeLayer(l, "mlp_norm.weight"), c.Dim); err != nil {
			return nil, err
		}
		if ch.gateProj, err = fused(mmfreeLayer(l, "mlp.gate_proj"), 2*c.FFN, c.Dim); err != nil {
			return nil, err
		}
		if ch.down, err = fused(mmfreeLayer(l, "mlp.down_proj"), c.Dim, c.FFN); err != nil {
			return nil, err
		}
		g.blocks = append(g.blocks, block{mixer: mx, channel: ch})
	}
	if g.head.norm, err = ld.vector(mmfreeNorm+".weight", c.Dim); err != nil {
		return nil, err
	}
	if g.head.lin, err = ld.linear(lmHeadName, c.Vocab, c.Dim, true); err != nil {
		return nil, err
	}
	if ld.has(lmHeadName + ".norm.weight") {
		if err := ld.withNorm(g.head.lin, c.Eps); err != nil {
			return nil, err
		}
	} else if g.head.lin.kind == linT2 || g.head.lin.kind == linT16 {
		return nil, ld.errorf("tensor %q missing (the ternary head is a FusedBitLinear)", lmHeadName+".norm.weight")
	}
	g.finish()
	return g, nil
}

// mlgru is the MLGRU token mixer as the released code computes it
// (architectures.md §2.2, §7 MatMul-free item 2):
//
//	f = σ(f_proj(x));  f = lb + (1 − lb)·f   (layers > 0)
//	i = silu(i_proj(x))·(1 − f)
//	h = f⊙h + i
//	o = o_proj(RMSNorm(g_proj(x), g_norm) ⊙ h ⊙ σ(h))
type mlgru struct {
	norm       []float32
	i, f, g, o *linear
	gNorm      []float32
	lb         []float32
	eps        float32
}

type recurrentState struct{ h []float32 }

func (m *mlgru) preNorm() []float32      { return m.norm }
func (m *mlgru) linears() []*linear      { return []*linear{m.i, m.f, m.g, m.o} }
func (m *mlgru) newState(s *Session) any { return &recurrentState{h: make([]float32, s.g.dim)} }
func (m *mlgru) reset(st any)            { clear(st.(*recurrentState).h) }

func (m *mlgru) forward(r *run, s *Session, state any, x, out []float32, n int) {
	h := state.(*recurrentState).h
	d := s.g.dim
	ip, fp, gg, o := s.t1[:n*d], s.t2[:n*d], s.t3[:n*d], s.t4[:n*d]
	if !applyEach(r, []*linear{m.i, m.f, m.g}, [][]float32{ip, fp, gg}, x, n) {
		m.i.apply(r, ip, d, x, d, n)
		m.f.apply(r, fp, d, x, d, n)
		m.g.apply(r, gg, d, x, d, n)
	}
	// o_t = RMSNorm(g_t) by tokens, then the recurrence and the output gate
	// o_t ·= h_t·σ(h_t) by channels (mlgruJob): in a prefill chunk both
	// are split between the threads.
	r.perToken(n, tokJob{op: tokNorm, dst: o, ldd: d, x: gg, ldx: d, w: d, weight: m.gNorm, eps: m.eps})
	j := tokJob{op: tokMLGRU, mlgru: mlgruJob{h: h, ig: ip, fg: fp, o: o, lb: m.lb, n: n, d: d}}
	if items := (d + mlgruSpan - 1) / mlgruSpan; n >= perTokenMin && items > 1 && r.m.pool.Threads() > 1 {
		r.sc.tok = j
		r.m.pool.Run(items, r.sc.tokFn)
		r.sc.tok = tokJob{}
	} else {
		j.mlgru.channels(0, d)
	}
	m.o.apply(r, out, d, o, d, n)
}

// glu is the ternary GLU channel mixer (architectures.md §2.3): one
// gate_proj of 2I rows whose first half is the gate,
// down(silu(gate)·y).
type glu struct {
	norm           []float32
	gateProj, down *linear
	width          int
}

func (c *glu) preNorm() []float32    { return c.norm }
func (c *glu) linears() []*linear    { return []*linear{c.gateProj, c.down} }
func (c *glu) newState(*Session) any { return nil }
func (c *glu) reset(any)             {}

func (c *glu) forward(r *run, s *Session, _ any, x, out []float32, n int) {
	d, w := s.g.dim, c.width
	gy := s.t1[:n*2*w]
	c.gateProj.apply(r, gy, 2*w, x, d, n)
	// silu(gate)·y into the gate half of each token's row, by tokens.
	r.perToken(n, tokJob{op: tokSiLU, dst: gy, ldd: 2 * w, x: gy[w:], ldx: 2 * w, w: w})
	c.down.apply(r, out, d, gy, 2*w, n)
}
