package simd

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func near(a, b, tol float32) bool { return float32(math.Abs(float64(a-b))) <= tol }

func TestRMSNorm(t *testing.T) {
	x := []float32{3, -4}
	dst := make([]float32, 2)
	RMSNorm(dst, x, []float32{1, 2}, 0)
	// rms = sqrt((9+16)/2) = 3.5355
	if !near(dst[0], 3/3.5355339, 1e-5) || !near(dst[1], -8/3.5355339, 1e-5) {
		t.Errorf("RMSNorm = %v", dst)
	}
	RMSNorm(x, x, nil, 0)
	if !near(x[0], 0.8485281, 1e-5) {
		t.Errorf("in place, unscaled: %v", x)
	}
	// Every length from 0 to 21 (the four partial sums and the tail),
	// against the float64 formula.
	for n := range 22 {
		x, w := make([]float32, n), make([]float32, n)
		var ss float64
		for i := range x {
			x[i] = float32(i%5) - 1.75 + float32(i)/8
			w[i] = 1 + float32(i%3)/4
			ss += float64(x[i]) * float64(x[i])
		}
		dst := make([]float32, n)
		RMSNorm(dst, x, w, 1e-5)
		inv := 1 / math.Sqrt(ss/float64(max(n, 1))+1e-5)
		for i := range x {
			if want := float64(x[i]) * inv * float64(w[i]); math.Abs(float64(dst[i])-want) > 1e-6*math.Abs(want)+1e-7 {
				t.Fatalf("n=%d: dst[%d] = %g, want %g", n, i, dst[i], want)
			}
		}
	}
}

func TestRoPE(t *testing.T) {
	cos, sin := make([]float32, 2), make([]float32, 2)
	RoPETable(cos, sin, 0, 10000)
	if cos[0] != 1 || sin[1] != 0 {
		t.Errorf("position 0 not the identity: %v %v", cos, sin)
	}
	RoPETable(cos, sin, 3, 10000)
	// angle_0 = 3, angle_1 = 3·10000^(-1/2) = 0.03
	if !near(cos[0], float32(math.Cos(3)), 1e-6) || !near(sin[1], float32(math.Sin(0.03)), 1e-6) {
		t.Errorf("table %v %v", cos, sin)
	}
	x := []float32{1, 0, 0, 0}
	RoPERotateHalf(x, cos, sin)
	// pair (x0, x2) rotated by angle 3: (cos 3, sin 3)
	if !near(x[0], float32(math.Cos(3)), 1e-6) || !near(x[2], float32(math.Sin(3)), 1e-6) || x[1] != 0 || x[3] != 0 {
		t.Errorf("rotated %v", x)
	}
}

func TestSoftmax(t *testing.T) {
	x := []float32{1000, 1000, 999}
	Softmax(x)
	e := float32(math.Exp(-1))
	if !near(x[0], 1/(2+e), 1e-6) || !near(x[2], e/(2+e), 1e-6) {
		t.Errorf("Softmax = %v", x)
	}
	Softmax(nil)
}

// ulps is the distance between two finite float32 of the same sign in
// units in the last place.
func ulps(a, b float32) int64 {
	d := int64(math.Float32bits(a)) - int64(math.Float32bits(b))
	if d < 0 {
		d = -d
	}
	return d
}

func TestExp32(t *testing.T) {
	worst, at := int64(0), float32(0)
	check := func(x float32) {
		got := Exp32(x)
		want := float32(math.Exp(float64(x)))
		if want < 0x1p-126 { // the result's own float32 is denormal or 0
			if got != 0 && math.Abs(float64(got)-float64(want)) > 0x1p-149 {
				t.Fatalf("Exp32(%g) = %g, want %g", x, got, want)
			}
			return
		}
		if u := ulps(got, want); u > worst {
			worst, at = u, x
		}
	}
	for i := 0; i <= 2_000_000; i++ {
		check(-87.3 * float32(i) / 2_000_000)
	}
	// Around every switch of n, where the reduction is most delicate.
	for n := -125; n <= 0; n++ {
		c := float32(float64(n)*math.Ln2 + math.Ln2/2)
		for _, x := range []float32{math.Nextafter32(c, -100), c, math.Nextafter32(c, 100)} {
			if x <= 0 {
				check(x)
			}
		}
	}
	if worst > 2 {
		t.Fatalf("Exp32 is %d ulp from exp at %g", worst, at)
	}
	t.Logf("worst error %d ulp at %g", worst, at)
	if Exp32(0) != 1 {
		t.Errorf("Exp32(0) = %g", Exp32(0))
	}
	for _, x := range []float32{-87.31, -100, float32(math.Inf(-1))} {
		if got := Exp32(x); got != 0 {
			t.Errorf("Exp32(%g) = %g, want 0", x, got)
		}
	}
	if nan := float32(math.NaN()); !math.IsNaN(float64(Exp32(nan))) {
		t.Errorf("Exp32(NaN) is not NaN")
	}
}

