package reference_test

import (
	"fmt"

	"github.com/speakez/barewire/sdk/internal/reference"
)

func Example() {
	// One BitLinear in both modes: ternary rows [1 0 −1] and [1 1 1], γ = 0.5.
	b, err := reference.NewBitLinearTernary("w", 2, 3, []int8{1, 0, -1, 1, 1, 1}, 0.5)
	if err != nil {
		panic(err)
	}
	x := []float64{127, 63.5, -1}
	yf, _ := b.Apply(x, reference.Float, 0)
	yq, rec := b.Apply(x, reference.Quantized, 0)
	fmt.Println("float:", yf)
	fmt.Println("quantized:", yq, "xq:", rec.Xq, "dot:", rec.Dot)

	// A small random BitNet 2B4T-style model, run with a trace of its
	// integer results.
	cfg, _ := reference.SmallBitNetConfig("2B4T")
	m, err := reference.RandomBitNet(cfg, 1)
	if err != nil {
		panic(err)
	}
	s := m.NewSession(reference.Quantized)
	s.Trace = &reference.Trace{}
	logits := s.Forward([]int{1, 2, 3})
	r, _ := s.Trace.Get("model.layers.1.mlp.down_proj", 2)
	fmt.Println(len(logits), len(logits[2]), len(r.Dot))
	// Output:
	// float: [64 94.75]
	// quantized: [64 95] xq: [127 64 -1] dot: [128 190]
	// 3 64 32
}
