package reference

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
)

func smallMMFree(t *testing.T, seed uint64) *MMFree {
	t.Helper()
	m, err := RandomMMFree(SmallMMFreeConfig(), seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*(1+math.Abs(b)) }

func TestLayerLowerBoundsHand(t *testing.T) {
	// Channel 0: raw [0 0 0] → softmax [1/3 1/3 1/3] → cumsum − first = [0 1/3 2/3].
	// Channel 1: raw [0 ln2 ln5] → softmax [1/8 2/8 5/8] → [0 1/4 7/8].
	m := &MMFree{Config: MMFreeConfig{Layers: 3, Dim: 2, UseLowerBound: true},
		LowerBounds: Matrix{Rows: 3, Cols: 2, Data: []float64{0, 0, 0, math.Log(2), 0, math.Log(5)}}}
	lb := m.LayerLowerBounds()
	want := [][]float64{{0, 0}, {1.0 / 3, 0.25}, {2.0 / 3, 0.875}}
	for l := range want {
		for c := range want[l] {
			if !near(lb[l][c], want[l][c], 1e-15) {
				t.Fatalf("lb = %v, want %v", lb, want)
			}
		}
	}
	m.Config.UseLowerBound = false
	for _, row := range m.LayerLowerBounds() {
		if !slices.Equal(row, []float64{0, 0}) {
			t.Fatal("UseLowerBound false must give zero bounds")
		}
	}
}

func TestMLGRUCellTwoSteps(t *testing.T) {
	// d = 2, lb = [0 0.5], g_norm = [1 2], eps 0. Expected values worked out
	// by hand from §2.2 (decimals from an independent calculator):
	// step 1: f = [σ(0), 0.5+0.5σ(0)] = [0.5 0.75]; i = [silu(1)·0.5, silu(−1)·0.25];
	//   h = i = [0.36552928931500245 −0.06723535534249878];
	//   RMSNorm([3 4]) = [3 4]/sqrt(12.5)·[1 2]; o = that ⊙ h ⊙ σ(h).
	// step 2: fPre = [ln 3, −1] (σ(ln 3) = 0.75), iPre = [2 0.5], g = [1 −1]:
	//   h0 = 0.75·0.36552928931500245 + silu(2)·0.25 = 0.7145455059751931.
	lb := []float64{0, 0.5}
	gn := []float64{1, 2}
	h := make([]float64, 2)
	o := MLGRUCell([]float64{1, -1}, []float64{0, 0}, []float64{3, 4}, lb, h, gn, 0)
	check := func(step int, got, want []float64) {
		t.Helper()
		for i := range want {
			if !near(got[i], want[i], 1e-15) {
				t.Fatalf("step %d: got %v, want %v", step, got, want)
			}
		}
	}
	check(1, h, []float64{0.36552928931500245, -0.06723535534249878})
	check(1, o, []float64{0.18311283426338198, -0.07351185045602394})
	o = MLGRUCell([]float64{2, 0.5}, []float64{math.Log(3), -1}, []float64{1, -1}, lb, h, gn, 0)
	check(2, h, []float64{0.7145455059751931, 0.07110469479353926})
	check(2, o, []float64{0.4797492620815429, -0.07363156906349082})

	// Without a lower bound f is the plain sigmoid: f = 0.5, i = silu(1)·0.5.
	h = []float64{1}
	MLGRUCell([]float64{1}, []float64{0}, []float64{1}, nil, h, nil, 0)
	if want := 0.5 + 0.36552928931500245; !near(h[0], want, 1e-15) {
		t.Fatalf("no lower bound: h = %v, want %v", h[0], want)
	}
}

func TestMMFreeForwardEqualsStep(t *testing.T) {
	for _, mode := range modes {
		m := smallMMFree(t, 7)
		s := m.NewSession(mode)
		all := s.Forward(testTokens)
		st := make([][]float64, m.Config.Layers)
		for l := range st {
			st[l] = s.State(l)
		}
		s.Reset()
		var steps [][]float64
		for _, tok := range testTokens {
			steps = append(steps, s.Step(tok))
		}
		equalRows(t, mode.String()+" Step vs Forward", steps, all)
		for l := range st {
			if !slices.Equal(s.State(l), st[l]) {
				t.Fatalf("%v: layer %d state differs between Forward and Step", mode, l)
			}
		}
		s.Reset()
		chunks := append(s.Forward(testTokens[:2]), s.Forward(testTokens[2:])...)
		equalRows(t, mode.String()+" chunked", chunks, all)
		if s.Pos() != len(testTokens) {
			t.Fatalf("Pos = %d", s.Pos())
		}
	}
}

func TestMMFreeCausalAndState(t *testing.T) {
	m := smallMMFree(t, 3)
	a := m.NewSession(Quantized).Forward([]int{4, 9, 33, 12})
	b := m.NewSession(Quantized).Forward([]int{4, 9, 33, 50})
	equalRows(t, "earlier positions", b[:3], a[:3])
	if slices.Equal(a[3], b[3]) {
		t.Fatal("last token ignored")
	}
	// The state carries history: the same token after different prefixes
	// gives different logits.
	c := m.NewSession(Quantized).Forward([]int{5, 9, 33, 12})
	if slices.Equal(a[3], c[3]) {
		t.Fatal("first token did not reach position 3 through the recurrent state")
	}
	// Reset gives back the zero state.
	s := m.NewSession(Float)
	s.Forward([]int{1, 2})
	s.Reset()
	for l := range m.Config.Layers {
		if !slices.Equal(s.State(l), make([]float64, m.Config.Dim)) {
			t.Fatal("Reset left state behind")
		}
	}
}

// TestMMFreeMixerFromTrace recomputes the MLGRU recurrence and the GLU from
// the recorded projection outputs with the equations of §2.2 and §2.3 written
// out again, and checks the recorded inputs of o_proj and down_proj (both
// FusedBitLinears, so their inputs are after their own RMSNorm).
func TestMMFreeMixerFromTrace(t *testing.T) {
	for _, mode := range modes {
		m := smallMMFree(t, 31)
		c := m.Config
		tr := &Trace{}
		s := m.NewSession(mode)
		s.Trace = tr
		const n = 4
		s.Forward(testTokens[:n])
		lb := m.LayerLowerBounds()
		sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
		rms := func(x, w []float64) []float64 {
			ms := 0.0
			for _, v := range x {
				ms += v * v
			}
			r := 1 / math.Sqrt(ms/float64(len(x))+c.Eps)
			y := make([]float64, len(x))
			for i := range x {
				y[i] = x[i] * r * w[i]
			}
			return y
		}
		get := func(name string, pos int) Record {
			r, ok := tr.Get(name, pos)
			if !ok {
				t.Fatalf("no record %s@%d", name, pos)
			}
			return r
		}
		for l, ly := range m.Layers {
			p := fmt.Sprintf("model.layers.%d.", l)
			h := make([]float64, c.Dim)
			for pos := range n {
				ip := get(p+"attn.i_proj", pos).Output
				fp := get(p+"attn.f_proj", pos).Output
				g := get(p+"attn.g_proj", pos).Output
				gn := rms(g, ly.GNorm)
				o := make([]float64, c.Dim)
				for k := range h {
					f := sig(fp[k])
					if l > 0 {
						f = lb[l][k] + (1-lb[l][k])*f
					}
					h[k] = f*h[k] + ip[k]*sig(ip[k])*(1-f)
					o[k] = gn[k] * h[k] * sig(h[k])
				}
				want := rms(o, ly.O.Norm)
				got := get(p+"attn.o_proj", pos).Input
				for k := range want {
					if !near(got[k], want[k], 1e-12) {
						t.Fatalf("%v layer %d pos %d: o_proj input[%d] = %v, want %v", mode, l, pos, k, got[k], want[k])
					}
				}
				gy := get(p+"mlp.gate_proj", pos).Output
				z := make([]float64, c.FFN)
				for k := range z {
					z[k] = gy[k] * sig(gy[k]) * gy[c.FFN+k]
				}
				want = rms(z, ly.Down.Norm)
				got = get(p+"mlp.down_proj", pos).Input
				for k := range want {
					if !near(got[k], want[k], 1e-12) {
						t.Fatalf("%v layer %d pos %d: down_proj input[%d] = %v, want %v", mode, l, pos, k, got[k], want[k])
					}
				}
			}
		}
		// The lm_head is a ternary FusedBitLinear, recorded like the others.
		head := get("lm_head", n-1)
		if len(head.Output) != c.Vocab || (mode == Quantized && len(head.Dot) != c.Vocab) {
			t.Fatalf("%v: lm_head record %d outputs", mode, len(head.Output))
		}
		if want := n * (6*c.Layers + 1); len(tr.Records) != want {
			t.Fatalf("%v: %d records, want %d", mode, len(tr.Records), want)
		}
	}
}

func TestMMFreeGreedy(t *testing.T) {
	m := smallMMFree(t, 37)
	s := m.NewSession(Quantized)
	got := s.Greedy([]int{2, 7}, 4)
	seq := []int{2, 7}
	for i := range 4 {
		logits := m.NewSession(Quantized).Forward(seq)
		next := Argmax(logits[len(logits)-1])
		if next != got[i] {
			t.Fatalf("token %d: Greedy %d, Forward argmax %d", i, got[i], next)
		}
		seq = append(seq, next)
	}
}

func TestRandomMMFree(t *testing.T) {
	a, b := smallMMFree(t, 9), smallMMFree(t, 9)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different models")
	}
	if a.Layers[0].GateProj.Out != 2*96 || a.LMHead.Norm == nil || a.LMHead.NormEps != 1e-6 || a.Layers[1].I.NormEps != 1e-6 {
		t.Fatal("unexpected shapes or eps")
	}
	bad := *a
	bad.LMHead = nil
	if err := bad.Validate(); err == nil {
		t.Fatal("missing lm_head accepted")
	}
	if err := ConfigMMFree370M().Validate(); err != nil || ConfigMMFree370M().FFN != 2816 {
		t.Fatal("370M config")
	}
}
