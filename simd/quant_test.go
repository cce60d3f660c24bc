package simd

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

func TestQuantizeActivations(t *testing.T) {
	// max|x| = 127 gives scale 1, so rounding is visible directly.
	x := []float32{127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, -127, 3.49}
	want := []int8{127, 0, 2, 2, 0, -2, -2, -127, 3}
	dst := make([]int8, 12)
	for i := range dst {
		dst[i] = 99
	}
	scale, sum := QuantizeActivations(dst, x)
	if scale != 1 {
		t.Fatalf("scale = %v, want 1", scale)
	}
	var s int32
	for i, w := range want {
		if dst[i] != w {
			t.Errorf("q[%d] = %d, want %d (x=%v)", i, dst[i], w, x[i])
		}
		s += int32(w)
	}
	for i := len(x); i < len(dst); i++ {
		if dst[i] != 0 {
			t.Errorf("padding q[%d] = %d", i, dst[i])
		}
	}
	if sum != s {
		t.Errorf("sum = %d, want %d", sum, s)
	}
}

func TestQuantizeActivationsScaleAndSpecials(t *testing.T) {
	dst := make([]int8, 5)
	scale, sum := QuantizeActivations(dst, []float32{0.5, -0.25, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))})
	if scale != 254 {
		t.Errorf("scale = %v, want 254", scale)
	}
	want := []int8{127, -64, 0, 127, -128} // -0.25·254 = -63.5 → -64 (half to even)
	for i, w := range want {
		if dst[i] != w {
			t.Errorf("q[%d] = %d, want %d", i, dst[i], w)
		}
	}
	if sum != 127-64+127-128 {
		t.Errorf("sum = %d", sum)
	}
	scale, sum = QuantizeActivations(dst, make([]float32, 3))
	if scale != 1 || sum != 0 {
		t.Errorf("zeros: scale %v sum %d", scale, sum)
	}
}

// quantVecTiers runs f once with each vector form of the quantization loops
// installed (none on a CPU without any), restoring the best afterwards.
func quantVecTiers(t *testing.T, f func(t *testing.T)) {
	best := quantVec.Load()
	defer quantVec.Store(best)
	for _, k := range quantVecAll {
		quantVec.Store(k)
		t.Run(k.name, f)
	}
	if len(quantVecAll) == 0 {
		t.Skip("no vector quantization loops on this CPU")
	}
}

// quantInputs returns test vectors of length n for seed r: random values of
// several magnitudes, exact ties after scaling, and the special values.
func quantInputs(r *rand.Rand, n int) [][]float32 {
	specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)),
		math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, 1e-38, 127, -128, 0.5, -0.5}
	var out [][]float32
	gen := func(f func(i int) float32) {
		x := make([]float32, n)
		for i := range x {
			x[i] = f(i)
		}
		out = append(out, x)
	}
	gen(func(int) float32 { return 0 })
	gen(func(int) float32 { return float32(r.NormFloat64()) })
	gen(func(int) float32 { return float32(r.NormFloat64() * 1e30) })
	gen(func(int) float32 { return float32(r.NormFloat64() * 1e-40) }) // subnormal: infinite scale
	gen(func(int) float32 { return float32(r.NormFloat64() * 1e-36) })
	// max 127 gives scale 1: halves are exact ties.
	gen(func(i int) float32 {
		if i == 0 {
			return 127
		}
		return float32(r.Intn(300)-150) + 0.5
	})
	// max 254 gives scale 0.5: odd integers tie after scaling.
	gen(func(i int) float32 {
		if i == n-1 {
			return -254
		}
		return float32(r.Intn(600) - 300)
	})
	gen(func(int) float32 {
		if r.Intn(3) == 0 {
			return specials[r.Intn(len(specials))]
		}
		return float32(r.NormFloat64() * math.Pow(10, float64(r.Intn(20)-10)))
	})
	gen(func(int) float32 { return specials[r.Intn(5)] }) // only 0, NaN, ±Inf
	gen(func(int) float32 { return math.Float32frombits(r.Uint32()) })
	return out
}

func TestQuantizeActivationsMatchesGeneric(t *testing.T) {
	quantVecTiers(t, func(t *testing.T) {
		r := rand.New(rand.NewSource(1))
		buf := make([]float32, 320)
		for n := 0; n <= 300; n++ {
			for ci, in := range quantInputs(r, n) {
				off := n % 7 // unaligned starts
				x := buf[off : off+n]
				copy(x, in)
				pad := n % 5
				got, want := make([]int8, n+pad+1)[1:], make([]int8, n+pad)
				for i := range got {
					got[i], want[i] = 77, 77
				}
				gs, gsum := QuantizeActivations(got, x)
				ws, wsum := quantizeGeneric(want, x)
				if math.Float32bits(gs) != math.Float32bits(ws) || gsum != wsum || string(i8bytes(got)) != string(i8bytes(want)) {
					t.Fatalf("n=%d case %d: scale %v sum %d, generic %v %d\ngot  %v\nwant %v", n, ci, gs, gsum, ws, wsum, got, want)
				}
			}
		}
	})
}

