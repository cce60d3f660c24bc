package ternary_test

import (
	"math/rand/v2"
	"testing"

	"github.com/speakez/barewire/mmapmodel/ternary"
)

// Row decoding speed at a 2B4T projection width (2560 weights per row).
// SetBytes is the encoded bytes read per row.
func BenchmarkRow(b *testing.B) {
	const rows, cols = 4, 2560
	rng := rand.New(rand.NewPCG(1, 1))
	vals := randomTrits(rng, rows*cols)
	ones := make([]float32, rows*cols/256)
	for i := range ones {
		ones[i] = 1
	}
	i2s, _ := ternary.NewI2S(encodeI2S(vals, 128, 1), rows, cols, ternary.I2SX86)
	tq1, _ := ternary.NewTQ(ternary.TQ1, encodeTQ1(vals, ones), rows, cols)
	tq2, _ := ternary.NewTQ(ternary.TQ2, encodeTQ2(vals, ones), rows, cols)
	hf, _ := ternary.NewHFPacked(packHF(vals, rows, cols), rows/4, cols, 1, ternary.HFScaleReciprocal)
	cases := []struct {
		name  string
		dec   interface{ Row(int, []int8) error }
		bytes int64
	}{
		{"I2S", i2s, cols / 4}, {"TQ1_0", tq1, cols / 256 * 54}, {"TQ2_0", tq2, cols / 256 * 66}, {"HFPacked", hf, cols / 4},
	}
	row := make([]int8, cols)
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(c.bytes)
			for b.Loop() {
				_ = c.dec.Row(1, row)
			}
		})
	}
}