// TestSigmoid32 measures Sigmoid32 and SiLU32 against float64 over
// [-100, 100] and checks the special values.
func TestSigmoid32(t *testing.T) {
	worstS, worstL, atS, atL := int64(0), int64(0), float32(0), float32(0)
	for i := -2_000_000; i <= 2_000_000; i++ {
		x := 100 * float32(i) / 2_000_000
		s := 1 / (1 + math.Exp(-float64(x)))
		// Below 2^-125 (x < -86.6) Exp32's flush to 0 under -87.3 shows:
		// there the error is measured absolutely.
		if got, want := Sigmoid32(x), float32(s); want >= 0x1p-125 {
			if u := ulps(got, want); u > worstS {
				worstS, atS = u, x
			}
		} else if math.Abs(float64(got)-s) > 0x1p-125 {
			t.Fatalf("Sigmoid32(%g) = %g, want %g", x, got, s)
		}
		if got, want := SiLU32(x), float32(float64(x)*s); s >= 0x1p-125 {
			if u := ulps(got, want); u > worstL {
				worstL, atL = u, x
			}
		} else if math.Abs(float64(got)-float64(x)*s) > 100*0x1p-125 {
			t.Fatalf("SiLU32(%g) = %g, want %g", x, got, float64(x)*s)
		}
	}
	if worstS > 4 || worstL > 4 {
		t.Fatalf("Sigmoid32 is %d ulp from σ at %g, SiLU32 %d ulp from silu at %g", worstS, atS, worstL, atL)
	}
	t.Logf("worst errors: Sigmoid32 %d ulp at %g, SiLU32 %d ulp at %g", worstS, atS, worstL, atL)
	inf := float32(math.Inf(1))
	for _, c := range []struct{ x, sig, silu float32 }{
		{0, 0.5, 0}, {inf, 1, inf}, {-inf, 0, float32(math.NaN())}, {200, 1, 200}, {-200, 0, 0},
	} {
		if got := Sigmoid32(c.x); got != c.sig {
			t.Errorf("Sigmoid32(%g) = %g, want %g", c.x, got, c.sig)
		}
		if got := SiLU32(c.x); got != c.silu && !(got != got && c.silu != c.silu) {
			t.Errorf("SiLU32(%g) = %g, want %g", c.x, got, c.silu)
		}
	}
	nan := math.Float32frombits(0x7fc01234)
	if math.Float32bits(Sigmoid32(nan)) != 0x7fc01234 || math.Float32bits(SiLU32(nan)) != 0x7fc01234 {
		t.Errorf("a NaN argument does not come back unchanged: %#x, %#x", math.Float32bits(Sigmoid32(nan)), math.Float32bits(SiLU32(nan)))
	}
}

// TestMLGRUStep checks MLGRUStep against the update written out in
// float64 (the gates' pre-activations of a trained layer's range).
func TestMLGRUStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, n := range []int{1, 15, 16, 17, 1024} {
		for _, bounded := range []bool{false, true} {
			h, ig, fg := make([]float32, n), make([]float32, n), make([]float32, n)
			var lb []float32
			if bounded {
				lb = make([]float32, n)
			}
			for k := range h {
				h[k], ig[k], fg[k] = float32(rng.NormFloat64()), float32(rng.NormFloat64()*4), float32(rng.NormFloat64()*4)
				if bounded {
					lb[k] = float32(rng.Float64())
				}
			}
			want := make([]float64, n)
			for k := range want {
				f := 1 / (1 + math.Exp(-float64(fg[k])))
				if bounded {
					f = float64(lb[k]) + (1-float64(lb[k]))*f
				}
				i := float64(ig[k]) / (1 + math.Exp(-float64(ig[k])))
				want[k] = f*float64(h[k]) + i*(1-f)
			}
			MLGRUStep(h, ig, fg, lb)
			for k := range h {
				if d := math.Abs(float64(h[k]) - want[k]); d > 1e-5*math.Max(1, math.Abs(want[k])) {
					t.Fatalf("n=%d bounded=%v: h[%d] = %g, want %g", n, bounded, k, h[k], want[k])
				}
			}
		}
	}
}

