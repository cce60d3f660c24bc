package reference

import (
	"fmt"
	"math"
	"math/cmplx"
	"reflect"
	"slices"
	"testing"
)

var modes = []Mode{Float, Quantized}

func smallBitNet(t *testing.T, variant string, seed uint64, edit func(*BitNetConfig)) *BitNet {
	t.Helper()
	c, err := SmallBitNetConfig(variant)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&c)
	}
	m, err := RandomBitNet(c, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func equalRows(t *testing.T, what string, got, want [][]float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("%s: row %d differs:\n got %v\nwant %v", what, i, got[i], want[i])
		}
	}
}

var testTokens = []int{1, 17, 42, 5, 63, 0, 17}

func TestBitNetForwardEqualsStep(t *testing.T) {
	for _, variant := range []string{"2B4T", "1bitLLM"} {
		for _, mode := range modes {
			t.Run(variant+"/"+mode.String(), func(t *testing.T) {
				m := smallBitNet(t, variant, 7, nil)
				s := m.NewSession(mode)
				all := s.Forward(testTokens)
				if s.Pos() != len(testTokens) {
					t.Fatalf("Pos = %d after Forward", s.Pos())
				}
				s.Reset()
				var steps [][]float64
				for _, tok := range testTokens {
					steps = append(steps, s.Step(tok))
				}
				equalRows(t, "Step vs Forward", steps, all)
				// A prefill split in two chunks continues from the KV cache.
				s.Reset()
				chunks := append(s.Forward(testTokens[:3]), s.Forward(testTokens[3:])...)
				equalRows(t, "chunked Forward", chunks, all)
				for _, row := range all {
					for _, v := range row {
						if math.IsNaN(v) || math.IsInf(v, 0) {
							t.Fatalf("non-finite logit %v", v)
						}
					}
				}
			})
		}
	}
}

func TestBitNetCausal(t *testing.T) {
	for _, mode := range modes {
		m := smallBitNet(t, "2B4T", 3, nil)
		a := m.NewSession(mode).Forward([]int{4, 9, 33, 12})
		b := m.NewSession(mode).Forward([]int{4, 9, 33, 50})
		equalRows(t, "earlier positions", b[:3], a[:3])
		if slices.Equal(a[3], b[3]) {
			t.Fatalf("%v: changing the last token did not change its logits", mode)
		}
		// And an earlier change does reach later positions.
		c := m.NewSession(mode).Forward([]int{4, 10, 33, 12})
		if !slices.Equal(c[0], a[0]) || slices.Equal(c[3], a[3]) {
			t.Fatalf("%v: position 1 change must leave position 0 and change position 3", mode)
		}
	}
}

// mhaFromGQA duplicates every KV head of g so that each query head has its
// own copy: the MHA model must compute exactly the same function.
func mhaFromGQA(g *BitNet) *BitNet {
	c := g.Config
	group := c.Heads / c.KVHeads
	m := *g
	m.Config.KVHeads = c.Heads
	m.Layers = slices.Clone(g.Layers)
	dup := func(b *BitLinear) *BitLinear {
		nb := *b
		nb.Out = c.Heads * c.HeadDim
		nb.W = nil
		for h := range c.Heads {
			kvh := h / group
			nb.W = append(nb.W, b.W[kvh*c.HeadDim*b.In:(kvh+1)*c.HeadDim*b.In]...)
		}
		return &nb
	}
	for l := range m.Layers {
		m.Layers[l].K = dup(g.Layers[l].K)
		m.Layers[l].V = dup(g.Layers[l].V)
	}
	return &m
}

