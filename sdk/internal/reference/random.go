package reference

import (
	"fmt"
	"math/rand/v2"
)

// seedStream is the second word of the PCG seed used by every random
// constructor; the first is the caller's seed.
const seedStream = 0x9e3779b97f4a7c15

// weightSource draws random weights in a documented order so that the same
// seed always gives the same model.
type weightSource struct{ r *rand.Rand }

func newWeightSource(seed uint64) *weightSource {
	return &weightSource{r: rand.New(rand.NewPCG(seed, seedStream))}
}

// uniform returns n values in [lo, hi).
func (w *weightSource) uniform(n int, lo, hi float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = lo + (hi-lo)*w.r.Float64()
	}
	return v
}

// norm returns an RMSNorm weight: n values in [0.5, 1.5).
func (w *weightSource) norm(n int) []float64 { return w.uniform(n, 0.5, 1.5) }

// matrix returns a rows×cols matrix of values in [−1, 1).
func (w *weightSource) matrix(rows, cols int) Matrix {
	return Matrix{Rows: rows, Cols: cols, Data: w.uniform(rows*cols, -1, 1)}
}

// ternary returns a BitLinear whose out·in weights are drawn uniformly from
// {−1, 0, +1} (row-major) followed by γ in [0.05, 0.15).
func (w *weightSource) ternary(name string, out, in int) *BitLinear {
	q := make([]int8, out*in)
	for i := range q {
		q[i] = int8(w.r.IntN(3) - 1)
	}
	g := 0.05 + 0.1*w.r.Float64()
	return &BitLinear{Name: name, Out: out, In: in, W: q, Gamma: g}
}

// fused returns a FusedBitLinear: the ternary weights and γ, then its norm.
func (w *weightSource) fused(name string, out, in int, eps float64) *BitLinear {
	b := w.ternary(name, out, in)
	return b.WithNorm(w.norm(in), eps)
}

// RandomBitNet builds a BitNet model with random weights, deterministic in
// seed. Draw order: embedding [Vocab·Dim] in [−1,1); per layer
// input_layernorm, q, k, v, attn_sub_norm (if SubNorms), o,
// post_attention_layernorm, gate, up, ffn_sub_norm (if SubNorms), down; then
// model.norm; then the output head [Vocab·Dim] when not tied. Norm weights
// are in [0.5,1.5); BitLinears are uniform ternary with γ in [0.05,0.15).
func RandomBitNet(cfg BitNetConfig, seed uint64) (*BitNet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := newWeightSource(seed)
	m := &BitNet{Config: cfg, Embed: w.matrix(cfg.Vocab, cfg.Dim)}
	kv := cfg.KVHeads * cfg.HeadDim
	for l := range cfg.Layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		var ly BitNetLayer
		ly.AttnNorm = w.norm(cfg.Dim)
		ly.Q = w.ternary(p+"self_attn.q_proj", cfg.Heads*cfg.HeadDim, cfg.Dim)
		ly.K = w.ternary(p+"self_attn.k_proj", kv, cfg.Dim)
		ly.V = w.ternary(p+"self_attn.v_proj", kv, cfg.Dim)
		if cfg.SubNorms {
			ly.AttnSubNorm = w.norm(cfg.Dim)
		}
		ly.O = w.ternary(p+"self_attn.o_proj", cfg.Dim, cfg.Heads*cfg.HeadDim)
		ly.FFNNorm = w.norm(cfg.Dim)
		ly.Gate = w.ternary(p+"mlp.gate_proj", cfg.FFN, cfg.Dim)
		ly.Up = w.ternary(p+"mlp.up_proj", cfg.FFN, cfg.Dim)
		if cfg.SubNorms {
			ly.FFNSubNorm = w.norm(cfg.FFN)
		}
		ly.Down = w.ternary(p+"mlp.down_proj", cfg.Dim, cfg.FFN)
		m.Layers = append(m.Layers, ly)
	}
	m.Norm = w.norm(cfg.Dim)
	if !cfg.TiedOutput {
		o := w.matrix(cfg.Vocab, cfg.Dim)
		m.Output = &o
	}
	return m, m.Validate()
}

// RandomMMFree builds a MatMul-free LM with random weights, deterministic in
// seed. Draw order: embeddings [Vocab·Dim] in [−1,1); lower_bounds [L·d] in
// [−1,1); per layer attn_norm, i, f, g, o (each: ternary weights, γ, its own
// norm), g_norm, mlp_norm, gate_proj, down_proj; then model.norm and lm_head.
func RandomMMFree(cfg MMFreeConfig, seed uint64) (*MMFree, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := newWeightSource(seed)
	m := &MMFree{Config: cfg, Embed: w.matrix(cfg.Vocab, cfg.Dim), LowerBounds: w.matrix(cfg.Layers, cfg.Dim)}
	for l := range cfg.Layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		var ly MMFreeLayer
		ly.AttnNorm = w.norm(cfg.Dim)
		ly.I = w.fused(p+"attn.i_proj", cfg.Dim, cfg.Dim, cfg.Eps)
		ly.F = w.fused(p+"attn.f_proj", cfg.Dim, cfg.Dim, cfg.Eps)
		ly.G = w.fused(p+"attn.g_proj", cfg.Dim, cfg.Dim, cfg.Eps)
		ly.O = w.fused(p+"attn.o_proj", cfg.Dim, cfg.Dim, cfg.Eps)
		ly.GNorm = w.norm(cfg.Dim)
		ly.MLPNorm = w.norm(cfg.Dim)
		ly.GateProj = w.fused(p+"mlp.gate_proj", 2*cfg.FFN, cfg.Dim, cfg.Eps)
		ly.Down = w.fused(p+"mlp.down_proj", cfg.Dim, cfg.FFN, cfg.Eps)
		m.Layers = append(m.Layers, ly)
	}
	m.Norm = w.norm(cfg.Dim)
	m.LMHead = w.fused("lm_head", cfg.Vocab, cfg.Dim, cfg.Eps)
	return m, m.Validate()
}

// RandomMLP builds an MLP classifier with random weights, deterministic in
// seed. Draw order per layer k ("layers.k"): ternary weights, γ, its norm
// (if Norm), its bias in [−0.1,0.1) (if Bias).
func RandomMLP(cfg MLPConfig, seed uint64) (*MLP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := newWeightSource(seed)
	m := &MLP{Config: cfg}
	ws := cfg.widths()
	for k := range len(ws) - 1 {
		b := w.ternary(fmt.Sprintf("layers.%d", k), ws[k+1], ws[k])
		if cfg.Norm {
			b.WithNorm(w.norm(ws[k]), cfg.NormEps)
		}
		m.Layers = append(m.Layers, b)
		if cfg.Bias {
			m.Biases = append(m.Biases, w.uniform(ws[k+1], -0.1, 0.1))
		}
	}
	return m, m.Validate()
}
