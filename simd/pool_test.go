package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPoolMatchesDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	impl := Active()
	for _, threads := range []int{1, 2, 3, 8} {
		p := NewPool(threads)
		for _, rows := range []int{0, 1, 2, 5, 7, 8, 9, 17, 33, 100} {
			c := makeTernaryCase(rng, patRandom, rows, 300, 128, 0, 1, PackI2B128)
			want := make([]int32, rows)
			GenericMatVecT2(want, c.packed, c.stride, c.x, c.xsum)
			got := make([]int32, rows)
			p.MatVecT2(impl, got, c.packed, c.stride, c.x, c.xsum)
			if !slices.Equal(got, want) {
				t.Fatalf("threads %d rows %d: MatVecT2 differs", threads, rows)
			}
			c16 := makeTernaryCase(rng, patRandom, rows, 300, 160, 0, 1, PackT5B160)
			GenericMatVecT16(want, c16.packed, c16.stride, c16.x, c16.xsum)
			p.MatVecT16(impl, got, c16.packed, c16.stride, c16.x, c16.xsum)
			if !slices.Equal(got, want) {
				t.Fatalf("threads %d rows %d: MatVecT16 differs", threads, rows)
			}
			w8 := make([]int8, rows*70)
			for i := range w8 {
				w8[i] = int8(rng.IntN(256))
			}
			x8 := c.x[:70]
			GenericMatVecI8(want, w8, 70, x8)
			p.MatVecI8(impl, got, w8, 70, x8)
			if !slices.Equal(got, want) {
				t.Fatalf("threads %d rows %d: MatVecI8 differs", threads, rows)
			}
			for _, ntok := range []int{1, 4, 9, 40} {
				k := c.padded
				x := make([]int8, ntok*k)
				xs := make([]int32, ntok)
				for tk := 0; tk < ntok; tk++ {
					for i := 0; i < k; i++ {
						x[tk*k+i] = int8(rng.IntN(256))
					}
					xs[tk] = SumInt8(x[tk*k : (tk+1)*k])
				}
				want := make([]int32, ntok*rows)
				got := make([]int32, ntok*rows)
				GenericMatMulT2(want, rows, c.packed, c.stride, rows, x, k, k, xs, ntok)
				p.MatMulT2(impl, got, rows, c.packed, c.stride, rows, x, k, k, xs, ntok)
				if !slices.Equal(got, want) {
					t.Fatalf("threads %d rows %d ntok %d: MatMulT2 differs", threads, rows, ntok)
				}
			}
		}
		p.Close()
		p.Close() // idempotent
	}
}