func TestSoftmaxScaled(t *testing.T) {
	x := []float32{3, -1, 0.5, 2, -40, 7}
	const scale = 0.088388346 // 1/sqrt(128)
	want := make([]float64, len(x))
	var s float64
	for i, v := range x {
		want[i] = math.Exp(float64(scale) * (float64(v) - 7))
		s += want[i]
	}
	SoftmaxScaled(x, scale)
	for i := range x {
		if !near(x[i], float32(want[i]/s), 1e-6) {
			t.Errorf("SoftmaxScaled[%d] = %g, want %g", i, x[i], want[i]/s)
		}
	}
}

func TestActivations(t *testing.T) {
	x := []float32{-2, 0, 3}
	d := make([]float32, 3)
	SiLU(d, x)
	if !near(d[0], -2/(1+float32(math.Exp(2))), 1e-6) || d[1] != 0 || !near(d[2], 3/(1+float32(math.Exp(-3))), 1e-6) {
		t.Errorf("SiLU = %v", d)
	}
	ReLUSquared(d, x)
	if d[0] != 0 || d[2] != 9 {
		t.Errorf("ReLUSquared = %v", d)
	}
	ReLUSquaredGate(d, x, []float32{5, 5, 2})
	if d[0] != 0 || d[2] != 18 {
		t.Errorf("ReLUSquaredGate = %v", d)
	}
	SiLUGate(d, x, []float32{1, 1, 2})
	if !near(d[2], 6/(1+float32(math.Exp(-3))), 1e-6) {
		t.Errorf("SiLUGate = %v", d)
	}
	Mul(d, x, x)
	if d[0] != 4 || d[2] != 9 {
		t.Errorf("Mul = %v", d)
	}
}

func TestDequantize(t *testing.T) {
	d := make([]float32, 2)
	Dequantize(d, []int32{254, -127}, []float32{0.5}, 127)
	if d[0] != 1 || d[1] != -0.5 {
		t.Errorf("per-tensor: %v", d)
	}
	Dequantize(d, []int32{254, -127}, []float32{0.5, 2}, 127)
	if d[1] != -2 {
		t.Errorf("per-row: %v", d)
	}
	DequantizeInt8(d, []int8{-128, 4}, 0.25)
	if d[0] != -32 || d[1] != 1 {
		t.Errorf("DequantizeInt8: %v", d)
	}
}

// TestExpVec checks the vector exp of SoftmaxScaled against Exp32 bit for
// bit, over the softmax's whole domain (every exponent from the underflow
// to 0, the switches of n, the edge at -87.3) and NaN, -Inf and -0.
func TestExpVec(t *testing.T) {
	if !normVec {
		t.Skip("no vector exp on this CPU")
	}
	var in []float32
	for i := 0; i <= 200_000; i++ {
		in = append(in, -90*float32(i)/200_000)
	}
	for n := -126; n <= 0; n++ {
		c := float32(float64(n)*math.Ln2 + math.Ln2/2)
		in = append(in, math.Nextafter32(c, -100), c, math.Nextafter32(c, 100))
	}
	in = append(in, -87.3, math.Nextafter32(-87.3, 0), math.Nextafter32(-87.3, -100), 0, float32(math.Copysign(0, -1)),
		float32(math.Inf(-1)), float32(math.NaN()), -1e-30)
	for len(in)%16 != 0 {
		in = append(in, -1)
	}
	for _, ms := range []struct{ m, scale float32 }{{0, 1}, {3.5, 0.088388346}, {-2, 0.5}} {
		x := make([]float32, len(in))
		for i, v := range in {
			x[i] = v/ms.scale + ms.m // (x-m)·scale lands near v
		}
		got := make([]float32, len(x))
		expScaledVec(&got[0], &x[0], len(x), ms.m, ms.scale)
		for i, v := range x {
			want := Exp32(float32(v-ms.m) * ms.scale)
			if math.Float32bits(got[i]) != math.Float32bits(want) {
				t.Fatalf("m=%g scale=%g: exp((%g-m)·scale) = %g (%#x), Exp32 gives %g (%#x)", ms.m, ms.scale, v, got[i], math.Float32bits(got[i]), want, math.Float32bits(want))
			}
		}
	}
}

