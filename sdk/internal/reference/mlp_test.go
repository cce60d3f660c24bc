package reference

import (
	"reflect"
	"slices"
	"testing"
)

// tinyMLP is 2-2-2 with normalization (x/255 − 0.5)/0.25, no norms, no bias.
func tinyMLP(t *testing.T) *MLP {
	t.Helper()
	cfg := MLPConfig{Name: "tiny", Inputs: 2, Hidden: []int{2}, Classes: 2, InputDivisor: 255,
		Mean: []float64{0.5}, Std: []float64{0.25}}
	m := &MLP{Config: cfg, Layers: []*BitLinear{
		mustTernary(t, "layers.0", 2, 2, []int8{1, 1, 1, -1}, 0.5),
		mustTernary(t, "layers.1", 2, 2, []int8{1, 0, -1, 1}, 2),
	}}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMLPNormalize(t *testing.T) {
	m := tinyMLP(t)
	// (255/255 − 0.5)/0.25 = 2, (0 − 0.5)/0.25 = −2.
	if got := m.Normalize([]float64{255, 0}); !slices.Equal(got, []float64{2, -2}) {
		t.Fatalf("got %v", got)
	}
	m.Config.Mean, m.Config.Std = []float64{0, 1}, []float64{1, 0.5}
	// Per-input constants: [255/255 − 0, (51/255 − 1)/0.5] = [1, −1.6].
	if got := m.Normalize([]float64{255, 51}); !slices.Equal(got, []float64{1, (51.0/255 - 1) / 0.5}) {
		t.Fatalf("per-input: got %v", got)
	}
}

func TestMLPClassifyHand(t *testing.T) {
	m := tinyMLP(t)
	// x' = [2 −2]. Layer 0: 0.5·[0, 4] = [0 2], ReLU keeps it.
	// Layer 1: 2·[0, 2] = [0 4]; no ReLU on the logits.
	if got := m.NewSession(Float).Classify([]float64{255, 0}); !slices.Equal(got, []float64{0, 4}) {
		t.Fatalf("float: got %v, want [0 4]", got)
	}
	// Quantized: s = 63.5, xq = [127 −127], dot = [0 254], y = [0 254·0.5/63.5 = 2];
	// then s = 63.5, xq = [0 127], dot = [0 127], y = [0 127·2/63.5 = 4].
	s := m.NewSession(Quantized)
	s.Trace = &Trace{}
	if got := s.Classify([]float64{255, 0}); !slices.Equal(got, []float64{0, 4}) {
		t.Fatalf("quantized: got %v, want [0 4]", got)
	}
	r0, _ := s.Trace.Get("layers.0", 0)
	r1, _ := s.Trace.Get("layers.1", 0)
	if !slices.Equal(r0.Dot, []int32{0, 254}) || !slices.Equal(r1.Xq, []int8{0, 127}) || !slices.Equal(r1.Dot, []int32{0, 127}) {
		t.Fatalf("trace: %+v %+v", r0, r1)
	}
	// ReLU between layers: x' = [−2 2] → layer 0 gives 0.5·[0, −4] = [0 −2] → [0 0].
	if got := m.NewSession(Float).Classify([]float64{0, 255}); !slices.Equal(got, []float64{0, 0}) {
		t.Fatalf("ReLU: got %v, want [0 0]", got)
	}
	// Input numbering in the trace.
	s.Classify([]float64{0, 255})
	if _, ok := s.Trace.Get("layers.1", 1); !ok {
		t.Fatal("second input not recorded at Pos 1")
	}
}

func TestMLPNormAndBias(t *testing.T) {
	m := tinyMLP(t)
	m.Config.Bias, m.Config.Norm, m.Config.NormEps = true, true, 0
	m.Biases = [][]float64{{-1, 0.5}, {0.25, 0}}
	for _, b := range m.Layers {
		b.WithNorm([]float64{1, 1}, 0)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	// x' = [2 −2] → RMSNorm → [1 −1] → 0.5·[0 2] + [−1 0.5] = [−1 1.5] → ReLU [0 1.5]
	// → RMSNorm: mean = 1.125, [0 1.5/sqrt(1.125)] = [0 √2] → 2·[0 √2] + [0.25 0].
	got := m.NewSession(Float).Classify([]float64{255, 0})
	want := []float64{0.25, 2 * 1.5 / 1.0606601717798212}
	for i := range want {
		if !near(got[i], want[i], 1e-15) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	m.Biases = m.Biases[:1]
	if err := m.Validate(); err == nil {
		t.Fatal("missing bias accepted")
	}
}

func TestRandomMLP(t *testing.T) {
	a, err := RandomMLP(SmallMLPConfig(), 5)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := RandomMLP(SmallMLPConfig(), 5)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different models")
	}
	if len(a.Layers) != 3 || a.Layers[2].Out != 10 || a.Layers[0].In != 16 || a.Layers[1].Norm == nil {
		t.Fatal("unexpected shapes")
	}
	x := make([]float64, 16)
	for i := range x {
		x[i] = float64(i * 16)
	}
	f := a.NewSession(Float).Classify(x)
	q := a.NewSession(Quantized).Classify(x)
	if len(f) != 10 || slices.Equal(f, q) {
		t.Fatalf("float %v quantized %v", f, q)
	}
	if err := MNISTMLPConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}