// TestPoolDequant checks that the Dequant and MatDequant variants give the
// integer results of the plain calls and the floats of one Dequantize over
// all of them (one per token), at every thread count and split, with
// per-row and per-tensor scales, and that a Dequant or MatDequant too short
// for the results is refused.
func TestPoolDequant(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	impl := Active()
	for _, threads := range []int{1, 2, 3} {
		p := NewPool(threads)
		for _, rows := range []int{1, 7, 16, 33, 100} {
			c := makeTernaryCase(rng, patRandom, rows, 300, 128, 0, 1, PackI2B128)
			w8 := make([]int8, rows*70)
			for i := range w8 {
				w8[i] = int8(rng.IntN(256))
			}
			perRow := make([]float32, rows)
			for i := range perRow {
				perRow[i] = float32(rng.NormFloat64())
			}
			for _, scales := range [][]float32{perRow, {0.37}} {
				check := func(name string, acc, want []int32, y []float32) {
					t.Helper()
					if !slices.Equal(acc, want) {
						t.Fatalf("%s, %d threads, %d rows: results differ from the generic kernel", name, threads, rows)
					}
					wantY := make([]float32, rows)
					Dequantize(wantY, want, scales, 1.75)
					if !slices.Equal(y, wantY) {
						t.Fatalf("%s, %d threads, %d rows, %d scales: dequantized %v, want %v", name, threads, rows, len(scales), y, wantY)
					}
				}
				want := make([]int32, rows)
				GenericMatVecT2(want, c.packed, c.stride, c.x, c.xsum)
				acc, y := make([]int32, rows), make([]float32, rows)
				p.MatVecT2Dequant(impl, Dequant{Y: y, Scales: scales, XScale: 1.75}, acc, c.packed, c.stride, c.x, c.xsum)
				check("MatVecT2Dequant", acc, want, y)
				acc, y = make([]int32, rows), make([]float32, rows)
				acc2, y2 := make([]int32, min(5, rows)), make([]float32, min(5, rows))
				p.MatVecT2Batch(impl, []T2Mat{
					{Dst: acc, W: c.packed, Stride: c.stride, Dequant: Dequant{Y: y, Scales: scales, XScale: 1.75}},
					{Dst: acc2, W: c.packed, Stride: c.stride}, // no Dequant: y2 untouched
				}, c.x, c.xsum)
				check("MatVecT2Batch", acc, want, y)
				if !slices.Equal(acc2, want[:len(acc2)]) || slices.ContainsFunc(y2, func(f float32) bool { return f != 0 }) {
					t.Fatalf("MatVecT2Batch, %d threads: second matrix %v, floats %v", threads, acc2, y2)
				}
				GenericMatVecI8(want, w8, 70, c.x[:70])
				acc, y = make([]int32, rows), make([]float32, rows)
				p.MatVecI8Dequant(impl, Dequant{Y: y, Scales: scales, XScale: 1.75}, acc, w8, 70, c.x[:70])
				check("MatVecI8Dequant", acc, want, y)
				// Several tokens, split by rows or (few rows, many tokens)
				// by tokens; the floats go to rows of ldy > rows, whose
				// padding stays untouched.
				for _, ntok := range []int{2, 5, 9, 40} {
					k := c.padded
					x := make([]int8, ntok*k)
					xs, xsc := make([]int32, ntok), make([]float32, ntok)
					for tk := range ntok {
						for i := range k {
							x[tk*k+i] = int8(rng.IntN(256) - 128)
						}
						xs[tk], xsc[tk] = SumInt8(x[tk*k:(tk+1)*k]), float32(0.5+rng.Float64())
					}
					want := make([]int32, ntok*rows)
					GenericMatMulT2(want, rows, c.packed, c.stride, rows, x, k, k, xs, ntok)
					ldy := rows + 3
					acc, y := make([]int32, ntok*rows), make([]float32, ntok*ldy)
					p.MatMulT2Dequant(impl, MatDequant{Y: y, LDY: ldy, Scales: scales, XScales: xsc}, acc, rows, c.packed, c.stride, rows, x, k, k, xs, ntok)
					if !slices.Equal(acc, want) {
						t.Fatalf("MatMulT2Dequant, %d threads, %d rows, %d tokens: results differ from the generic kernel", threads, rows, ntok)
					}
					for tk := range ntok {
						wantY := make([]float32, rows)
						Dequantize(wantY, want[tk*rows:(tk+1)*rows], scales, xsc[tk])
						if !slices.Equal(y[tk*ldy:tk*ldy+rows], wantY) || slices.ContainsFunc(y[tk*ldy+rows:(tk+1)*ldy], func(f float32) bool { return f != 0 }) {
							t.Fatalf("MatMulT2Dequant, %d threads, %d rows, %d scales, token %d of %d: dequantized %v, want %v",
								threads, rows, len(scales), tk, ntok, y[tk*ldy:(tk+1)*ldy], wantY)
						}
					}
				}
			}
		}
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "MatDequant with 10 outputs at stride 4") {
					t.Errorf("short MatDequant.Y: panic %v", r)
				}
			}()
			c := makeTernaryCase(rng, patRandom, 4, 128, 128, 0, 1, PackI2B128)
			x := make([]int8, 3*c.padded)
			p.MatMulT2Dequant(impl, MatDequant{Y: make([]float32, 10), LDY: 4, Scales: []float32{1}, XScales: []float32{1, 1, 1}},
				make([]int32, 12), 4, c.packed, c.stride, 4, x, c.padded, c.padded, make([]int32, 3), 3)
		}()
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "Dequant with 3 outputs") {
					t.Errorf("short Dequant.Y: panic %v", r)
				}
			}()
			c := makeTernaryCase(rng, patRandom, 4, 128, 128, 0, 1, PackI2B128)
			p.MatVecT2Dequant(impl, Dequant{Y: make([]float32, 3), Scales: []float32{1}, XScale: 1}, make([]int32, 4), c.packed, c.stride, c.x, c.xsum)
		}()
		p.Close()
	}
}

