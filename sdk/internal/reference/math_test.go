package reference

import (
	"math"
	"math/cmplx"
	"slices"
	"testing"
)

func TestQuantizeInt8RoundHalfEven(t *testing.T) {
	// max|x| = 127 gives s_x = 1 exactly, so x·s_x keeps the .5 ties.
	x := []float64{127, 62.5, -62.5, 0.5, 1.5, -2.5, 3.5, -0.5, 126.5}
	q, s := QuantizeActivations(x)
	if s != 1 {
		t.Fatalf("scale = %v, want 1", s)
	}
	want := []int8{127, 62, -62, 0, 2, -2, 4, 0, 126}
	if !slices.Equal(q, want) {
		t.Fatalf("q = %v, want %v", q, want)
	}
}

func TestQuantizeActivationsScale(t *testing.T) {
	// max|x| = 2 → s_x = 63.5: 1 → 63.5 → 64 (even), −2 → −127, 0.25 → 15.875 → 16.
	q, s := QuantizeActivations([]float64{1, -2, 0.25, 0})
	if s != 63.5 {
		t.Fatalf("scale = %v, want 63.5", s)
	}
	if want := []int8{64, -127, 16, 0}; !slices.Equal(q, want) {
		t.Fatalf("q = %v, want %v", q, want)
	}
}

func TestQuantizeInt8Clamp(t *testing.T) {
	q := QuantizeInt8([]float64{200, -300, 127.4, -128.4, -128.6}, 1)
	if want := []int8{127, -128, 127, -128, -128}; !slices.Equal(q, want) {
		t.Fatalf("q = %v, want %v", q, want)
	}
}

func TestQuantizeAllZero(t *testing.T) {
	// §1.3: max|x| is clamped to 1e-5, so the scale is 127/1e-5 and every
	// value quantizes to 0.
	// The scale is the float64 quotient 127/1e-5 (1.2699999999999998e7), not
	// the exact constant 1.27e7.
	floor := 1e-5
	wantScale := 127 / floor
	q, s := QuantizeActivations(make([]float64, 5))
	if s != wantScale || s == 1.27e7 {
		t.Fatalf("scale = %v, want %v", s, wantScale)
	}
	if !slices.Equal(q, make([]int8, 5)) {
		t.Fatalf("q = %v, want zeros", q)
	}
	// Below the floor the scale stays 1.27e7: 4e-6·1.27e7 = 50.8 → 51.
	q, s = QuantizeActivations([]float64{4e-6, -1e-6})
	if s != wantScale || q[0] != 51 || q[1] != -13 {
		t.Fatalf("tiny input: q = %v scale %v, want [51 -13] scale %v", q, s, wantScale)
	}
}

func TestAbsmeanTernarize(t *testing.T) {
	// mean|W| = 3/6 = 0.5; W/γ = [0.5 −1.5 0 2 1.5 −0.5] → round-half-even
	// [0 −2 0 2 2 −0] → clip [0 −1 0 1 1 0].
	q, g := AbsmeanTernarize([]float64{0.25, -0.75, 0, 1.0, 0.75, -0.25})
	if g != 0.5 {
		t.Fatalf("γ = %v, want 0.5", g)
	}
	if want := []int8{0, -1, 0, 1, 1, 0}; !slices.Equal(q, want) {
		t.Fatalf("q = %v, want %v", q, want)
	}
	q, g = AbsmeanTernarize([]float64{0, 0, 0})
	if g != 1e-5 || !slices.Equal(q, []int8{0, 0, 0}) {
		t.Fatalf("zero tensor: q = %v γ = %v, want zeros and 1e-5", q, g)
	}
	// Already-ternary weights shrink when re-ternarized (§1.4 pitfall): the
	// ternary values survive but γ becomes p·γ for nonzero fraction p.
	q, g = AbsmeanTernarize([]float64{0.1, 0, -0.1, 0})
	if g != 0.05 || !slices.Equal(q, []int8{1, 0, -1, 0}) {
		t.Fatalf("re-ternarized: q = %v γ = %v, want [1 0 -1 0] and 0.05", q, g)
	}
}

func TestRMSNorm(t *testing.T) {
	got := RMSNorm([]float64{2, -2, 2, -2}, []float64{1, 2, 3, 4}, 0)
	if want := []float64{1, -2, 3, -4}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// mean(x²) = 1, eps = 3 → divide by 2.
	got = RMSNorm([]float64{1, -1}, nil, 3)
	if want := []float64{0.5, -0.5}; !slices.Equal(got, want) {
		t.Fatalf("eps: got %v, want %v", got, want)
	}
	// All-zero input stays zero (eps keeps the root positive).
	got = RMSNorm([]float64{0, 0}, nil, 1e-6)
	if want := []float64{0, 0}; !slices.Equal(got, want) {
		t.Fatalf("zero: got %v, want %v", got, want)
	}
}