func TestBitNetGQAEqualsMHA(t *testing.T) {
	g := smallBitNet(t, "2B4T", 11, nil)
	if g.Config.KVHeads == g.Config.Heads {
		t.Fatal("small 2B4T config is not GQA")
	}
	m := mhaFromGQA(g)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, mode := range modes {
		equalRows(t, mode.String(), m.NewSession(mode).Forward(testTokens), g.NewSession(mode).Forward(testTokens))
	}
	// The mapping matters: pairing query heads with the wrong KV head
	// (j mod KVHeads instead of j / group) changes the result.
	bad := *m
	bad.Layers = slices.Clone(m.Layers)
	for l := range bad.Layers {
		k := *m.Layers[l].K
		c := g.Config
		k.W = nil
		for h := range c.Heads {
			kvh := h % c.KVHeads
			k.W = append(k.W, g.Layers[l].K.W[kvh*c.HeadDim*k.In:(kvh+1)*c.HeadDim*k.In]...)
		}
		bad.Layers[l].K = &k
	}
	a := g.NewSession(Float).Forward(testTokens)
	b := bad.NewSession(Float).Forward(testTokens)
	if slices.Equal(a[len(a)-1], b[len(b)-1]) {
		t.Fatal("wrong GQA pairing gave the same logits")
	}
}

func TestBitNetFloatCloseToQuantized(t *testing.T) {
	m := smallBitNet(t, "2B4T", 5, nil)
	f := m.NewSession(Float).Forward(testTokens)
	q := m.NewSession(Quantized).Forward(testTokens)
	for p := range f {
		scale, diff := 0.0, 0.0
		for i := range f[p] {
			scale = max(scale, math.Abs(f[p][i]))
			diff = max(diff, math.Abs(f[p][i]-q[p][i]))
		}
		if diff == 0 || diff > 0.1*scale {
			t.Fatalf("pos %d: max |float−quantized| = %v with logit range %v", p, diff, scale)
		}
	}
}

// rotate applies RoPE to one head through complex multiplication, written
// independently of RopeRotateHalf.
func rotate(x []float64, pos int, theta float64) []float64 {
	d := len(x)
	y := make([]float64, d)
	for i := range d / 2 {
		z := complex(x[i], x[i+d/2]) * cmplx.Exp(complex(0, float64(pos)*math.Pow(theta, -float64(2*i)/float64(d))))
		y[i], y[i+d/2] = real(z), imag(z)
	}
	return y
}

// TestBitNetAttentionFromTrace recomputes causal GQA attention from the
// recorded q, k, v projections and checks it against the recorded input of
// o_proj: the attention output itself without sub-norms, its RMSNorm with.
func TestBitNetAttentionFromTrace(t *testing.T) {
	for _, sub := range []bool{false, true} {
		testBitNetAttentionFromTrace(t, sub)
	}
}

func testBitNetAttentionFromTrace(t *testing.T, subNorms bool) {
	m := smallBitNet(t, "2B4T", 13, func(c *BitNetConfig) { c.SubNorms = subNorms })
	c := m.Config
	tr := &Trace{}
	s := m.NewSession(Float)
	s.Trace = tr
	s.Forward(testTokens[:4])
	group := c.Heads / c.KVHeads
	get := func(name string, pos int) Record {
		r, ok := tr.Get(name, pos)
		if !ok {
			t.Fatalf("no record %s@%d", name, pos)
		}
		return r
	}
	for l := range c.Layers {
		p := fmt.Sprintf("model.layers.%d.self_attn.", l)
		for pos := range 4 {
			want := make([]float64, 0, c.Dim)
			for h := range c.Heads {
				hs := func(v []float64, j int) []float64 { return v[j*c.HeadDim : (j+1)*c.HeadDim] }
				q := rotate(hs(get(p+"q_proj", pos).Output, h), pos, c.RopeTheta)
				var w []float64
				sum := 0.0
				for j := 0; j <= pos; j++ {
					k := rotate(hs(get(p+"k_proj", j).Output, h/group), j, c.RopeTheta)
					e := math.Exp(dot(q, k) / math.Sqrt(float64(c.HeadDim)))
					w = append(w, e)
					sum += e
				}
				o := make([]float64, c.HeadDim)
				for j := 0; j <= pos; j++ {
					v := hs(get(p+"v_proj", j).Output, h/group)
					for i := range o {
						o[i] += w[j] / sum * v[i]
					}
				}
				want = append(want, o...)
			}
			if subNorms {
				// §1.2 SubLN: RMSNorm(concat_heads(o), attn_sub_norm) before o_proj.
				want = rmsRef(want, m.Layers[l].AttnSubNorm, c.Eps)
			}
			got := get(p+"o_proj", pos).Input
			for i := range got {
				if math.Abs(got[i]-want[i]) > 1e-12*(1+math.Abs(want[i])) {
					t.Fatalf("layer %d pos %d: attention[%d] = %v, want %v", l, pos, i, got[i], want[i])
				}
			}
		}
	}
}