// randomActivations returns k random int8 activations padded to whole
// i2b128 blocks with zeros, and their sum.
func randomActivations(rng *rand.Rand, k int) ([]int8, int32) {
	x := make([]int8, PaddedLen(k, BlockI2B128))
	var sum int32
	for i := range x[:k] {
		x[i] = int8(rng.IntN(256) - 128)
		sum += int32(x[i])
	}
	return x, sum
}

// TestPoolMatVecT2Batch checks that a batch of matrices with one input
// (the odd ones with an input of their own, T2Mat.X) gives, at every
// thread count, the results of one MatVecT2 per matrix: shares that
// start, end or lie inside any matrix, empty matrices, row counts that are
// not multiples of the pool's alignment.
func TestPoolMatVecT2Batch(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	const k = 384
	for _, sizes := range [][]int{{2560 / 8, 640 / 8, 640 / 8}, {7}, {0, 33, 0, 1, 17}, {100, 3}, {16, 16, 16, 16}} {
		var cases []ternaryCase
		x, xsum := randomActivations(rng, k)
		var want [][]int32
		own := make([][]int8, len(sizes))
		ownSum := make([]int32, len(sizes))
		for i, rows := range sizes {
			c := makeTernaryCase(rng, patRandom, rows, k, BlockI2B128, 0, 0, PackI2B128)
			cases = append(cases, c)
			w := make([]int32, rows)
			if i%2 == 1 {
				own[i], ownSum[i] = randomActivations(rng, k)
				GenericMatVecT2(w, c.packed, c.stride, own[i], ownSum[i])
			} else {
				GenericMatVecT2(w, c.packed, c.stride, x, xsum)
			}
			want = append(want, w)
		}
		for _, impl := range tierImpls(t) {
			for _, threads := range []int{1, 2, 3, 5} {
				p := NewPool(threads)
				mats := make([]T2Mat, len(cases))
				for i, c := range cases {
					mats[i] = T2Mat{Dst: make([]int32, c.rows), W: c.packed, Stride: c.stride, X: own[i], XSum: ownSum[i]}
					for r := range mats[i].Dst {
						mats[i].Dst[r] = -1 << 31 // must be overwritten
					}
				}
				p.MatVecT2Batch(impl, mats, x, xsum)
				p.Close()
				for i := range mats {
					if !slices.Equal(mats[i].Dst, want[i]) {
						t.Fatalf("%s, %d threads, sizes %v: matrix %d differs from MatVecT2", impl.Tier, threads, sizes, i)
					}
				}
			}
		}
	}
}

