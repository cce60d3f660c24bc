package reference

import (
	"fmt"
	"math"
)

// Activation is the gated-FFN activation of a BitNet model.
type Activation int

const (
	// ActReLU2 is max(x,0)², HF hidden_act "relu2" (2B4T).
	ActReLU2 Activation = iota
	// ActSiLU is x·sigmoid(x), HF hidden_act "silu" (1bitLLM).
	ActSiLU
)

func (a Activation) apply(x float64) float64 {
	switch a {
	case ActReLU2:
		return ReLU2(x)
	case ActSiLU:
		return SiLU(x)
	}
	panic(fmt.Sprintf("reference: unknown activation %d", int(a)))
}

// BitNetConfig holds the hyper-parameters of a BitNet b1.58 model
// (architectures.md §1.1).
type BitNetConfig struct {
	Name      string
	Vocab     int
	Dim       int // d
	Layers    int
	Heads     int
	KVHeads   int // < Heads for GQA (2B4T), = Heads for MHA (1bitLLM)
	HeadDim   int // Heads·HeadDim must equal Dim (the attention sub-norm has width d)
	FFN       int // FFN inner width
	RopeTheta float64
	Eps       float64 // RMSNorm epsilon of every norm
	Act       Activation
	// SubNorms adds the two SubLN norms (attn_sub_norm before o_proj,
	// ffn_sub_norm before down_proj). Both published families have them
	// (architectures.md §1.2: the 1bitLLM models are "identical except
	// activation SiLU and MHA"; §1.5 maps their inner_attn_ln/ffn_layernorm).
	// LLaMA-architecture ternary fine-tunes (§1.1) do not.
	SubNorms bool
	// TiedOutput computes logits with the embedding table (architectures.md
	// §1.2, both published families); otherwise BitNet.Output is used. The
	// output head is full precision in either case (§7 BitNet item 8).
	TiedOutput bool
}

// Config2B4T returns microsoft/bitnet-b1.58-2B-4T (architectures.md §1.1).
func Config2B4T() BitNetConfig {
	return BitNetConfig{Name: "bitnet-b1.58-2B-4T", Vocab: 128256, Dim: 2560, Layers: 30, Heads: 20, KVHeads: 5,
		HeadDim: 128, FFN: 6912, RopeTheta: 500000, Eps: 1e-5, Act: ActReLU2, SubNorms: true, TiedOutput: true}
}

// Config1bitLLMLarge returns 1bitLLM/bitnet_b1_58-large (architectures.md §1.1).
func Config1bitLLMLarge() BitNetConfig {
	return BitNetConfig{Name: "bitnet_b1_58-large", Vocab: 32002, Dim: 1536, Layers: 24, Heads: 16, KVHeads: 16,
		HeadDim: 96, FFN: 4096, RopeTheta: 10000, Eps: 1e-5, Act: ActSiLU, SubNorms: true, TiedOutput: true}
}

// SmallBitNetConfig returns a small model of the given variant for tests:
// vocab 64, d 32, 2 layers, FFN 96, head_dim 8, 4 heads; "2B4T" has 2 KV
// heads, ReLU² and θ = 500000, "1bitLLM" has 4 KV heads, SiLU and θ = 10000.
// Both have sub-norms, eps 1e-5 and a tied output head.
func SmallBitNetConfig(variant string) (BitNetConfig, error) {
	c := BitNetConfig{Vocab: 64, Dim: 32, Layers: 2, Heads: 4, HeadDim: 8, FFN: 96, Eps: 1e-5, SubNorms: true, TiedOutput: true}
	switch variant {
	case "2B4T":
		c.Name, c.KVHeads, c.RopeTheta, c.Act = "small-2B4T", 2, 500000, ActReLU2
	case "1bitLLM":
		c.Name, c.KVHeads, c.RopeTheta, c.Act = "small-1bitLLM", 4, 10000, ActSiLU
	default:
		return BitNetConfig{}, fmt.Errorf("reference: unknown BitNet variant %q (want 2B4T or 1bitLLM)", variant)
	}
	return c, nil
}

// Validate checks that the hyper-parameters are consistent.
func (c BitNetConfig) Validate() error {
	switch {
	case c.Vocab <= 0 || c.Dim <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.KVHeads <= 0 || c.HeadDim <= 0 || c.FFN <= 0:
		return fmt.Errorf("reference: %s: sizes must be positive: %+v", c.Name, c)
	case c.Heads%c.KVHeads != 0:
		return fmt.Errorf("reference: %s: %d heads not a multiple of %d KV heads", c.Name, c.Heads, c.KVHeads)
	case c.HeadDim%2 != 0:
		return fmt.Errorf("reference: %s: RoPE needs an even head_dim, got %d", c.Name, c.HeadDim)
	case c.Heads*c.HeadDim != c.Dim:
		return fmt.Errorf("reference: %s: heads·head_dim = %d, want d = %d", c.Name, c.Heads*c.HeadDim, c.Dim)
	case !(c.RopeTheta > 0) || c.Eps < 0:
		return fmt.Errorf("reference: %s: bad θ %v or eps %v", c.Name, c.RopeTheta, c.Eps)
	}
	return nil
}