// TestBitNetFFNFromTrace checks the SubLN and the activation of each variant:
// down_proj sees RMSNorm(act(gate)·up, ffn_sub_norm).
func TestBitNetFFNFromTrace(t *testing.T) {
	acts := map[string]func(float64) float64{
		"2B4T":    func(x float64) float64 { return math.Pow(math.Max(x, 0), 2) },
		"1bitLLM": func(x float64) float64 { return x / (1 + math.Exp(-x)) },
	}
	for variant, act := range acts {
		for _, mode := range modes {
			m := smallBitNet(t, variant, 17, nil)
			tr := &Trace{}
			s := m.NewSession(mode)
			s.Trace = tr
			s.Forward(testTokens[:3])
			for l := range m.Config.Layers {
				p := fmt.Sprintf("model.layers.%d.mlp.", l)
				for pos := range 3 {
					g, _ := tr.Get(p+"gate_proj", pos)
					u, _ := tr.Get(p+"up_proj", pos)
					d, ok := tr.Get(p+"down_proj", pos)
					if !ok {
						t.Fatalf("missing records at %s@%d", p, pos)
					}
					mm := make([]float64, len(g.Output))
					ms := 0.0
					for i := range mm {
						mm[i] = act(g.Output[i]) * u.Output[i]
						ms += mm[i] * mm[i]
					}
					r := 1 / math.Sqrt(ms/float64(len(mm))+m.Config.Eps)
					for i := range mm {
						want := mm[i] * r * m.Layers[l].FFNSubNorm[i]
						if math.Abs(d.Input[i]-want) > 1e-12*(1+math.Abs(want)) {
							t.Fatalf("%s %v layer %d pos %d: down input[%d] = %v, want %v", variant, mode, l, pos, i, d.Input[i], want)
						}
					}
					// q, k, v (and gate, up) share one quantized input.
					if mode == Quantized && !slices.Equal(g.Xq, u.Xq) {
						t.Fatal("gate and up quantized differently")
					}
				}
			}
		}
	}
}

// TestBitNetQuantizedTrace checks every recorded integer result against an
// int64 recomputation from the record's own int8 input, and the dequantized
// output y = dot·γ/s_x.
func TestBitNetQuantizedTrace(t *testing.T) {
	m := smallBitNet(t, "2B4T", 19, nil)
	tr := &Trace{}
	s := m.NewSession(Quantized)
	s.Trace = tr
	s.Forward(testTokens[:3])
	byName := map[string]*BitLinear{}
	for _, ly := range m.Layers {
		for _, b := range []*BitLinear{ly.Q, ly.K, ly.V, ly.O, ly.Gate, ly.Up, ly.Down} {
			byName[b.Name] = b
		}
	}
	if want := 3 * 7 * m.Config.Layers; len(tr.Records) != want {
		t.Fatalf("%d records, want %d (7 BitLinears per layer per token)", len(tr.Records), want)
	}
	for _, r := range tr.Records {
		b := byName[r.Name]
		xq, sx := QuantizeActivations(r.Input)
		if sx != r.ScaleX || !slices.Equal(xq, r.Xq) {
			t.Fatalf("%s@%d: recorded quantization differs", r.Name, r.Pos)
		}
		maxq := 0
		for _, v := range r.Xq {
			maxq = max(maxq, int(v), -int(v))
		}
		if maxq != 127 {
			t.Fatalf("%s@%d: absmax element quantized to %d, want 127", r.Name, r.Pos, maxq)
		}
		for o := range b.Out {
			var acc int64
			for i := range b.In {
				acc += int64(b.W[o*b.In+i]) * int64(r.Xq[i])
			}
			if int64(r.Dot[o]) != acc || r.Output[o] != float64(acc)*b.Gamma/r.ScaleX {
				t.Fatalf("%s@%d row %d: dot %d y %v, want %d", r.Name, r.Pos, o, r.Dot[o], r.Output[o], acc)
			}
		}
	}
	// Forward and Step record the same integers.
	tr2 := &Trace{}
	s.Reset()
	s.Trace = tr2
	for _, tok := range testTokens[:3] {
		s.Step(tok)
	}
	for _, r := range tr.Records {
		r2, ok := tr2.Get(r.Name, r.Pos)
		if !ok || !slices.Equal(r.Dot, r2.Dot) || !slices.Equal(r.Xq, r2.Xq) {
			t.Fatalf("%s@%d: Step trace differs from Forward trace", r.Name, r.Pos)
		}
	}
}

