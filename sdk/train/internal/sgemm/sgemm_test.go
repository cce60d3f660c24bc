package sgemm

import (
	"math/rand/v2"
	"testing"
)

func naive(m, n, k int, at func(i, p int) float32, bt func(p, j int) float32) []float64 {
	c := make([]float64, m*n)
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				s += float64(at(i, p)) * float64(bt(p, j))
			}
			c[i*n+j] = s
		}
	}
	return c
}

func randInts(r *rand.Rand, n int, lo, hi int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(lo + r.IntN(hi-lo+1))
	}
	return v
}

// Integer-valued inputs must give exact results: the trainer relies on it
// to match the integer kernels.
func TestProductsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, th := range []int{1, 2, 3} {
		Threads = th
		for _, sh := range [][3]int{{1, 1, 1}, {3, 5, 7}, {17, 33, 130}, {64, 300, 785}, {5, 8, 4}, {9, 16, 3}} {
			m, n, k := sh[0], sh[1], sh[2]
			a := randInts(r, m*k, -128, 127)
			bw := randInts(r, n*k, -1, 1) // weights [n×k]
			c := make([]float32, m*n)
			MulABt(c, a, bw, m, n, k)
			want := naive(m, n, k, func(i, p int) float32 { return a[i*k+p] }, func(p, j int) float32 { return bw[j*k+p] })
			for i := range c {
				if float64(c[i]) != want[i] {
					t.Fatalf("threads %d MulABt %v: c[%d] = %v, want %v", th, sh, i, c[i], want[i])
				}
			}
			b2 := randInts(r, k*n, -3, 3)
			c2 := randInts(r, m*n, -5, 5)
			base := append([]float32(nil), c2...)
			MulAdd(c2, a, b2, m, n, k)
			want = naive(m, n, k, func(i, p int) float32 { return a[i*k+p] }, func(p, j int) float32 { return b2[p*n+j] })
			for i := range c2 {
				if float64(c2[i]) != want[i]+float64(base[i]) {
					t.Fatalf("threads %d MulAdd %v: c[%d] = %v, want %v", th, sh, i, c2[i], want[i]+float64(base[i]))
				}
			}
			at := randInts(r, k*m, -4, 4)
			c3 := make([]float32, m*n)
			MulAtBAdd(c3, at, b2, m, n, k)
			want = naive(m, n, k, func(i, p int) float32 { return at[p*m+i] }, func(p, j int) float32 { return b2[p*n+j] })
			for i := range c3 {
				if float64(c3[i]) != want[i] {
					t.Fatalf("threads %d MulAtBAdd %v: c[%d] = %v, want %v", th, sh, i, c3[i], want[i])
				}
			}
		}
	}
	Threads = 0
}

func TestAsmMatchesGeneric(t *testing.T) {
	if !useAsm {
		t.Skip("no AVX2/FMA on this machine or build")
	}
	r := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 70; n++ {
		ld := n + 3
		b := randInts(r, 4*ld, -9, 9)
		y1 := randInts(r, n, -9, 9)
		y2 := append([]float32(nil), y1...)
		a := [4]float32{1, -2, 3, 0.5}
		axpy4(y1, b, ld, &a)
		axpy4Generic(y2, b, ld, &a)
		for i := range y1 {
			if y1[i] != y2[i] {
				t.Fatalf("n=%d: y[%d] = %v, generic %v", n, i, y1[i], y2[i])
			}
		}
	}
}

func BenchmarkMulABt(b *testing.B) {
	m, n, k := 128, 1024, 784
	a := make([]float32, m*k)
	w := make([]float32, n*k)
	for i := range a {
		a[i] = float32(i%7) - 3
	}
	for i := range w {
		w[i] = float32(i%3) - 1
	}
	c := make([]float32, m*n)
	b.SetBytes(int64(2 * m * n * k)) // flops, reported as "MB/s" = MFLOP/s
	for b.Loop() {
		MulABt(c, a, w, m, n, k)
	}
}

// Results must not depend on the number of goroutines (training runs are
// reproducible from their seed on any core count).
func TestThreadCountInvariant(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	m, n, k := 37, 70, 129
	a := make([]float32, m*k)
	b := make([]float32, n*k)
	for i := range a {
		a[i] = float32(r.NormFloat64())
	}
	for i := range b {
		b[i] = float32(r.NormFloat64())
	}
	var first []float32
	for _, th := range []int{1, 2, 5} {
		Threads = th
		c := make([]float32, m*n)
		MulABt(c, a, b, m, n, k)
		if first == nil {
			first = c
			continue
		}
		for i := range c {
			if c[i] != first[i] {
				t.Fatalf("threads %d: c[%d] = %v, with 1 thread %v", th, i, c[i], first[i])
			}
		}
	}
	Threads = 0
}