func i8bytes(q []int8) []byte {
	b := make([]byte, len(q))
	for i, v := range q {
		b[i] = byte(v)
	}
	return b
}

func TestDequantizeMatchesGeneric(t *testing.T) {
	quantVecTiers(t, func(t *testing.T) {
		r := rand.New(rand.NewSource(2))
		scales := []float32{1, 0.37, 254, 1e-30, 1e30, 0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.NaN()), math.SmallestNonzeroFloat32,
			math.Float32frombits(0x7fc01234), math.Float32frombits(0xffa00001)} // NaNs with payloads
		accBuf := make([]int32, 320)
		sBuf := make([]float32, 320)
		for n := 0; n <= 300; n++ {
			off := n % 5
			acc, rs := accBuf[off:off+n], sBuf[off:off+n]
			for i := range acc {
				switch r.Intn(4) {
				case 0:
					acc[i] = int32(r.Uint32()) // large: rounding in the conversion
				case 1:
					acc[i] = []int32{0, 1, -1, math.MaxInt32, math.MinInt32}[r.Intn(5)]
				default:
					acc[i] = int32(r.Intn(200001) - 100000)
				}
				rs[i] = float32(r.NormFloat64() * 0.01)
				if r.Intn(8) == 0 {
					rs[i] = scales[r.Intn(len(scales))]
				}
			}
			for _, xs := range scales {
				for _, row := range [][]float32{rs, {scales[r.Intn(len(scales))]}, {float32(r.Float64())}} {
					got, want := make([]float32, n+1)[1:], make([]float32, n)
					Dequantize(got, acc, row, xs)
					dequantizeGeneric(want, acc, row, xs)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("n=%d xscale=%v row scales %d: dst[%d] = %v (%#x), generic %v (%#x)", n, xs, len(row), i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
						}
					}
				}
			}
		}
	})
}

// BenchmarkQuantizeActivations and BenchmarkDequantize time one vector of
// the BitNet b1.58 2B4T widths (hidden 2560, FFN 6912) per tier; b.SetBytes
// is the float32 bytes read.
func BenchmarkQuantizeActivations(b *testing.B) {
	benchQuantTiers(b, func(b *testing.B, n int, f func() bool) {
		r := rand.New(rand.NewSource(3))
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		dst := make([]int8, n)
		b.SetBytes(int64(4 * n))
		if f() {
			for b.Loop() {
				quantizeGeneric(dst, x)
			}
			return
		}
		for b.Loop() {
			QuantizeActivations(dst, x)
		}
	})
}

func BenchmarkDequantize(b *testing.B) {
	benchQuantTiers(b, func(b *testing.B, n int, f func() bool) {
		acc := make([]int32, n)
		for i := range acc {
			acc[i] = int32(i*7919%20001 - 10000)
		}
		dst := make([]float32, n)
		scale := []float32{0.73}
		b.SetBytes(int64(4 * n))
		if f() {
			for b.Loop() {
				dequantizeGeneric(dst, acc, scale, 21.5)
			}
			return
		}
		for b.Loop() {
			Dequantize(dst, acc, scale, 21.5)
		}
	})
}

// benchQuantTiers runs body per tier (generic, then each vector form) and
// width; body's f reports whether the generic Go loop is wanted.
func benchQuantTiers(b *testing.B, body func(b *testing.B, n int, generic func() bool)) {
	best := quantVec.Load()
	defer quantVec.Store(best)
	tiers := append([]*quantKernels{nil}, quantVecAll...)
	for _, k := range tiers {
		name := "generic"
		if k != nil {
			name = k.name
		}
		for _, n := range []int{2560, 6912} {
			b.Run(fmt.Sprintf("%s/n=%d", name, n), func(b *testing.B) {
				quantVec.Store(k)
				body(b, n, func() bool { return k == nil })
			})
		}
	}
}

func TestQuantizeDequantizeAllocs(t *testing.T) {
	x := make([]float32, 2560)
	for i := range x {
		x[i] = float32(i%37) - 18.5
	}
	q := make([]int8, len(x))
	acc := make([]int32, len(x))
	dst := make([]float32, len(x))
	// The vector loops are called through function values, as the Impl
	// kernels are, so the slices leak to the heap: callers keep them there.
	one := []float32{0.5}
	if n := testing.AllocsPerRun(10, func() {
		s, _ := QuantizeActivations(q, x)
		Dequantize(dst, acc, one, s)
	}); n != 0 {
		t.Errorf("%v allocations per call", n)
	}
}