// TestRMSNormVector checks that the vector loops (where this CPU has them)
// give RMSNorm the bits of the Go loops: every length to 100 and the
// model widths, with a weight and without, in place and not.
func TestRMSNormVector(t *testing.T) {
	if !normVec {
		t.Skip("no vector RMSNorm loops on this CPU")
	}
	rng := rand.New(rand.NewPCG(5, 5))
	lengths := []int{2560, 6912, 4097}
	for n := range 101 {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		x, w := make([]float32, n), make([]float32, n)
		for i := range x {
			// Magnitudes over 2^±20, so that the float64 sums round and
			// any change of order shows.
			x[i] = float32(rng.NormFloat64() * math.Ldexp(1, rng.IntN(41)-20))
			w[i] = float32(rng.NormFloat64())
		}
		// The lane sums themselves, bit for bit: a different order of the
		// float64 additions would rarely show in the float32 output.
		sv := sumSquares(x)
		normVec = false
		sg := sumSquares(x)
		normVec = true
		for l := range sv {
			if math.Float64bits(sv[l]) != math.Float64bits(sg[l]) {
				t.Fatalf("n=%d: lane %d sums to %g, Go loops give %g", n, l, sv[l], sg[l])
			}
		}
		for _, weight := range [][]float32{nil, w} {
			vec := make([]float32, n)
			RMSNorm(vec, x, weight, 1e-6)
			inPlace := slices.Clone(x)
			RMSNorm(inPlace, inPlace, weight, 1e-6)
			normVec = false
			scalar := make([]float32, n)
			RMSNorm(scalar, x, weight, 1e-6)
			normVec = true
			for i := range scalar {
				if math.Float32bits(vec[i]) != math.Float32bits(scalar[i]) || math.Float32bits(inPlace[i]) != math.Float32bits(scalar[i]) {
					t.Fatalf("n=%d weighted=%v: element %d = %g (in place %g), Go loops give %g", n, weight != nil, i, vec[i], inPlace[i], scalar[i])
				}
			}
		}
	}
}

// TestSoftmaxVector checks that SoftmaxScaled gives the bits of its Go
// loops with the vector loops (maximum, exponentials, lane sums, scaling):
// every length to 100 and a few attention spans, scores of mixed
// magnitude, repeated maxima and zeros of both signs.
func TestSoftmaxVector(t *testing.T) {
	if !normVec {
		t.Skip("no vector loops on this CPU")
	}
	rng := rand.New(rand.NewPCG(8, 8))
	lengths := []int{257, 300, 1024}
	for n := 1; n <= 100; n++ {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * math.Ldexp(1, rng.IntN(12)-4))
		}
		if n > 3 {
			x[1], x[2], x[3] = x[0], 0, float32(math.Copysign(0, -1))
		}
		for _, scale := range []float32{1, 0.088388346, 7} {
			vec, scalar := slices.Clone(x), slices.Clone(x)
			SoftmaxScaled(vec, scale)
			lv := sumLanes(x)
			normVec = false
			SoftmaxScaled(scalar, scale)
			lg := sumLanes(x)
			normVec = true
			for i := range vec {
				if math.Float32bits(vec[i]) != math.Float32bits(scalar[i]) {
					t.Fatalf("n=%d scale=%g: element %d = %g, Go loops give %g", n, scale, i, vec[i], scalar[i])
				}
			}
			for l := range lv {
				if math.Float64bits(lv[l]) != math.Float64bits(lg[l]) {
					t.Fatalf("n=%d: lane %d sums to %g, Go loops give %g", n, l, lv[l], lg[l])
				}
			}
		}
	}
}