// TestPoolMatVecT2Gated checks the gated FFN job against MatVecT2Batch
// followed by the product, bit for bit, at every thread count: both
// products, row counts off the pool's alignment and around the vector
// loops' width, scales per tensor and per row, and the argument checks.
func TestPoolMatVecT2Gated(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	const k = 384
	x, xsum := randomActivations(rng, k)
	for _, rows := range []int{1, 15, 16, 17, 100, 6912 / 16} {
		g := makeTernaryCase(rng, patRandom, rows, k, BlockI2B128, 0, 0, PackI2B128)
		u := makeTernaryCase(rng, patRandom, rows, k, BlockI2B128, 0, 0, PackI2B128)
		perRow := make([]float32, rows)
		for i := range perRow {
			perRow[i] = float32(rng.Float64() + 0.01)
		}
		for _, act := range []Gate{GateReLUSquared, GateSiLU} {
			for _, impl := range tierImpls(t) {
				mats := func() []T2Mat {
					return []T2Mat{
						{Dst: make([]int32, rows), W: g.packed, Stride: g.stride, Dequant: Dequant{Y: make([]float32, rows), Scales: []float32{0.03}, XScale: 7}},
						{Dst: make([]int32, rows), W: u.packed, Stride: u.stride, Dequant: Dequant{Y: make([]float32, rows), Scales: perRow, XScale: 7}},
					}
				}
				p := NewPool(1)
				want := mats()
				p.MatVecT2Batch(impl, want, x, xsum)
				p.Close()
				gy, uy := want[0].Dequant.Y, want[1].Dequant.Y
				if act == GateSiLU {
					SiLUGate(gy, gy, uy)
				} else {
					ReLUSquaredGate(gy, gy, uy)
				}
				for _, threads := range []int{1, 2, 3, 5} {
					p := NewPool(threads)
					got := mats()
					p.MatVecT2Gated(impl, got, act, x, xsum)
					p.Close()
					for i := range got {
						if !slices.Equal(got[i].Dst, want[i].Dst) {
							t.Fatalf("%s, %d rows, %d threads: matrix %d's sums differ from MatVecT2Batch", impl.Tier, rows, threads, i)
						}
					}
					for r := range gy {
						if math.Float32bits(got[0].Dequant.Y[r]) != math.Float32bits(gy[r]) || math.Float32bits(got[1].Dequant.Y[r]) != math.Float32bits(uy[r]) {
							t.Fatalf("%s, %d rows, %d threads, gate %d: row %d = %g (up %g), want %g (up %g)", impl.Tier, rows, threads, act, r,
								got[0].Dequant.Y[r], got[1].Dequant.Y[r], gy[r], uy[r])
						}
					}
				}
			}
		}
	}
	p := NewPool(2)
	defer p.Close()
	c := makeTernaryCase(rng, patRandom, 8, k, BlockI2B128, 0, 0, PackI2B128)
	dq := Dequant{Y: make([]float32, 8), Scales: []float32{1}, XScale: 1}
	ok := T2Mat{Dst: make([]int32, 8), W: c.packed, Stride: c.stride, Dequant: dq}
	for name, f := range map[string]func(){
		"one matrix": func() { p.MatVecT2Gated(Active(), []T2Mat{ok}, GateSiLU, x, xsum) },
		"rows differ": func() {
			p.MatVecT2Gated(Active(), []T2Mat{ok, {Dst: ok.Dst[:4], W: c.packed, Stride: c.stride, Dequant: dq}}, GateSiLU, x, xsum)
		},
		"no dequant": func() {
			p.MatVecT2Gated(Active(), []T2Mat{ok, {Dst: ok.Dst, W: c.packed, Stride: c.stride}}, GateSiLU, x, xsum)
		},
		"unknown gate": func() { p.MatVecT2Gated(Active(), []T2Mat{ok, ok}, Gate(9), x, xsum) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("MatVecT2Gated with %s did not panic", name)
				}
			}()
			f()
		}()
	}
}

// The per-token path allocates nothing, through the pool and directly.
func TestPoolNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	rng := rand.New(rand.NewPCG(6, 6))
	p := NewPool(2)
	defer p.Close()
	c := makeTernaryCase(rng, patRandom, 64, 1024, 128, 0, 0, PackI2B128)
	c16 := makeTernaryCase(rng, patRandom, 64, 960, 160, 0, 0, PackT5B160)
	dst := make([]int32, 64*8)
	xs := []int32{c.xsum, c.xsum, c.xsum, c.xsum, c.xsum, c.xsum, c.xsum, c.xsum}
	x8 := slices.Repeat(c.x, 8)
	w8 := make([]int8, 64*1024)
	mats := [2]T2Mat{{Dst: dst[:40], W: c.packed, Stride: c.stride}, {Dst: dst[64:88], W: c.packed, Stride: c.stride}}
	y := make([]float32, 64)
	dq := Dequant{Y: y, Scales: []float32{0.5}, XScale: 3}
	dqMats := [2]T2Mat{{Dst: dst[:40], W: c.packed, Stride: c.stride, Dequant: Dequant{Y: y[:40], Scales: y[:40], XScale: 2}}, mats[1]}
	gy := make([]float32, 24)
	mdq := MatDequant{Y: make([]float32, 64*8), LDY: 64, Scales: y[:64], XScales: y[:8]}
	gated := [2]T2Mat{{Dst: dst[:24], W: c.packed, Stride: c.stride, Dequant: Dequant{Y: y[:24], Scales: y[:1], XScale: 2}},
		{Dst: dst[64:88], W: c.packed, Stride: c.stride, Dequant: Dequant{Y: gy, Scales: y[:1], XScale: 2}}}
	for _, impl := range tierImpls(t) {
		for name, f := range map[string]func(){
			"t2":            func() { p.MatVecT2(impl, dst[:64], c.packed, c.stride, c.x, c.xsum) },
			"batch":         func() { p.MatVecT2Batch(impl, mats[:], c.x, c.xsum) },
			"batch dequant": func() { p.MatVecT2Batch(impl, dqMats[:], c.x, c.xsum) },
			"gated":         func() { p.MatVecT2Gated(impl, gated[:], GateReLUSquared, c.x, c.xsum) },
			"t2 dequant":    func() { p.MatVecT2Dequant(impl, dq, dst[:64], c.packed, c.stride, c.x, c.xsum) },
			"i8 dequant":    func() { p.MatVecI8Dequant(impl, dq, dst[:64], w8, 1024, c.x) },
			"t16":           func() { p.MatVecT16(impl, dst[:64], c16.packed, c16.stride, c16.x, c16.xsum) },
			"mm":            func() { p.MatMulT2(impl, dst, 64, c.packed, c.stride, 64, x8, c.padded, c.padded, xs, 8) },
			"mm dequant":    func() { p.MatMulT2Dequant(impl, mdq, dst, 64, c.packed, c.stride, 64, x8, c.padded, c.padded, xs, 8) },
			"i8":            func() { p.MatVecI8(impl, dst[:64], w8, 1024, c.x) },
			"direct":        func() { impl.MatVecT16(dst[:64], c16.packed, c16.stride, c16.x, c16.xsum) },
		} {
			if a := testing.AllocsPerRun(50, f); a != 0 {
				t.Errorf("%s %s: %v allocations per call", impl.Tier, name, a)
			}
		}
	}
}