// BitNetLayer is one decoder block. BitLinear names follow the HF tensor
// names without ".weight" (architectures.md §1.5), e.g.
// "model.layers.0.self_attn.q_proj", "model.layers.0.mlp.down_proj".
type BitNetLayer struct {
	AttnNorm    []float64 // input_layernorm [d]
	Q, K, V, O  *BitLinear
	AttnSubNorm []float64 // attn_sub_norm [d]; nil without sub-norms
	FFNNorm     []float64 // post_attention_layernorm [d]
	Gate, Up    *BitLinear
	Down        *BitLinear
	FFNSubNorm  []float64 // ffn_sub_norm [FFN]; nil without sub-norms
}

// BitNet holds the float64 weights of a BitNet b1.58 model.
type BitNet struct {
	Config BitNetConfig
	Embed  Matrix // [Vocab, Dim], full precision
	Layers []BitNetLayer
	Norm   []float64 // model.norm [d]
	Output *Matrix   // [Vocab, Dim] full-precision head; nil when tied
}

// Validate checks every tensor against the configuration.
func (m *BitNet) Validate() error {
	c := m.Config
	if err := c.Validate(); err != nil {
		return err
	}
	if err := m.Embed.check("embed_tokens", c.Vocab, c.Dim); err != nil {
		return err
	}
	if len(m.Layers) != c.Layers {
		return fmt.Errorf("%w: %d layers, want %d", ErrShape, len(m.Layers), c.Layers)
	}
	kv := c.KVHeads * c.HeadDim
	for l, ly := range m.Layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		for _, e := range []error{
			checkVec(p+"input_layernorm", ly.AttnNorm, c.Dim),
			ly.Q.check(c.Heads*c.HeadDim, c.Dim, false),
			ly.K.check(kv, c.Dim, false),
			ly.V.check(kv, c.Dim, false),
			ly.O.check(c.Dim, c.Heads*c.HeadDim, false),
			checkVec(p+"post_attention_layernorm", ly.FFNNorm, c.Dim),
			ly.Gate.check(c.FFN, c.Dim, false),
			ly.Up.check(c.FFN, c.Dim, false),
			ly.Down.check(c.Dim, c.FFN, false),
		} {
			if e != nil {
				return e
			}
		}
		if c.SubNorms {
			if err := checkVec(p+"self_attn.attn_sub_norm", ly.AttnSubNorm, c.Dim); err != nil {
				return err
			}
			if err := checkVec(p+"mlp.ffn_sub_norm", ly.FFNSubNorm, c.FFN); err != nil {
				return err
			}
		}
	}
	if err := checkVec("model.norm", m.Norm, c.Dim); err != nil {
		return err
	}
	if !c.TiedOutput {
		if m.Output == nil {
			return fmt.Errorf("%w: untied model without an output head", ErrShape)
		}
		return m.Output.check("lm_head", c.Vocab, c.Dim)
	}
	return nil
}

// BitNetSession holds one sequence's KV cache.
type BitNetSession struct {
	Model *BitNet
	Mode  Mode
	// Trace, when not nil, receives a Record for every BitLinear evaluated.
	Trace *Trace
	k, v  [][][]float64 // [layer][position] → [KVHeads·HeadDim], keys after RoPE
}

// NewSession returns an empty session evaluating m in the given mode.
func (m *BitNet) NewSession(mode Mode) *BitNetSession {
	s := &BitNetSession{Model: m, Mode: mode}
	s.Reset()
	return s
}

// Reset empties the KV cache; the next token is at position 0.
func (s *BitNetSession) Reset() {
	s.k = make([][][]float64, s.Model.Config.Layers)
	s.v = make([][][]float64, s.Model.Config.Layers)
}

// Pos is the number of positions in the KV cache (the position of the next token).
func (s *BitNetSession) Pos() int { return len(s.k[0]) }

// Step appends one token and returns its logits.
func (s *BitNetSession) Step(token int) []float64 { return s.Forward([]int{token})[0] }

// Greedy resets the session, runs prompt and decodes n tokens greedily
// (argmax, ties to the lowest id); it returns the n generated tokens.
func (s *BitNetSession) Greedy(prompt []int, n int) []int {
	s.Reset()
	return greedy(s.Forward, s.Step, prompt, n)
}

