package reference

import "fmt"

// MMFreeEps is the RMSNorm epsilon of every norm in the MatMul-free LM: the
// block norms (config rms_norm_eps) and the norm inside each FusedBitLinear,
// whose fused forward uses the default 1e-6 of layer_norm_linear_quant_fn
// rather than the module's unused 1e-8 (architectures.md §2.4).
const MMFreeEps = 1e-6

// MMFreeFFN returns the GLU inner width when intermediate_size is null:
// 256·ceil(int(d·hidden_ratio·2/3)/256) (architectures.md §2.1, MMF
// HGRNBitMLP). MMFreeFFN(1024, 4) = 2816.
func MMFreeFFN(d, hiddenRatio int) int {
	i := d * hiddenRatio * 2 / 3 // int() truncation of a positive value
	return 256 * ((i + 255) / 256)
}

// MMFreeConfig holds the hyper-parameters of a MatMul-free LM (HGRN-bit,
// architectures.md §2.1). There is no positional encoding, one head and
// expand ratio 1, so each layer's recurrent state is one d-vector.
type MMFreeConfig struct {
	Name          string
	Vocab         int
	Dim           int
	Layers        int
	FFN           int     // GLU inner width I (gate_proj is 2I×d)
	Eps           float64 // 1e-6 (MMFreeEps)
	UseLowerBound bool    // use_lower_bound: true in the released configs
}

// ConfigMMFree370M returns ridger/MMfreeLM-370M (architectures.md §2.1).
func ConfigMMFree370M() MMFreeConfig {
	return MMFreeConfig{Name: "MMfreeLM-370M", Vocab: 32000, Dim: 1024, Layers: 24, FFN: MMFreeFFN(1024, 4), Eps: MMFreeEps, UseLowerBound: true}
}

// SmallMMFreeConfig returns a small model for tests: vocab 64, d 32, 2
// layers, FFN 96, eps 1e-6, lower bounds on.
func SmallMMFreeConfig() MMFreeConfig {
	return MMFreeConfig{Name: "small-mmfree", Vocab: 64, Dim: 32, Layers: 2, FFN: 96, Eps: MMFreeEps, UseLowerBound: true}
}

// Validate checks that the hyper-parameters are consistent.
func (c MMFreeConfig) Validate() error {
	if c.Vocab <= 0 || c.Dim <= 0 || c.Layers <= 0 || c.FFN <= 0 || c.Eps < 0 {
		return fmt.Errorf("reference: %s: bad sizes or eps: %+v", c.Name, c)
	}
	return nil
}

// MMFreeLayer is one HGRN-bit block. Every BitLinear is a FusedBitLinear
// (its own RMSNorm, architectures.md §2.4); names follow §2.6 without
// ".weight", e.g. "model.layers.0.attn.i_proj", "model.layers.0.mlp.gate_proj".
type MMFreeLayer struct {
	AttnNorm   []float64 // attn_norm [d]
	I, F, G, O *BitLinear
	GNorm      []float64  // attn.g_norm [d]
	MLPNorm    []float64  // mlp_norm [d]
	GateProj   *BitLinear // [2I, d]: first half gate, second half value
	Down       *BitLinear // [d, I]
}

// MMFree holds the float64 weights of a MatMul-free LM.
type MMFree struct {
	Config      MMFreeConfig
	Embed       Matrix // model.embeddings [Vocab, d], full precision
	LowerBounds Matrix // model.lower_bounds [L, d], raw parameter
	Layers      []MMFreeLayer
	Norm        []float64  // model.norm [d]
	LMHead      *BitLinear // lm_head [Vocab, d], fused (lm_head.norm)
}

