package sdk

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkSample measures drawing one token from a 2B4T-sized vocabulary
// (128256 logits) with each sampling mode.
func BenchmarkSample(b *testing.B) {
	const vocab = 128256
	rng := rand.New(rand.NewPCG(1, 1))
	logits := make([]float32, vocab)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64() * 3)
	}
	var g generator
	g.init(vocab)
	for _, c := range []struct {
		name string
		o    GenerateOptions
	}{
		{"greedy", GenerateOptions{}},
		{"temperature", GenerateOptions{Temperature: 0.8}},
		{"top-k40", GenerateOptions{Temperature: 0.8, TopK: 40}},
		{"top-p0.9", GenerateOptions{Temperature: 0.8, TopP: 0.9}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				g.sample(logits, &c.o)
			}
		})
	}
}