func TestDefaultThreads(t *testing.T) {
	if n := DefaultThreads(); n < 1 {
		t.Fatalf("DefaultThreads() = %d", n)
	}
	p := NewPool(0)
	defer p.Close()
	if p.Threads() != DefaultThreads() {
		t.Errorf("NewPool(0).Threads() = %d", p.Threads())
	}
}

func TestMeasureReadBandwidth(t *testing.T) {
	gbps := MeasureReadBandwidth(2, 1<<20)
	if !(gbps > 0.1 && gbps < 1e5) {
		t.Errorf("MeasureReadBandwidth = %v GB/s", gbps)
	}
	p := NewReadProbe(make([]byte, 1<<20), 2)
	for _, v := range []float64{p.Best(), p.Measure(1), p.Measure(3)} {
		if !(v > 0.1 && v < 1e5) {
			t.Errorf("ReadProbe: %v GB/s", v)
		}
	}
	// A buffer too small to split (512 bytes a thread) measures nothing.
	if p := NewReadProbe(make([]byte, 1000), 2); p.Best() != 0 || p.Measure(2) != 0 {
		t.Errorf("ReadProbe of 1000 bytes over 2 threads: %v, %v", p.Best(), p.Measure(2))
	}
}

// A zero Impl runs the generic kernels rather than crashing a worker.
func TestPoolZeroImpl(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	dst := make([]int32, 20)
	p.MatVecT2(Impl{}, dst, make([]byte, 20*32), 32, make([]int8, 128), 5)
	for _, v := range dst {
		if v != -5 {
			t.Fatalf("got %v", dst)
		}
	}
}

// counter records which items a Run visited, from any worker.
type counter struct {
	hits    []atomic.Int32
	workers []atomic.Int32
}

func (c *counter) visit(w, lo, hi int) {
	c.workers[w].Add(1)
	for i := lo; i < hi; i++ {
		c.hits[i].Add(1)
	}
}

func TestPoolRun(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 8} {
		p := NewPool(threads)
		c := &counter{hits: make([]atomic.Int32, 100), workers: make([]atomic.Int32, threads)}
		fn := c.visit
		for _, items := range []int{0, 1, 2, 3, 7, 8, 9, 100} {
			for i := range c.hits {
				c.hits[i].Store(0)
			}
			p.Run(items, fn)
			for i := range c.hits {
				want := int32(0)
				if i < items {
					want = 1
				}
				if got := c.hits[i].Load(); got != want {
					t.Fatalf("threads %d items %d: item %d visited %d times", threads, items, i, got)
				}
			}
		}
		if threads > 1 && c.workers[threads-1].Load() == 0 {
			t.Errorf("threads %d: the last worker never ran a share", threads)
		}
		if n := testing.AllocsPerRun(100, func() { p.Run(50, fn) }); n != 0 && !raceEnabled {
			t.Errorf("threads %d: Run allocates %v times", threads, n)
		}
		p.Close()
	}
}

