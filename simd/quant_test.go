package simd

import (
	"math"
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
