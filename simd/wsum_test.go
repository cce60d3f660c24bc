package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// wsumRef is the weighted sum of one output column in the order every tier
// uses (products in order of p from zero), fused (fma32) or with each
// product rounded, for columns c < fusedCols fused and the rest rounded.
func wsumRef(v func(p int) float32, w []float32, fused bool) float32 {
	var s float32
	for p, wp := range w {
		if fused {
			s = fma32(wp, v(p), s)
		} else {
			s = float32(wp*v(p)) + s
		}
	}
	return s
}

// Every tier's weighted sums equal the reference order bit for bit: fused
// for the whole steps of 16 columns on the amd64 tiers, products rounded
// elsewhere and in the column tail; for 1 to 4 weight vectors, f32 and f16
// rows, odd strides, no rows, and small integers (where every order is
// exact). Outputs outside the nq·cols written must be left alone.
func TestWeightedSumTiers(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	impls := tierImpls(t)
	colsList := []int{0, 1, 15, 16, 17, 31, 32, 48, 63, 64, 65, 80, 96, 100, 128, 129, 200}
	for _, kind := range []string{"f32", "f16"} {
		for it := 0; it < 120; it++ {
			cols := colsList[it%len(colsList)]
			n := []int{0, 1, 2, 5, 16, 33, 257}[rng.IntN(7)]
			nq := 1 + rng.IntN(4)
			ldb := WeightedSumBlock*n + rng.IntN(3)*rng.IntN(9)
			ldd := max(1, cols+rng.IntN(5))
			ldw := n + rng.IntN(4)
			small := it%3 == 0
			val := func() float32 {
				if small {
					return float32(rng.IntN(9) - 4)
				}
				return float32(rng.NormFloat64())
			}
			at := func(p, c int) int { return c/WeightedSumBlock*ldb + p*WeightedSumBlock + c%WeightedSumBlock }
			vlen := 0
			if n > 0 && cols > 0 {
				vlen = at(n-1, cols-1) + 1 // exactly what the layout needs
			}
			v32 := make([]float32, vlen)
			v16 := make([]uint16, len(v32))
			for i := range v32 {
				v16[i] = F32ToF16(val())
				v32[i] = F16ToF32(v16[i]) // the same values either way
			}
			w := make([]float32, (nq-1)*ldw+n)
			for i := range w {
				w[i] = val()
			}
			for _, impl := range impls {
				dst := make([]float32, (nq-1)*ldd+cols+3)
				for i := range dst {
					dst[i] = float32(math.NaN())
				}
				if kind == "f32" {
					WeightedSumF32(impl, dst, ldd, cols, v32, ldb, w, ldw, n, nq)
				} else {
					WeightedSumF16(impl, dst, ldd, cols, v16, ldb, w, ldw, n, nq)
				}
				fusedCols := 0
				if fusedTier(impl) {
					fusedCols = cols &^ (FloatLanes - 1)
				}
				for i := range dst {
					q, c := i/ldd, i%ldd
					name := fmt.Sprintf("%s %s cols %d n %d nq %d ldb %d ldd %d ldw %d: dst[%d] (vector %d, column %d)", impl.Tier, kind, cols, n, nq, ldb, ldd, ldw, i, q, c)
					if q >= nq || c >= cols {
						if !math.IsNaN(float64(dst[i])) {
							t.Fatalf("%s: written (%v), outside the outputs", name, dst[i])
						}
						continue
					}
					want := wsumRef(func(p int) float32 { return v32[at(p, c)] }, w[q*ldw:q*ldw+n], c < fusedCols)
					if !sameFloat(dst[i], want) {
						t.Fatalf("%s = %v, want %v", name, dst[i], want)
					}
				}
			}
		}
	}
}

// The argument checks name what is wrong.
func TestWeightedSumArgs(t *testing.T) {
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"nq 5", func() {
			WeightedSumF32(Generic, make([]float32, 99), 16, 16, make([]float32, 16), 16, make([]float32, 5), 1, 1, 5)
		}},
		{"short v", func() {
			WeightedSumF32(Generic, make([]float32, 16), 16, 16, make([]float32, 31), 16, make([]float32, 2), 2, 2, 1)
		}},
		{"short w", func() {
			WeightedSumF16(Generic, make([]float32, 32), 16, 16, make([]uint16, 32), 16, make([]float32, 3), 2, 2, 2)
		}},
		{"short dst", func() {
			WeightedSumF32(Generic, make([]float32, 31), 16, 16, make([]float32, 32), 16, make([]float32, 4), 2, 2, 2)
		}},
		{"ldv < cols", func() {
			WeightedSumF32(Generic, make([]float32, 16), 16, 16, make([]float32, 32), 8, make([]float32, 2), 2, 2, 1)
		}},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil {
					t.Errorf("%s: no panic", c.name)
				} else if s := fmt.Sprint(r); len(s) < 20 {
					t.Errorf("%s: panic %q names too little", c.name, s)
				}
			}()
			c.f()
		}()
	}
}

// BenchmarkWeightedSum: four query heads of 128 over 256 positions of one
// KV head (2B4T's attention values), in cache.
func BenchmarkWeightedSum(b *testing.B) {
	const hd, n = 128, 256
	v := make([]float32, n*hd)
	w := make([]float32, 4*n)
	for i := range v {
		v[i] = float32(i%7) - 3
	}
	for i := range w {
		w[i] = 1 / float32(i+1)
	}
	dst := make([]float32, 4*hd)
	for _, impl := range tierImpls(b) {
		b.Run(string(impl.Tier), func(b *testing.B) {
			b.SetBytes(int64(len(v) * 4))
			for b.Loop() {
				WeightedSumF32(impl, dst, hd, hd, v, WeightedSumBlock*n, w, n, n, 4)
			}
		})
	}
}