// A panic in the caller's share, recovered by the caller, leaves the pool
// usable: the next job starts only once the workers are done with the
// failed one, so none of them counts down the next job's shares.
func TestPoolCallerPanic(t *testing.T) {
	p := NewPool(3)
	defer p.Close()
	slow := func(worker, lo, hi int) {
		if worker == 0 {
			panic("caller's share failed")
		}
		time.Sleep(30 * time.Millisecond)
	}
	c := &counter{hits: make([]atomic.Int32, 90), workers: make([]atomic.Int32, 3)}
	for round := 0; round < 3; round++ {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("the caller's panic was lost")
				}
			}()
			p.Run(30, slow)
		}()
		for i := range c.hits {
			c.hits[i].Store(0)
		}
		p.Run(90, func(w, lo, hi int) {
			if w > 0 {
				time.Sleep(20 * time.Millisecond)
			}
			c.visit(w, lo, hi)
		})
		for i := range c.hits {
			if got := c.hits[i].Load(); got != 1 {
				t.Fatalf("round %d: after a recovered panic, item %d was visited %d times when Run returned", round, i, got)
			}
		}
	}
}

// Workers spin for a while after a job and then park: jobs must complete
// whether they find the workers spinning or parked, and Close must stop
// both.
func TestPoolSpinThenPark(t *testing.T) {
	p := NewPool(3)
	c := &counter{hits: make([]atomic.Int32, 30), workers: make([]atomic.Int32, 3)}
	for round := range 6 {
		if round%2 == 1 {
			time.Sleep(20 * time.Millisecond) // long enough for every worker to park
		}
		for i := range c.hits {
			c.hits[i].Store(0)
		}
		p.Run(30, c.visit)
		for i := range c.hits {
			if c.hits[i].Load() != 1 {
				t.Fatalf("round %d: item %d visited %d times", round, i, c.hits[i].Load())
			}
		}
	}
	before := runtime.NumGoroutine()
	p.Close()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before-2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before-2 {
		t.Errorf("workers still running after Close: %d goroutines, %d before", n, before)
	}
}

// TestPoolBalance: the caller's part of a kind of job follows the shares'
// speeds, within half and one and a half times an even split, and run
// splits by it. The timings are made up (measured ones would make the test
// depend on the machine's load); TestPoolBalanceCoverage runs real calls.
func TestPoolBalance(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	step := func(first int, d0, dw int64) {
		p.j = job{op: opFunc, first: first}
		t0 := int64(1000)
		p.ends[1].Store(t0 + dw)
		p.balance(64, 2, t0, t0+d0)
		p.j = job{}
	}
	// The worker takes three times as long per item: the caller should
	// take three quarters, which is also the most it may.
	for i := 0; i < 40; i++ {
		first, _ := p.split(opFunc, 64, 1)
		step(first, int64(first)*10, int64(64-first)*30)
	}
	if f := p.frac[opFunc]; f < 0.74 || f > 0.75 {
		t.Errorf("worker 3× slower: caller's part %.3f, want 0.75", f)
	}
	if first, chunk := p.split(opFunc, 64, 1); first != 48 || chunk != 16 {
		t.Errorf("split at 0.75: %d and %d, want 48 and 16", first, chunk)
	}
	// Now the worker is 1.5× faster: the caller's part goes to 0.4.
	for i := 0; i < 80; i++ {
		first, _ := p.split(opFunc, 64, 1)
		step(first, int64(first)*30, int64(64-first)*20)
	}
	if f := p.frac[opFunc]; f < 0.39 || f > 0.41 {
		t.Errorf("worker 1.5× faster: caller's part %.3f, want 0.4", f)
	}
	// Other kinds of job keep their own part.
	if f := p.frac[opT2]; f != 0 {
		t.Errorf("t2 jobs' part %v changed by Run's", f)
	}
}

