package train

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/speakez/barewire/sdk"
)

// randomBatch returns n raw inputs in 0..255 and labels.
func randomBatch(r *rand.Rand, n, in, classes int) ([]float32, []int) {
	x := make([]float32, n*in)
	for i := range x {
		if r.IntN(3) == 0 {
			x[i] = float32(r.IntN(256))
		}
	}
	y := make([]int, n)
	for i := range y {
		y[i] = r.IntN(classes)
	}
	return x, y
}

// The exported model, run by the sdk's integer kernels, must give exactly
// the logits of the trainer's quantized forward pass.
func TestMLPExportMatchesTrainer(t *testing.T) {
	m := NewMLP(MLPConfig{Inputs: 100, Hidden: []int{48, 40}, Classes: 7, Mean: 30, Std: 70, Seed: 3})
	m.SetQuant(1)
	ps := m.Params()
	opt := NewAdamW(0.01)
	r := rand.New(rand.NewPCG(5, 6))
	for range 20 {
		x, y := randomBatch(r, 16, 100, 7)
		ZeroGrad(ps)
		m.Loss(x, y)
		opt.Update(ps, 1e-2)
	}
	path := filepath.Join(t.TempDir(), "m.bwm")
	if err := m.Export(path); err != nil {
		t.Fatal(err)
	}
	model, err := sdk.Open(path, sdk.WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	x, _ := randomBatch(r, 32, 100, 7)
	logits := append([]float32(nil), m.Forward(x, 32)...)
	differ := 0
	for i := range 32 {
		got, _, err := model.Classify(context.Background(), x[i*100:(i+1)*100])
		if err != nil {
			t.Fatal(err)
		}
		for c, v := range got {
			if v != logits[i*7+c] {
				differ++
				if differ < 5 {
					t.Errorf("input %d class %d: sdk %v, trainer %v", i, c, v, logits[i*7+c])
				}
			}
		}
	}
	if differ > 0 {
		t.Fatalf("%d of %d logits differ", differ, 32*7)
	}
	if got := model.Labels(); len(got) != 7 || got[6] != "6" {
		t.Fatalf("labels %q", got)
	}
}

// A float layer's gradient must match finite differences (checks the
// backward pass of Linear with its RMSNorm, the ReLU and the loss).
func TestMLPGradient(t *testing.T) {
	m := NewMLP(MLPConfig{Inputs: 12, Hidden: []int{9}, Classes: 4, Mean: 0, Std: 1, Seed: 9})
	m.SetQuant(0)
	r := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, 5*12)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	y := []int{0, 1, 2, 3, 1}
	lossAt := func() float64 {
		logits := m.Forward(x, 5)
		return softmaxXent(append([]float32(nil), logits...), y, 4, 1) / 5
	}
	ps := m.Params()
	ZeroGrad(ps)
	m.Loss(x, y)
	for _, p := range ps {
		for _, i := range []int{0, len(p.W) / 2, len(p.W) - 1} {
			old := p.W[i]
			const h = 1e-2
			p.W[i] = old + h
			lp := lossAt()
			p.W[i] = old - h
			lm := lossAt()
			p.W[i] = old
			num := (lp - lm) / (2 * h)
			if d := num - float64(p.G[i]); d > 2e-3+0.02*abs(num) || -d > 2e-3+0.02*abs(num) {
				t.Errorf("%s[%d]: analytic %v, numeric %v", p.Name, i, p.G[i], num)
			}
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
