package reference

import (
	"fmt"
	"math"
	"testing"
)

// rmsRef is RMSNorm written out again for the tests: x/sqrt(mean(x²)+eps)·w.
func rmsRef(x, w []float64, eps float64) []float64 {
	ms := 0.0
	for _, v := range x {
		ms += v * v
	}
	r := 1 / math.Sqrt(ms/float64(len(x))+eps)
	y := make([]float64, len(x))
	for i := range x {
		y[i] = x[i] * r
		if w != nil {
			y[i] *= w[i]
		}
	}
	return y
}

func addRef(a, b []float64) []float64 {
	y := make([]float64, len(a))
	for i := range a {
		y[i] = a[i] + b[i]
	}
	return y
}

func closeVec(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if !near(got[i], want[i], tol) {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// TestBitNetResidualFromTrace rebuilds the residual stream of §1.2 from the
// recorded o_proj and down_proj outputs, h ← h + o; h ← h + down, and checks
// the recorded inputs of q/k/v (input_layernorm), o_proj (attn_sub_norm of
// the attention output is covered in TestBitNetAttentionFromTrace), gate/up
// (post_attention_layernorm) and the tied full-precision logits.
func TestBitNetResidualFromTrace(t *testing.T) {
	for _, variant := range []string{"2B4T", "1bitLLM"} {
		for _, mode := range modes {
			m := smallBitNet(t, variant, 41, nil)
			c := m.Config
			tr := &Trace{}
			s := m.NewSession(mode)
			s.Trace = tr
			toks := testTokens[:3]
			logits := s.Forward(toks)
			for pos, tok := range toks {
				h := append([]float64(nil), m.Embed.Row(tok)...)
				for l, ly := range m.Layers {
					p := fmt.Sprintf("model.layers.%d.", l)
					get := func(n string) Record {
						r, ok := tr.Get(p+n, pos)
						if !ok {
							t.Fatalf("no record %s%s@%d", p, n, pos)
						}
						return r
					}
					a := rmsRef(h, ly.AttnNorm, c.Eps)
					for _, n := range []string{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"} {
						closeVec(t, fmt.Sprintf("%s %v %s%s@%d input", variant, mode, p, n, pos), get(n).Input, a, 1e-12)
					}
					h = addRef(h, get("self_attn.o_proj").Output)
					f := rmsRef(h, ly.FFNNorm, c.Eps)
					closeVec(t, p+"mlp.gate_proj input", get("mlp.gate_proj").Input, f, 1e-12)
					closeVec(t, p+"mlp.up_proj input", get("mlp.up_proj").Input, f, 1e-12)
					h = addRef(h, get("mlp.down_proj").Output)
				}
				hn := rmsRef(h, m.Norm, c.Eps)
				want := make([]float64, c.Vocab)
				for v := range want {
					for i, e := range m.Embed.Row(v) {
						want[v] += e * hn[i]
					}
				}
				closeVec(t, fmt.Sprintf("%s %v logits@%d", variant, mode, pos), logits[pos], want, 1e-12)
			}
		}
	}
}

// TestMMFreeResidualFromTrace does the same for §2.5: r = h; s = MLGRU + r;
// h = s + MLP, every projection input being its own RMSNorm of the block
// norm's output, and the lm_head seeing RMSNorm(RMSNorm(h, norm), lm_head.norm).
func TestMMFreeResidualFromTrace(t *testing.T) {
	for _, mode := range modes {
		m := smallMMFree(t, 43)
		c := m.Config
		tr := &Trace{}
		s := m.NewSession(mode)
		s.Trace = tr
		toks := testTokens[:3]
		logits := s.Forward(toks)
		for pos, tok := range toks {
			h := append([]float64(nil), m.Embed.Row(tok)...)
			for l, ly := range m.Layers {
				p := fmt.Sprintf("model.layers.%d.", l)
				get := func(n string) Record {
					r, ok := tr.Get(p+n, pos)
					if !ok {
						t.Fatalf("no record %s%s@%d", p, n, pos)
					}
					return r
				}
				x := rmsRef(h, ly.AttnNorm, c.Eps)
				for _, b := range []*BitLinear{ly.I, ly.F, ly.G} {
					closeVec(t, fmt.Sprintf("%v %s@%d input", mode, b.Name, pos), get(b.Name[len(p):]).Input, rmsRef(x, b.Norm, 1e-6), 1e-12)
				}
				h = addRef(h, get("attn.o_proj").Output)
				x2 := rmsRef(h, ly.MLPNorm, c.Eps)
				closeVec(t, p+"mlp.gate_proj input", get("mlp.gate_proj").Input, rmsRef(x2, ly.GateProj.Norm, 1e-6), 1e-12)
				h = addRef(h, get("mlp.down_proj").Output)
			}
			head, ok := tr.Get("lm_head", pos)
			if !ok {
				t.Fatal("no lm_head record")
			}
			closeVec(t, fmt.Sprintf("%v lm_head input@%d", mode, pos), head.Input, rmsRef(rmsRef(h, m.Norm, c.Eps), m.LMHead.Norm, 1e-6), 1e-12)
			closeVec(t, "logits", logits[pos], head.Output, 0)
		}
	}
}
