package train

import (
	"math"

	"github.com/speakez/barewire/simd"
)

// rmsNormForward sets y[t] = x[t] / sqrt(mean(x[t]²) + eps) · w for each of
// the n rows (Zhang & Sennrich 2019) with simd.RMSNorm, the function
// inference runs, and returns the per-row factors r = 1/sqrt(mean+eps)
// in inv for the backward pass.
func rmsNormForward(y, x, w []float32, eps float32, n, d int, inv []float32) {
	parallelFor(n, func(t0, t1 int) {
		for t := t0; t < t1; t++ {
			row := x[t*d : (t+1)*d]
			simd.RMSNorm(y[t*d:(t+1)*d], row, w, eps)
			var ss float64
			for _, v := range row {
				ss += float64(v) * float64(v)
			}
			inv[t] = float32(1 / math.Sqrt(ss/float64(d)+float64(eps)))
		}
	})
}

// rmsNormBackward adds to dx the gradient of y = x·r·w, r = (mean(x²)+ε)^(−½):
//
//	u = dy ⊙ w,  dx = r·u − x·r³·(Σ u⊙x)/d,  dw += dy ⊙ x·r
//
// dw may be nil for an unweighted norm. Rows are independent for dx; dw
// is summed per column in row order.
func rmsNormBackward(dx, dy, x, w, dw []float32, n, d int, inv []float32) {
	parallelFor(n, func(t0, t1 int) {
		for t := t0; t < t1; t++ {
			xr, dyr, dxr := x[t*d:(t+1)*d], dy[t*d:(t+1)*d], dx[t*d:(t+1)*d]
			r := float64(inv[t])
			var dot float64
			for i, g := range dyr {
				u := float64(g)
				if w != nil {
					u *= float64(w[i])
				}
				dot += u * float64(xr[i])
			}
			c := r * r * r * dot / float64(d)
			for i, g := range dyr {
				u := float64(g)
				if w != nil {
					u *= float64(w[i])
				}
				dxr[i] += float32(r*u - float64(xr[i])*c)
			}
		}
	})
	if w == nil {
		return
	}
	parallelFor(d, func(i0, i1 int) {
		for t := range n {
			r := float64(inv[t])
			for i := i0; i < i1; i++ {
				dw[i] += float32(float64(dy[t*d+i]) * float64(x[t*d+i]) * r)
			}
		}
	})
}