// elementInputs are floats for the element-wise loops: normal values of
// mixed magnitude, zeros of both signs, subnormals, infinities and NaNs of
// both signs with payloads.
func elementInputs(rng *rand.Rand, n int) []float32 {
	special := []float32{0, float32(math.Copysign(0, -1)), math.Float32frombits(1), math.Float32frombits(0x80000001),
		float32(math.Inf(1)), float32(math.Inf(-1)), math.Float32frombits(0x7fc00001), math.Float32frombits(0xffc12345),
		math.Float32frombits(0x7f800123), math.MaxFloat32, -math.MaxFloat32}
	x := make([]float32, n)
	for i := range x {
		if rng.IntN(8) == 0 {
			x[i] = special[rng.IntN(len(special))]
		} else {
			x[i] = float32(rng.NormFloat64() * math.Ldexp(1, rng.IntN(40)-20))
		}
	}
	return x
}

// TestElementwiseVector checks that ReLUSquaredGate, AddTo, SiLU,
// SiLUGate, MLGRUStep and RoPERotateHalf give the bits
// of their Go loops with the vector loops: every length to 100 and the FFN
// width, special values, in place (dst = gate, as the FFN calls it) and not.
func TestElementwiseVector(t *testing.T) {
	if !normVec {
		t.Skip("no vector loops on this CPU")
	}
	rng := rand.New(rand.NewPCG(9, 9))
	lengths := []int{6912, 2560}
	for n := range 101 {
		lengths = append(lengths, n)
	}
	same := func(a, b []float32) int {
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				return i
			}
		}
		return -1
	}
	for _, n := range lengths {
		g, u, h := elementInputs(rng, n), elementInputs(rng, n), elementInputs(rng, n)
		vec, inPlace := make([]float32, n), slices.Clone(g)
		ReLUSquaredGate(vec, g, u)
		ReLUSquaredGate(inPlace, inPlace, u)
		sumV := slices.Clone(h)
		AddTo(sumV, u)
		normVec = false
		scalar := make([]float32, n)
		ReLUSquaredGate(scalar, g, u)
		sumS := slices.Clone(h)
		AddTo(sumS, u)
		normVec = true
		if i := same(vec, scalar); i >= 0 {
			t.Fatalf("ReLUSquaredGate n=%d: element %d: relu(%g)²·%g = %#x, Go loop %#x", n, i, g[i], u[i], math.Float32bits(vec[i]), math.Float32bits(scalar[i]))
		}
		if i := same(inPlace, scalar); i >= 0 {
			t.Fatalf("ReLUSquaredGate in place n=%d: element %d = %#x, Go loop %#x", n, i, math.Float32bits(inPlace[i]), math.Float32bits(scalar[i]))
		}
		if i := same(sumV, sumS); i >= 0 {
			t.Fatalf("AddTo n=%d: element %d: %g + %g = %#x, Go loop %#x", n, i, h[i], u[i], math.Float32bits(sumV[i]), math.Float32bits(sumS[i]))
		}
	}
	// SiLU, SiLUGate (apart, in place over the gate and over up) and
	// MLGRUStep (with lower bounds and without). Where two NaNs meet, which
	// payload a product keeps depends on the operand order the compiler
	// picks for the Go loop, so NaN only has to meet NaN.
	sameOrNaN := func(a, b []float32) int {
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] != a[i] && b[i] != b[i]) {
				return i
			}
		}
		return -1
	}
	for _, n := range lengths {
		g, u, h, lb := elementInputs(rng, n), elementInputs(rng, n), elementInputs(rng, n), elementInputs(rng, n)
		type result struct{ silu, gate, overG, overU, h, hLB []float32 }
		compute := func() result {
			r := result{silu: make([]float32, n), gate: make([]float32, n), overG: slices.Clone(g), overU: slices.Clone(u),
				h: slices.Clone(h), hLB: slices.Clone(h)}
			SiLU(r.silu, g)
			SiLUGate(r.gate, g, u)
			SiLUGate(r.overG, r.overG, u)
			SiLUGate(r.overU, g, r.overU)
			MLGRUStep(r.h, g, u, nil)
			MLGRUStep(r.hLB, g, u, lb)
			return r
		}
		vec := compute()
		normVec = false
		scalar := compute()
		normVec = true
		for _, c := range []struct {
			name   string
			got, w []float32
		}{{"SiLU", vec.silu, scalar.silu}, {"SiLUGate", vec.gate, scalar.gate}, {"SiLUGate over gate", vec.overG, scalar.gate},
			{"SiLUGate over up", vec.overU, scalar.gate}, {"SiLUGate over gate, Go loop", scalar.overG, scalar.gate},
			{"MLGRUStep", vec.h, scalar.h}, {"MLGRUStep with bounds", vec.hLB, scalar.hLB}} {
			if i := sameOrNaN(c.got, c.w); i >= 0 {
				t.Fatalf("%s n=%d: element %d = %#x, Go loop %#x (inputs %g, %g, %g, %g)", c.name, n, i,
					math.Float32bits(c.got[i]), math.Float32bits(c.w[i]), g[i], u[i], h[i], lb[i])
			}
		}
	}
	// RoPERotateHalf: every even head size to 200, angles of a far
	// position, the head's values with the special ones of elementInputs.
	for d := 0; d <= 200; d += 2 {
		x := elementInputs(rng, d)
		cos, sin := make([]float32, d/2), make([]float32, d/2)
		RoPETable(cos, sin, 1000+d, 500000)
		vec := slices.Clone(x)
		RoPERotateHalf(vec, cos, sin)
		normVec = false
		scalar := slices.Clone(x)
		RoPERotateHalf(scalar, cos, sin)
		normVec = true
		if i := same(vec, scalar); i >= 0 {
			t.Fatalf("RoPERotateHalf d=%d: element %d = %#x, Go loop %#x (input %g)", d, i, math.Float32bits(vec[i]), math.Float32bits(scalar[i]), x[i])
		}
	}
}

