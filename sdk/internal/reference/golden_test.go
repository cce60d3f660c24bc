package reference

import (
	"slices"
	"testing"
)

// TestRandomModelsGolden pins the random constructors and the evaluation of
// the small models to values recorded from this implementation. They are
// not derived by hand (the hand-derived checks are in the other tests); they
// are there because other packages rebuild these models from the same seeds
// and compare against them, so any change to the draw order, to math/rand/v2's
// PCG stream or to the arithmetic must show up here first.
func TestRandomModelsGolden(t *testing.T) {
	c, _ := SmallBitNetConfig("2B4T")
	m, err := RandomBitNet(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	closeVec(t, "embed", m.Embed.Data[:3], []float64{-0.8747677503546403, -0.13765752747086357, -0.8692079708139573}, 0)
	if !slices.Equal(m.Layers[0].Q.W[:8], []int8{1, -1, 0, -1, -1, 1, -1, -1}) || m.Layers[0].Q.Gamma != 0.12217399347561472 ||
		m.Layers[1].FFNSubNorm[95] != 1.0851561554498979 {
		t.Fatalf("2B4T weights changed: %v γ %v", m.Layers[0].Q.W[:8], m.Layers[0].Q.Gamma)
	}
	s := m.NewSession(Quantized)
	s.Trace = &Trace{}
	s.Forward([]int{1, 2, 3})
	r, _ := s.Trace.Get("model.layers.1.mlp.down_proj", 2)
	if !slices.Equal(r.Dot[:6], []int32{223, 62, 215, 41, -120, 120}) || !slices.Equal(r.Xq[:6], []int8{1, -3, 2, 0, 0, 7}) {
		t.Fatalf("2B4T down_proj@2: dot %v xq %v", r.Dot[:6], r.Xq[:6])
	}
	closeVec(t, "2B4T logits@3", s.Step(4)[:3], []float64{-4.327613118496517, -0.20164370375027446, -5.5687401248364612}, 1e-13)
	for _, mode := range modes {
		if got := m.NewSession(mode).Greedy([]int{1, 2, 3}, 8); !slices.Equal(got, []int{58, 58, 58, 34, 34, 34, 34, 34}) {
			t.Fatalf("2B4T %v greedy = %v", mode, got)
		}
	}

	c, _ = SmallBitNetConfig("1bitLLM")
	m, _ = RandomBitNet(c, 1)
	if got := m.NewSession(Quantized).Greedy([]int{1, 2, 3}, 8); !slices.Equal(got, []int{3, 3, 3, 3, 3, 3, 3, 3}) {
		t.Fatalf("1bitLLM greedy = %v", got)
	}

	mf, _ := RandomMMFree(SmallMMFreeConfig(), 1)
	if !slices.Equal(mf.Layers[0].I.W[:8], []int8{-1, 0, 0, -1, -1, -1, 1, -1}) || mf.Layers[0].I.Gamma != 0.06793061614278517 ||
		mf.LMHead.Norm[0] != 0.6744530432769938 {
		t.Fatal("MMFree weights changed")
	}
	if got := mf.NewSession(Quantized).Greedy([]int{1, 2, 3}, 8); !slices.Equal(got, []int{59, 4, 30, 8, 36, 8, 42, 44}) {
		t.Fatalf("MMFree quantized greedy = %v", got)
	}
	// Float mode parts ways with Quantized at the last token.
	if got := mf.NewSession(Float).Greedy([]int{1, 2, 3}, 8); !slices.Equal(got, []int{59, 4, 30, 8, 36, 8, 42, 1}) {
		t.Fatalf("MMFree float greedy = %v", got)
	}

	mm, _ := RandomMLP(SmallMLPConfig(), 1)
	x := make([]float64, 16)
	for i := range x {
		x[i] = float64(i * 16)
	}
	closeVec(t, "MLP quantized", mm.NewSession(Quantized).Classify(x)[:3], []float64{0.34783238971459346, 0.6040809918227092, -0.47169829020315646}, 1e-13)
	closeVec(t, "MLP float", mm.NewSession(Float).Classify(x)[:3], []float64{0.352333308622914, 0.6033978683028016, -0.477024958835333}, 1e-13)
}
