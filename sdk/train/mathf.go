package train

import (
	"math"
	"slices"
	"strings"

	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/simd"
)

func sqrtf(n int) float64 { return math.Sqrt(float64(n)) }

// sigmoid is σ(x) = 1/(1+e^−x), computed as the runtime does (sdk's
// MLGRU, simd.MLGRUStep).
func sigmoid(x float32) float32 { return simd.Sigmoid32(x) }

// silu is x·σ(x) as simd.SiLU computes it.
func silu(v float32) float32 { return simd.SiLU32(v) }

// softmaxXent turns logits (n×k) into dlogits = (softmax − onehot)/n in
// place and returns the summed cross-entropy in nats.
func softmaxXent(logits []float32, labels []int, k int, scale float32) float64 {
	per := make([]float64, len(labels))
	parallelFor(len(labels), func(t0, t1 int) {
		for t := t0; t < t1; t++ {
			y := labels[t]
			row := logits[t*k : (t+1)*k]
			m := row[0]
			for _, v := range row {
				m = max(m, v)
			}
			var z float64
			for _, v := range row {
				z += math.Exp(float64(v - m))
			}
			lz := math.Log(z) + float64(m)
			per[t] = lz - float64(row[y])
			for i, v := range row {
				p := math.Exp(float64(v) - lz)
				if i == y {
					p--
				}
				row[i] = float32(p) * scale
			}
		}
	})
	var loss float64
	for _, v := range per {
		loss += v
	}
	return loss
}

// sortParams orders file parameters by key, as the format requires.
func sortParams(ps []mmapmodel.Param) []mmapmodel.Param {
	slices.SortFunc(ps, func(a, b mmapmodel.Param) int { return strings.Compare(a.Key, b.Key) })
	return ps
}