func TestAddTo(t *testing.T) {
	d := []float32{1, 2, 3}
	AddTo(d, []float32{0.5, -2, float32(math.Inf(1))})
	if d[0] != 1.5 || d[1] != 0 || !math.IsInf(float64(d[2]), 1) {
		t.Errorf("AddTo: %v", d)
	}
	defer func() {
		if recover() == nil {
			t.Error("AddTo accepted a shorter dst")
		}
	}()
	AddTo(d[:2], []float32{1, 2, 3})
}

// TestArgmax checks Argmax against one pass, with the vector loop and
// without: every length to 300 and a vocabulary's, ties (−0 and +0 tie),
// NaNs anywhere, x[0] among them, infinities, the largest value in every
// lane.
func TestArgmax(t *testing.T) {
	onePass := func(x []float32) int {
		best := 0
		for i, v := range x {
			if v > x[best] {
				best = i
			}
		}
		return best
	}
	rng := rand.New(rand.NewPCG(3, 3))
	nan := float32(math.NaN())
	special := []float32{nan, float32(math.Copysign(0, -1)), 0, float32(math.Inf(1)), float32(math.Inf(-1))}
	check := func(x []float32) {
		t.Helper()
		want := onePass(x)
		for _, vec := range []bool{false, normVec} {
			old := normVec
			normVec = vec
			got := Argmax(x)
			normVec = old
			if got != want {
				t.Fatalf("vector=%v, n=%d: Argmax = %d, one pass %d", vec, len(x), got, want)
			}
		}
	}
	for n := 0; n <= 300; n++ {
		for trial := 0; trial < 30; trial++ {
			x := make([]float32, n)
			for i := range x {
				if r := rng.IntN(10); r < 2 {
					x[i] = special[rng.IntN(len(special))]
				} else {
					x[i] = float32(rng.IntN(7)) // many ties
				}
			}
			check(x)
		}
	}
	big := make([]float32, 128256)
	for i := range big {
		big[i] = float32(rng.NormFloat64())
	}
	for at := range 70 {
		for _, base := range []int{0, 64 * 1000, 128256 - 70} {
			x := slices.Clone(big)
			x[base+at] = 100
			check(x)
			x[0] = nan
			check(x)
		}
	}
	check(big)
}