// Validate checks every tensor against the configuration.
func (m *MMFree) Validate() error {
	c := m.Config
	if err := c.Validate(); err != nil {
		return err
	}
	if err := m.Embed.check("model.embeddings", c.Vocab, c.Dim); err != nil {
		return err
	}
	if err := m.LowerBounds.check("model.lower_bounds", c.Layers, c.Dim); err != nil {
		return err
	}
	if len(m.Layers) != c.Layers {
		return fmt.Errorf("%w: %d layers, want %d", ErrShape, len(m.Layers), c.Layers)
	}
	for l, ly := range m.Layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		for _, e := range []error{
			checkVec(p+"attn_norm", ly.AttnNorm, c.Dim),
			ly.I.check(c.Dim, c.Dim, true), ly.F.check(c.Dim, c.Dim, true),
			ly.G.check(c.Dim, c.Dim, true), ly.O.check(c.Dim, c.Dim, true),
			checkVec(p+"attn.g_norm", ly.GNorm, c.Dim),
			checkVec(p+"mlp_norm", ly.MLPNorm, c.Dim),
			ly.GateProj.check(2*c.FFN, c.Dim, true),
			ly.Down.check(c.Dim, c.FFN, true),
		} {
			if e != nil {
				return e
			}
		}
	}
	if err := checkVec("model.norm", m.Norm, c.Dim); err != nil {
		return err
	}
	return m.LMHead.check(c.Vocab, c.Dim, true)
}

// LayerLowerBounds returns the lower bound of each layer's forget gate
// (architectures.md §2.2, MMF HGRNBitModel.forward):
//
//	lb = softmax(lower_bounds, dim=0)     (across layers, per channel)
//	lb = cumsum(lb, dim=0) − lb[0]
//
// so layer 0 gets 0. Without UseLowerBound every bound is 0.
func (m *MMFree) LayerLowerBounds() [][]float64 {
	c := m.Config
	lb := make([][]float64, c.Layers)
	for l := range lb {
		lb[l] = make([]float64, c.Dim)
	}
	if !c.UseLowerBound {
		return lb
	}
	col := make([]float64, c.Layers)
	for ch := range c.Dim {
		for l := range c.Layers {
			col[l] = m.LowerBounds.Row(l)[ch]
		}
		p := Softmax(col)
		cum := 0.0
		for l := range c.Layers {
			cum += p[l]
			lb[l][ch] = cum - p[0]
		}
	}
	return lb
}

// MLGRUCell is the elementwise part of the MLGRU token mixer as the released
// code computes it (architectures.md §2.2, §7 MatMul-free item 2), given the
// projections iPre = BitLinear_i(x), fPre = BitLinear_f(x), g = BitLinear_g(x):
//
//	f = sigmoid(fPre);  f = lb + (1 − lb)·f       (lb = 0 for layer 0)
//	i = silu(iPre)·(1 − f)
//	h = f⊙h + i                                  (h updated in place)
//	o = RMSNorm(g, gNorm, eps) ⊙ h ⊙ sigmoid(h)  (norm on g, swish on h)
//
// It returns o, the input of BitLinear_o. lb nil means no lower bound.
func MLGRUCell(iPre, fPre, g, lb, h, gNorm []float64, eps float64) []float64 {
	for k := range h {
		f := Sigmoid(fPre[k])
		if lb != nil {
			f = lb[k] + (1-lb[k])*f
		}
		i := SiLU(iPre[k]) * (1 - f)
		h[k] = f*h[k] + i
	}
	o := RMSNorm(g, gNorm, eps)
	for k := range o {
		o[k] *= h[k] * Sigmoid(h[k])
	}
	return o
}

// MMFreeSession holds one sequence's recurrent state: one d-vector per layer.
type MMFreeSession struct {
	Model *MMFree
	Mode  Mode
	// Trace, when not nil, receives a Record for every BitLinear evaluated.
	Trace *Trace
	h     [][]float64
	lb    [][]float64
	pos   int
}

// NewSession returns a session with zero state evaluating m in the given mode.
func (m *MMFree) NewSession(mode Mode) *MMFreeSession {
	s := &MMFreeSession{Model: m, Mode: mode, lb: m.LayerLowerBounds()}
	s.Reset()
	return s
}

