package train_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/speakez/barewire/sdk"
	"github.com/speakez/barewire/sdk/train"
)

// Train a tiny ternary classifier (is the left half of the input brighter
// than the right?), export it and run it with the sdk.
func Example() {
	const in, n = 16, 64
	r := rand.New(rand.NewPCG(1, 2))
	batch := func() ([]float32, []int) {
		x, y := make([]float32, n*in), make([]int, n)
		for i := range n {
			var left, right float32
			for j := range in {
				v := float32(r.IntN(256))
				x[i*in+j] = v
				if j < in/2 {
					left += v
				} else {
					right += v
				}
			}
			if left > right {
				y[i] = 1
			}
		}
		return x, y
	}
	m := train.NewMLP(train.MLPConfig{Inputs: in, Hidden: []int{32}, Classes: 2, Mean: 127.5, Std: 74, Seed: 1,
		Labels: []string{"right", "left"}})
	m.SetQuant(1) // ternary weights and int8 activations from the first step
	opt := train.NewAdamW(0)
	sched := train.Schedule{Peak: 1e-2, Min: 1e-4, Warmup: 20, Total: 300}
	for step := range 300 {
		x, y := batch()
		train.ZeroGrad(m.Params())
		m.Loss(x, y)
		train.ClipGradNorm(m.Params(), 1)
		opt.Update(m.Params(), sched.At(step))
	}

	dir, _ := os.MkdirTemp("", "train-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "halves.bwm")
	if err := m.Export(path); err != nil {
		fmt.Println(err)
		return
	}
	model, err := sdk.Open(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer model.Close()
	x, y := batch()
	correct := 0
	for i := range n {
		_, label, _ := model.Classify(context.Background(), x[i*in:(i+1)*in])
		if label == y[i] {
			correct++
		}
	}
	fmt.Println(model.Labels(), correct >= 56)
	// Output: [right left] true
}
