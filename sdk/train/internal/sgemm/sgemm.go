package sgemm

import (
	"fmt"
	"runtime"
	"sync"
)

// Block sizes: a kc×nc panel of B (64 KiB) stays in L2 while every row of
// C in the call streams past it.
const (
	kc = 64
	nc = 256
)

// Threads is how many goroutines a product may use; 0 means GOMAXPROCS.
var Threads = 0

func threads() int {
	if Threads > 0 {
		return Threads
	}
	return runtime.GOMAXPROCS(0)
}

func check(fn string, c, a, b []float32, cn, an, bn int) {
	if len(c) < cn || len(a) < an || len(b) < bn {
		panic(fmt.Sprintf("sgemm: %s: slices of %d, %d, %d elements, need %d, %d, %d", fn, len(c), len(a), len(b), cn, an, bn))
	}
}

// MulAdd sets C[m×n] += A[m×k] · B[k×n] (all row-major).
func MulAdd(c, a, b []float32, m, n, k int) {
	check("MulAdd", c, a, b, m*n, m*k, k*n)
	parallelRows(m, func(r0, r1 int) { mulAddRows(c, a, b, r0, r1, n, k) })
}

// MulABt sets C[m×n] = A[m×k] · B[n×k]ᵀ (the forward pass Y = X·Wᵀ of a
// layer with weights W [out×in]). It transposes B once into scratch.
func MulABt(c, a, b []float32, m, n, k int) {
	check("MulABt", c, a, b, m*n, m*k, n*k)
	bt := Transpose(nil, b, n, k)
	clear(c[:m*n])
	parallelRows(m, func(r0, r1 int) { mulAddRows(c, a, bt, r0, r1, n, k) })
}

// MulAtBAdd sets C[m×n] += A[k×m]ᵀ · B[k×n] (the weight gradient
// dW += dYᵀ·X). It transposes A once into scratch.
func MulAtBAdd(c, a, b []float32, m, n, k int) {
	check("MulAtBAdd", c, a, b, m*n, k*m, k*n)
	at := Transpose(nil, a, k, m)
	parallelRows(m, func(r0, r1 int) { mulAddRows(c, at, b, r0, r1, n, k) })
}

// Transpose returns the n×m transpose of the m×n matrix a, in dst when it
// is large enough.
func Transpose(dst, a []float32, m, n int) []float32 {
	if cap(dst) < m*n {
		dst = make([]float32, m*n)
	}
	dst = dst[:m*n]
	const t = 32
	for i0 := 0; i0 < m; i0 += t {
		for j0 := 0; j0 < n; j0 += t {
			for i := i0; i < min(i0+t, m); i++ {
				row := a[i*n : (i+1)*n]
				for j := j0; j < min(j0+t, n); j++ {
					dst[j*m+i] = row[j]
				}
			}
		}
	}
	return dst
}

// parallelRows splits [0, m) into one contiguous range per goroutine.
func parallelRows(m int, fn func(r0, r1 int)) {
	t := min(threads(), m)
	if t <= 1 {
		fn(0, m)
		return
	}
	var wg sync.WaitGroup
	for i := range t {
		r0, r1 := i*m/t, (i+1)*m/t
		wg.Go(func() { fn(r0, r1) })
	}
	wg.Wait()
}

// mulAddRows does C[r,:] += A[r,:]·B for r in [r0, r1), panel by panel.
func mulAddRows(c, a, b []float32, r0, r1, n, k int) {
	var coef [4]float32
	for j0 := 0; j0 < n; j0 += nc {
		w := min(nc, n-j0)
		for p0 := 0; p0 < k; p0 += kc {
			p1 := min(p0+kc, k)
			for r := r0; r < r1; r++ {
				crow := c[r*n+j0 : r*n+j0+w]
				arow := a[r*k : (r+1)*k]
				p := p0
				for ; p+4 <= p1; p += 4 {
					coef = [4]float32{arow[p], arow[p+1], arow[p+2], arow[p+3]}
					if coef == [4]float32{} {
						continue // ReLU and ternary zeros are common
					}
					axpy4(crow, b[p*n+j0:], n, &coef)
				}
				for ; p < p1; p++ {
					if s := arow[p]; s != 0 {
						brow := b[p*n+j0 : p*n+j0+w]
						for j, v := range brow {
							crow[j] += s * v
						}
					}
				}
			}
		}
	}
}

// axpy4 sets y[j] += a[0]·b[j] + a[1]·b[ld+j] + a[2]·b[2ld+j] + a[3]·b[3ld+j]
// for j < len(y).
func axpy4(y, b []float32, ld int, a *[4]float32) {
	n := len(y)
	if n == 0 {
		return
	}
	_ = b[3*ld+n-1]
	v := n &^ 7
	if v > 0 && useAsm {
		axpy4Asm(&y[0], &b[0], ld, a, v)
	} else {
		v = 0
	}
	axpy4Generic(y[v:], b[v:], ld, a)
}

func axpy4Generic(y, b []float32, ld int, a *[4]float32) {
	a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
	n := len(y)
	b0, b1, b2, b3 := b[:n], b[ld:ld+n], b[2*ld:2*ld+n], b[3*ld:3*ld+n]
	for j := range y {
		y[j] += (a0*b0[j] + a2*b2[j]) + (a1*b1[j] + a3*b3[j])
	}
}