// TestPoolBalanceCoverage: whatever the learnt split, every call covers
// each item exactly once, with the worker slower per item than the caller.
func TestPoolBalanceCoverage(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	const items = 64
	var seen [items]atomic.Int32
	spin := func(d time.Duration) {
		for t0 := time.Now(); time.Since(t0) < d; {
		}
	}
	fn := func(worker, lo, hi int) {
		for i := lo; i < hi; i++ {
			seen[i].Add(1)
			spin(time.Duration(1+2*worker) * time.Microsecond)
		}
	}
	for call := 1; call <= 60; call++ {
		p.Run(items, fn)
		for i := range seen {
			if n := seen[i].Load(); n != int32(call) {
				t.Fatalf("call %d: item %d run %d times in all", call, i, n)
			}
		}
	}
}

// TestPoolPieces: a matrix of at least pieceMin bytes is handed out in
// pieces to whichever thread is free; every row must still be computed
// once, with the plain kernel's result, and dequantized.
func TestPoolPieces(t *testing.T) {
	const stride = 4096
	rows := pieceMin/stride + 3*rowAlign + 5 // pieces and a short last one
	rng := rand.New(rand.NewPCG(10, 10))
	w := make([]int8, rows*stride)
	for i := range w {
		w[i] = int8(rng.Uint32())
	}
	x := make([]int8, stride)
	for i := range x {
		x[i] = int8(rng.IntN(256) - 128)
	}
	want := make([]int32, rows)
	Active().MatVecI8(want, w, stride, x)
	wantY := make([]float32, rows)
	Dequantize(wantY, want, []float32{0.25}, 2)
	for _, threads := range []int{2, 3} {
		p := NewPool(threads)
		got, y := make([]int32, rows), make([]float32, rows)
		for i := range got {
			got[i] = -1 << 31
		}
		p.MatVecI8Dequant(Active(), Dequant{Y: y, Scales: []float32{0.25}, XScale: 2}, got, w, stride, x)
		if p.next.Load() < int64(rows) { // every piece handed out, and one past the end per thread
			t.Errorf("%d threads: the job was not handed out in pieces", threads)
		}
		if !slices.Equal(got, want) || !slices.Equal(y, wantY) {
			t.Errorf("%d threads: results differ from one kernel call", threads)
		}
		p.Close()
	}
}

// TestPoolPrefetch: after a Prefetch hint a spinning worker loads the start
// of its likely rows (its sink shows the bytes it read), the next call's
// results are those of the plain kernel, and Close returns only when the
// workers have exited.
func TestPoolPrefetch(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	before := runtime.NumGoroutine()
	for _, threads := range []int{2, 3} {
		p := NewPool(threads)
		a := makeTernaryCase(rng, patRandom, 100, 512, BlockI2B128, 0, 0, PackI2B128)
		b := makeTernaryCase(rng, patRandom, 60, 512, BlockI2B128, 0, 0, PackI2B128)
		x := make([]int8, 512)
		for i := range x {
			x[i] = int8(rng.IntN(256) - 128)
		}
		mats := []T2Mat{{Dst: make([]int32, 100), W: a.packed, Stride: a.stride}, {Dst: make([]int32, 60), W: b.packed, Stride: b.stride}}
		// A call first: workers spin for a while after one (a parked
		// worker ignores hints), as they do between the calls of a decode.
		// A slow machine (or qemu) can park the worker before the hint
		// comes, so the pair is tried a few times.
		for try := 0; try < 20 && p.sink[1].Load() == 0; try++ {
			p.MatVecT2Batch(Active(), mats, x, SumInt8(x))
			p.Prefetch(mats)
			deadline := time.Now().Add(50 * time.Millisecond)
			for p.sink[1].Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Microsecond)
			}
		}
		if p.sink[1].Load() == 0 {
			t.Errorf("%d threads: worker 1 loaded nothing after a hint", threads)
		}
		p.MatVecT2Batch(Active(), mats, x, SumInt8(x))
		for i, c := range []ternaryCase{a, b} {
			want := make([]int32, c.rows)
			GenericMatVecT2(want, c.packed, c.stride, x, SumInt8(x))
			if !slices.Equal(mats[i].Dst, want) {
				t.Fatalf("%d threads: matrix %d after a hint differs", threads, i)
			}
		}
		p.Prefetch(mats[:1]) // a hint no call follows
		p.Close()
	}
	// The workers have signalled their exit when Close returns; their
	// goroutines end a moment later.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("%d goroutines after Close, %d before", after, before)
	}
}
