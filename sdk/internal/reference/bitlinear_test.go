package reference

import (
	"errors"
	"slices"
	"testing"
)

func mustTernary(t *testing.T, name string, out, in int, w []int8, gamma float64) *BitLinear {
	t.Helper()
	b, err := NewBitLinearTernary(name, out, in, w, gamma)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBitLinearHandExample(t *testing.T) {
	b := mustTernary(t, "w", 2, 3, []int8{1, 0, -1, 1, 1, 1}, 0.5)
	x := []float64{127, 63.5, -1}

	// Quantized: s_x = 1, xq = [127 64 −1] (63.5 ties to 64),
	// dot = [127+1, 127+64−1] = [128 190], y = dot·0.5/1.
	y, rec := b.Apply(x, Quantized, 3)
	if !slices.Equal(y, []float64{64, 95}) {
		t.Fatalf("quantized y = %v, want [64 95]", y)
	}
	if rec.Name != "w" || rec.Pos != 3 || rec.Mode != Quantized || rec.ScaleX != 1 ||
		!slices.Equal(rec.Xq, []int8{127, 64, -1}) || !slices.Equal(rec.Dot, []int32{128, 190}) {
		t.Fatalf("record = %+v", rec)
	}

	// Float: y = 0.5·[127+1, 127+63.5−1] = [64 94.75], no integer record.
	y, rec = b.Apply(x, Float, 0)
	if !slices.Equal(y, []float64{64, 94.75}) {
		t.Fatalf("float y = %v, want [64 94.75]", y)
	}
	if rec.Xq != nil || rec.Dot != nil || !slices.Equal(rec.Output, y) || !slices.Equal(rec.Input, x) {
		t.Fatalf("float record = %+v", rec)
	}
}

func TestBitLinearScaleDivides(t *testing.T) {
	// max|x| = 2 → s_x = 63.5; xq = [127 −64] (−63.5 ties to −64);
	// dot = 127 + 64 = 191; y = 191·0.25/63.5.
	b := mustTernary(t, "w", 1, 2, []int8{1, -1}, 0.25)
	y, rec := b.Apply([]float64{2, -1}, Quantized, 0)
	if rec.Dot[0] != 191 || y[0] != 191*0.25/63.5 {
		t.Fatalf("dot %v y %v, want 191 and %v", rec.Dot, y, 191*0.25/63.5)
	}
}

func TestBitLinearAllZeroInput(t *testing.T) {
	b := mustTernary(t, "w", 2, 2, []int8{1, 1, -1, 1}, 0.1)
	y, rec := b.Apply([]float64{0, 0}, Quantized, 0)
	if !slices.Equal(y, []float64{0, 0}) || !slices.Equal(rec.Dot, []int32{0, 0}) {
		t.Fatalf("zero input: y %v dot %v", y, rec.Dot)
	}
}

func TestFusedBitLinearNormsFirst(t *testing.T) {
	// §2.4: x̂ = RMSNorm(x)·w_norm, then quantize. x = [1 −1 1 −1] has
	// mean(x²) = 1, so with eps 0, x̂ = [127 −63.5 1 −5], s_x = 1,
	// xq = [127 −64 1 −5] (−63.5 ties to −64), dot = 59.
	b := mustTernary(t, "f", 1, 4, []int8{1, 1, 1, 1}, 1).WithNorm([]float64{127, 63.5, 1, 5}, 0)
	y, rec := b.Apply([]float64{1, -1, 1, -1}, Quantized, 0)
	if !slices.Equal(rec.Input, []float64{127, -63.5, 1, -5}) {
		t.Fatalf("normed input = %v", rec.Input)
	}
	if !slices.Equal(rec.Xq, []int8{127, -64, 1, -5}) || rec.Dot[0] != 59 || y[0] != 59 {
		t.Fatalf("xq %v dot %v y %v, want [127 -64 1 -5], 59, 59", rec.Xq, rec.Dot, y)
	}
}

func TestNewBitLinearLatent(t *testing.T) {
	b, err := NewBitLinearLatent("w", 2, 3, []float64{0.25, -0.75, 0, 1.0, 0.75, -0.25})
	if err != nil {
		t.Fatal(err)
	}
	if b.Gamma != 0.5 || !slices.Equal(b.W, []int8{0, -1, 0, 1, 1, 0}) {
		t.Fatalf("γ %v W %v", b.Gamma, b.W)
	}
	// Float mode uses the ternarized weights, not the latent ones:
	// y = 0.5·[−x1, x0 + x1] for x = [1 2 4].
	y, _ := b.Apply([]float64{1, 2, 4}, Float, 0)
	if !slices.Equal(y, []float64{-1, 1.5}) {
		t.Fatalf("y = %v, want [-1 1.5]", y)
	}
}

func TestNewBitLinearErrors(t *testing.T) {
	if _, err := NewBitLinearTernary("w", 2, 2, []int8{1, 0, 0}, 1); !errors.Is(err, ErrShape) {
		t.Errorf("short weights: err = %v, want ErrShape", err)
	}
	if _, err := NewBitLinearTernary("w", 1, 2, []int8{1, 2}, 1); err == nil {
		t.Error("weight 2 accepted")
	}
	if _, err := NewBitLinearTernary("w", 1, 1, []int8{1}, 0); err == nil {
		t.Error("γ = 0 accepted")
	}
	if _, err := NewBitLinearLatent("w", 2, 2, []float64{1}); !errors.Is(err, ErrShape) {
		t.Errorf("latent short: err = %v, want ErrShape", err)
	}
}

func TestTraceGet(t *testing.T) {
	var tr Trace
	tr.Add(Record{Name: "a", Pos: 0, Dot: []int32{1}})
	tr.Add(Record{Name: "a", Pos: 1, Dot: []int32{2}})
	tr.Add(Record{Name: "a", Pos: 0, Dot: []int32{3}})
	if r, ok := tr.Get("a", 0); !ok || r.Dot[0] != 3 {
		t.Fatalf("Get(a,0) = %+v %v, want the last record", r, ok)
	}
	if _, ok := tr.Get("b", 0); ok {
		t.Fatal("Get(b,0) found a record")
	}
}