// Reset zeroes the recurrent state; the next token is at position 0.
func (s *MMFreeSession) Reset() {
	s.h = make([][]float64, s.Model.Config.Layers)
	for l := range s.h {
		s.h[l] = make([]float64, s.Model.Config.Dim)
	}
	s.pos = 0
}

// Pos is the number of tokens consumed since the last Reset.
func (s *MMFreeSession) Pos() int { return s.pos }

// State returns a copy of layer l's recurrent state h.
func (s *MMFreeSession) State(l int) []float64 { return append([]float64(nil), s.h[l]...) }

// Step consumes one token and returns its logits.
func (s *MMFreeSession) Step(token int) []float64 { return s.Forward([]int{token})[0] }

// Greedy resets the session, runs prompt and decodes n tokens greedily
// (argmax, ties to the lowest id); it returns the n generated tokens.
func (s *MMFreeSession) Greedy(prompt []int, n int) []int {
	s.Reset()
	return greedy(s.Forward, s.Step, prompt, n)
}

// Forward consumes tokens (continuing from the current state) and returns
// the logits of each, running layer by layer over all tokens
// (architectures.md §2.5):
//
//	h = Embed[token]
//	r = h; x = RMSNorm(h, attn_norm); a = MLGRU_l(x)
//	s = a + r; x2 = RMSNorm(s, mlp_norm); h = s + MLP_l(x2)
//	logits = FusedBitLinear_lm_head(RMSNorm(h, norm))
//
// with MLP_l(x) = down(silu(gate)·y), [gate, y] = gate_proj(x) (§2.3).
func (s *MMFreeSession) Forward(tokens []int) [][]float64 {
	m, c := s.Model, s.Model.Config
	n := len(tokens)
	h := make([][]float64, n)
	for t, tok := range tokens {
		if tok < 0 || tok >= c.Vocab {
			panic(fmt.Sprintf("reference: token %d outside vocabulary of %d", tok, c.Vocab))
		}
		h[t] = append([]float64(nil), m.Embed.Row(tok)...)
	}
	for l := range m.Layers {
		ly := &m.Layers[l]
		var lb []float64
		if l > 0 && c.UseLowerBound { // §2.2: layer 0 is skipped explicitly
			lb = s.lb[l]
		}
		for t := range n {
			pos := s.pos + t
			x := RMSNorm(h[t], ly.AttnNorm, c.Eps)
			iPre := eval(ly.I, x, s.Mode, pos, s.Trace)
			fPre := eval(ly.F, x, s.Mode, pos, s.Trace)
			g := eval(ly.G, x, s.Mode, pos, s.Trace)
			o := MLGRUCell(iPre, fPre, g, lb, s.h[l], ly.GNorm, c.Eps)
			a := eval(ly.O, o, s.Mode, pos, s.Trace)
			for k := range h[t] {
				h[t][k] += a[k] // s = a + r (fused add, prenorm residual)
			}
			x2 := RMSNorm(h[t], ly.MLPNorm, c.Eps)
			gy := eval(ly.GateProj, x2, s.Mode, pos, s.Trace)
			z := make([]float64, c.FFN)
			for k := range z {
				z[k] = SiLU(gy[k]) * gy[c.FFN+k] // §2.3: first half = gate
			}
			d := eval(ly.Down, z, s.Mode, pos, s.Trace)
			for k := range h[t] {
				h[t][k] += d[k]
			}
		}
	}
	logits := make([][]float64, n)
	for t := range n {
		// §2.5: model.norm, then lm_head's own norm inside the FusedBitLinear.
		logits[t] = eval(m.LMHead, RMSNorm(h[t], m.Norm, c.Eps), s.Mode, s.pos+t, s.Trace)
	}
	s.pos += n
	return logits
}
