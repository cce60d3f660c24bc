package train

import (
	"math"

	"github.com/speakez/barewire/simd"
)

// WeightScaleFloor is the lower clamp of the absmean scale γ
// (architectures.md §1.3).
const WeightScaleFloor = 1e-5

// Ternarize quantizes w with BitNet b1.58's absmean rule
// (architectures.md §1.3):
//
//	γ = max(mean|W|, 1e-5),  q = clamp(round_half_even(W/γ), −1, +1)
//
// It writes q into dst (len(w)) and returns γ as the float32 that the
// model file stores. The mean is accumulated in float64 and the division
// done in float64 on the float32 γ, so the codes depend only on w.
func Ternarize(dst []int8, w []float32) (gamma float32) {
	var sum float64
	for _, v := range w {
		sum += math.Abs(float64(v))
	}
	g := WeightScaleFloor
	if len(w) > 0 {
		g = max(sum/float64(len(w)), WeightScaleFloor)
	}
	gamma = float32(g)
	for i, v := range w {
		r := math.RoundToEven(float64(v) / float64(gamma))
		dst[i] = int8(max(-1, min(1, r)))
	}
	return gamma
}

// quantizeRows quantizes each of the n rows of x (cols wide) to int8 with
// simd.QuantizeActivations — the very function inference runs, so codes
// and scales are identical — and stores the codes as floats in q and the
// scales in s.
func quantizeRows(q, s []float32, x []float32, n, cols int) {
	parallelFor(n, func(t0, t1 int) {
		buf := make([]int8, cols)
		for t := t0; t < t1; t++ {
			sc, _ := simd.QuantizeActivations(buf, x[t*cols:(t+1)*cols])
			s[t] = sc
			for i, v := range buf {
				q[t*cols+i] = float32(v)
			}
		}
	})
}