// Forward appends tokens to the sequence (a prefill continuing from Pos) and
// returns the logits of each of them. It runs layer by layer over all the
// tokens (architectures.md §1.2):
//
//	h0 = Embed[token]
//	a = RMSNorm(h, input_layernorm); q,k,v = BitLinear_{q,k,v}(a); RoPE(q,k,pos)
//	o = softmax(q·kᵀ/sqrt(head_dim) + causal)·v, q head j reads kv head j/(Heads/KVHeads)
//	o = RMSNorm(concat(o), attn_sub_norm); h = h + BitLinear_o(o)
//	f = RMSNorm(h, post_attention_layernorm); m = act(BitLinear_gate(f))·BitLinear_up(f)
//	m = RMSNorm(m, ffn_sub_norm); h = h + BitLinear_down(m)
//	logits = Embed·RMSNorm(h, norm)   (tied, full precision)
func (s *BitNetSession) Forward(tokens []int) [][]float64 {
	m, c := s.Model, s.Model.Config
	p0 := s.Pos()
	n := len(tokens)
	h := make([][]float64, n)
	for t, tok := range tokens {
		if tok < 0 || tok >= c.Vocab {
			panic(fmt.Sprintf("reference: token %d outside vocabulary of %d", tok, c.Vocab))
		}
		h[t] = append([]float64(nil), m.Embed.Row(tok)...)
	}
	group := c.Heads / c.KVHeads
	scale := 1 / math.Sqrt(float64(c.HeadDim)) // §1.2: scaling = head_dim**-0.5
	for l := range m.Layers {
		ly := &m.Layers[l]
		q := make([][]float64, n)
		for t := range n {
			pos := p0 + t
			a := RMSNorm(h[t], ly.AttnNorm, c.Eps)
			// §1.3 / §7 item 3: q, k, v are each quantized from the same input a.
			q[t] = eval(ly.Q, a, s.Mode, pos, s.Trace)
			k := eval(ly.K, a, s.Mode, pos, s.Trace)
			v := eval(ly.V, a, s.Mode, pos, s.Trace)
			for hd := range c.Heads {
				RopeRotateHalf(q[t][hd*c.HeadDim:(hd+1)*c.HeadDim], pos, c.RopeTheta)
			}
			for hd := range c.KVHeads {
				RopeRotateHalf(k[hd*c.HeadDim:(hd+1)*c.HeadDim], pos, c.RopeTheta)
			}
			s.k[l] = append(s.k[l], k)
			s.v[l] = append(s.v[l], v)
		}
		for t := range n {
			pos := p0 + t
			o := make([]float64, c.Heads*c.HeadDim)
			for hd := range c.Heads {
				kvh := hd / group // §7 item 7: q head j → kv head j / (Heads/KVHeads)
				qh := q[t][hd*c.HeadDim : (hd+1)*c.HeadDim]
				// Causal: position pos sees cache positions 0..pos only.
				sc := make([]float64, pos+1)
				for j := range pos + 1 {
					sc[j] = dot(qh, s.k[l][j][kvh*c.HeadDim:(kvh+1)*c.HeadDim]) * scale
				}
				pr := Softmax(sc)
				oh := o[hd*c.HeadDim : (hd+1)*c.HeadDim]
				for j := range pos + 1 {
					vj := s.v[l][j][kvh*c.HeadDim : (kvh+1)*c.HeadDim]
					for i := range oh {
						oh[i] += pr[j] * vj[i]
					}
				}
			}
			if c.SubNorms {
				o = RMSNorm(o, ly.AttnSubNorm, c.Eps) // §1.2 SubLN before o_proj
			}
			ao := eval(ly.O, o, s.Mode, pos, s.Trace)
			for i := range h[t] {
				h[t][i] += ao[i]
			}
			f := RMSNorm(h[t], ly.FFNNorm, c.Eps)
			g := eval(ly.Gate, f, s.Mode, pos, s.Trace)
			u := eval(ly.Up, f, s.Mode, pos, s.Trace)
			mm := make([]float64, c.FFN)
			for i := range mm {
				mm[i] = c.Act.apply(g[i]) * u[i] // §1.2: act(g)·u
			}
			if c.SubNorms {
				mm = RMSNorm(mm, ly.FFNSubNorm, c.Eps) // §1.2 SubLN before down_proj
			}
			d := eval(ly.Down, mm, s.Mode, pos, s.Trace)
			for i := range h[t] {
				h[t][i] += d[i]
			}
		}
	}
	head := m.Embed
	if !c.TiedOutput {
		head = *m.Output
	}
	logits := make([][]float64, n)
	for t := range n {
		logits[t] = head.MulVec(RMSNorm(h[t], m.Norm, c.Eps))
	}
	return logits
}