func TestBitNetUntiedHead(t *testing.T) {
	m := smallBitNet(t, "1bitLLM", 23, func(c *BitNetConfig) { c.TiedOutput = false })
	if m.Output == nil {
		t.Fatal("untied model has no output head")
	}
	a := m.NewSession(Float).Forward(testTokens[:2])
	tied := *m
	tied.Config.TiedOutput = true
	b := tied.NewSession(Float).Forward(testTokens[:2])
	if slices.Equal(a[1], b[1]) {
		t.Fatal("output head ignored")
	}
	// Logits are the head's rows dotted with the final normed state, so
	// swapping the head for the embedding table in the untied model must
	// reproduce the tied logits.
	emb := m.Embed
	swapped := *m
	swapped.Output = &emb
	equalRows(t, "head = embedding", swapped.NewSession(Float).Forward(testTokens[:2]), b)
}

func TestBitNetGreedy(t *testing.T) {
	m := smallBitNet(t, "2B4T", 29, nil)
	for _, mode := range modes {
		s := m.NewSession(mode)
		prompt := []int{3, 14, 15}
		got := s.Greedy(prompt, 5)
		if len(got) != 5 {
			t.Fatalf("%d tokens, want 5", len(got))
		}
		// Recompute each token from a fresh full Forward over the sequence so far.
		seq := slices.Clone(prompt)
		for i := range 5 {
			logits := m.NewSession(mode).Forward(seq)
			next := Argmax(logits[len(logits)-1])
			if next != got[i] {
				t.Fatalf("%v token %d: Greedy gave %d, Forward argmax %d", mode, i, got[i], next)
			}
			seq = append(seq, next)
		}
		if s.Pos() != len(prompt)+4 {
			t.Fatalf("Pos = %d, want %d", s.Pos(), len(prompt)+4)
		}
	}
}

func TestRandomBitNetDeterministic(t *testing.T) {
	a := smallBitNet(t, "2B4T", 42, nil)
	b := smallBitNet(t, "2B4T", 42, nil)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different models")
	}
	c := smallBitNet(t, "2B4T", 43, nil)
	if reflect.DeepEqual(a.Embed, c.Embed) || slices.Equal(a.Layers[0].Q.W, c.Layers[0].Q.W) {
		t.Fatal("different seeds, same weights")
	}
	// Shapes of the small configs (GQA 4:2 for 2B4T, MHA for 1bitLLM).
	if a.Layers[0].K.Out != 2*8 || a.Layers[0].Q.Out != 32 || a.Layers[1].Down.In != 96 {
		t.Fatalf("unexpected shapes: k %d q %d down.in %d", a.Layers[0].K.Out, a.Layers[0].Q.Out, a.Layers[1].Down.In)
	}
	for _, w := range a.Layers[1].Gate.W {
		if w < -1 || w > 1 {
			t.Fatalf("non-ternary weight %d", w)
		}
	}
}

func TestBitNetValidate(t *testing.T) {
	m := smallBitNet(t, "2B4T", 1, nil)
	bad := *m
	bad.Layers = slices.Clone(m.Layers)
	bad.Layers[1].FFNSubNorm = bad.Layers[1].FFNSubNorm[:3]
	if err := bad.Validate(); err == nil {
		t.Fatal("short ffn_sub_norm accepted")
	}
	c := m.Config
	c.KVHeads = 3
	if err := c.Validate(); err == nil {
		t.Fatal("4 heads over 3 KV heads accepted")
	}
	if _, err := SmallBitNetConfig("3B"); err == nil {
		t.Fatal("unknown variant accepted")
	}
	for _, c := range []BitNetConfig{Config2B4T(), Config1bitLLMLarge()} {
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	}
}