func TestSoftmaxStable(t *testing.T) {
	for _, tc := range []struct{ x, want []float64 }{
		{[]float64{1000, 1000}, []float64{0.5, 0.5}},
		{[]float64{-1000, 0}, []float64{0, 1}},
		{[]float64{1e308, -1e308}, []float64{1, 0}},
		{[]float64{0, math.Inf(-1), 0}, []float64{0.5, 0, 0.5}},
		{[]float64{math.Log(1), math.Log(3)}, []float64{0.25, 0.75}},
	} {
		got := Softmax(tc.x)
		for i := range got {
			if math.IsNaN(got[i]) || math.Abs(got[i]-tc.want[i]) > 1e-15 {
				t.Fatalf("Softmax(%v) = %v, want %v", tc.x, got, tc.want)
			}
		}
	}
}

func TestActivations(t *testing.T) {
	if ReLU2(-3) != 0 || ReLU2(0) != 0 || ReLU2(3) != 9 || ReLU2(0.5) != 0.25 {
		t.Fatal("ReLU2 wrong")
	}
	if SiLU(0) != 0 || math.Abs(SiLU(1)-0.7310585786300049) > 1e-16 || math.Abs(SiLU(-1)+0.2689414213699951) > 1e-16 {
		t.Fatalf("SiLU(1) = %v, SiLU(-1) = %v", SiLU(1), SiLU(-1))
	}
	if Sigmoid(-1000) != 0 || Sigmoid(1000) != 1 || Sigmoid(0) != 0.5 {
		t.Fatal("Sigmoid extremes wrong")
	}
	if Argmax([]float64{1, 3, 3, 2}) != 1 || Argmax([]float64{-1}) != 0 {
		t.Fatal("Argmax must take the first maximum")
	}
}

func TestRopeHandValues(t *testing.T) {
	// D = 2: inv_freq[0] = 1, so position 1 rotates by one radian.
	x := []float64{1, 0}
	RopeRotateHalf(x, 1, 10000)
	if math.Abs(x[0]-math.Cos(1)) > 1e-15 || math.Abs(x[1]-math.Sin(1)) > 1e-15 {
		t.Fatalf("D=2: got %v", x)
	}
	// D = 4, θ = 10000: pair (1, 3) turns by 10000^(−2/4) = 0.01 per position.
	x = []float64{0, 0, 0, 1}
	RopeRotateHalf(x, 1, 10000)
	want := []float64{0, -math.Sin(0.01), 0, math.Cos(0.01)}
	for i := range x {
		if math.Abs(x[i]-want[i]) > 1e-15 {
			t.Fatalf("D=4: got %v, want %v", x, want)
		}
	}
	// Position 0 is the identity.
	x = []float64{1, 2, 3, 4}
	RopeRotateHalf(x, 0, 500000)
	if !slices.Equal(x, []float64{1, 2, 3, 4}) {
		t.Fatalf("pos 0: got %v", x)
	}
}

func TestRopeRotateHalfMatchesComplexRotation(t *testing.T) {
	const d = 16
	for _, theta := range []float64{10000, 500000} {
		for _, pos := range []int{0, 1, 7, 100, 4095} {
			x := make([]float64, d)
			for i := range x {
				x[i] = float64(i+1) * 0.37 * math.Pow(-1, float64(i))
			}
			got := slices.Clone(x)
			RopeRotateHalf(got, pos, theta)
			for i := range d / 2 {
				// Pair (i, i+d/2) as the complex number x[i] + j·x[i+d/2],
				// multiplied by e^{j·pos·θ^{−2i/d}}.
				z := complex(x[i], x[i+d/2])
				angle := float64(pos) * math.Exp(-float64(2*i)/d*math.Log(theta))
				r := z * cmplx.Exp(complex(0, angle))
				if math.Abs(real(r)-got[i]) > 1e-11 || math.Abs(imag(r)-got[i+d/2]) > 1e-11 {
					t.Fatalf("θ=%v pos=%d pair %d: got (%v, %v), want %v", theta, pos, i, got[i], got[i+d/2], r)
				}
			}
			// A rotation keeps the norm.
			if math.Abs(math.Sqrt(dot(x, x))-math.Sqrt(dot(got, got))) > 1e-12 {
				t.Fatalf("θ=%v pos=%d: norm changed", theta, pos)
			}
		}
	}
}

func TestMMFreeFFN(t *testing.T) {
	// architectures.md §2.1: 1024→2816, 2048→5632, 2560→6912.
	for d, want := range map[int]int{1024: 2816, 2048: 5632, 2560: 6912} {
		if got := MMFreeFFN(d, 4); got != want {
			t.Errorf("MMFreeFFN(%d, 4) = %d, want %d", d, got, want)
		}
	}
}
