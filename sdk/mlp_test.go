package sdk

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/sdk/internal/reference"
)

func rawInputs(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.IntN(256))
	}
	return x
}

func TestMLPMatchesReference(t *testing.T) {
	for _, cfg := range []reference.MLPConfig{reference.SmallMLPConfig(), reference.MNISTMLPConfig()} {
		for seed := uint64(1); seed <= 2; seed++ {
			ref, err := reference.RandomMLP(cfg, seed)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Open(writeRefMLP(t, ref), WithThreads(2))
			if err != nil {
				t.Fatal(err)
			}
			rs := ref.NewSession(reference.Quantized)
			rs.Trace = &reference.Trace{}
			for in := 0; in < 8; in++ {
				x := rawInputs(cfg.Inputs, seed*100+uint64(in))
				x64 := make([]float64, len(x))
				for i, v := range x {
					x64[i] = float64(v)
				}
				want := rs.Classify(x64)
				// The fast path's int8 activations, layer by layer.
				mismatch := 0
				got := make([]float32, cfg.Classes)
				label, err := m.classify(context.Background(), got, x, func(name string, pos int, xq []int8, dot []int32) {
					rec, ok := rs.Trace.Get(refMLPName(m, name), in)
					if !ok {
						t.Fatalf("no reference record for %s", name)
					}
					for i := range xq {
						if xq[i] != rec.Xq[i] {
							mismatch++
						}
					}
					if mismatch == 0 && !slices.Equal(dot, rec.Dot) {
						t.Fatalf("%s: equal int8 inputs but dot products differ", name)
					}
				})
				if err != nil {
					t.Fatal(err)
				}
				diff, span := maxAbsDiff(got, want)
				tol := 1e-5 * span
				if mismatch > 0 {
					tol = 0.02 * span // a float32 rounding flipped an int8 code
				}
				if diff > tol {
					t.Fatalf("%s seed %d input %d: logits differ by %g (range %g, %d int8 codes differ)\n got %v\nwant %v", cfg.Name, seed, in, diff, span, mismatch, got, want)
				}
				if mismatch == 0 && label != reference.Argmax(want) {
					t.Fatalf("label %d, reference %d", label, reference.Argmax(want))
				}
			}
			if n := checkTraceIntegers(t, m, rs.Trace, nil); n != 8*len(ref.Layers) {
				t.Fatalf("checked %d records, want %d", n, 8*len(ref.Layers))
			}
			m.Close()
		}
	}
}

// refMLPName maps a layer name of the file to the reference's "layers.k".
func refMLPName(m *Model, name string) string {
	for k, ly := range m.mlp.layers {
		if ly.lin.name == name {
			return fmt.Sprintf("layers.%d", k)
		}
	}
	return name
}

func TestShippedMLP(t *testing.T) {
	single, err := Open(filepath.Join("..", "testdata", "mlp-tiny.bwm"))
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	rel, err := Open(filepath.Join("..", "testdata", "mlp-tiny-release"), WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	defer rel.Close()
	if single.Inputs() != 784 || single.Classes() != 10 || len(single.Labels()) != 10 || single.Labels()[3] != "3" {
		t.Fatalf("inputs %d classes %d labels %q", single.Inputs(), single.Classes(), single.Labels())
	}
	f := single.File()
	mean, _ := f.Tensor("input.mean")
	_ = mean
	for in := 0; in < 4; in++ {
		x := rawInputs(784, uint64(in))
		a, la, err := single.Classify(context.Background(), x)
		if err != nil {
			t.Fatal(err)
		}
		b, lb, err := rel.Classify(context.Background(), x)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a, b) || la != lb {
			t.Fatalf("single file and release disagree: %v %v", a, b)
		}
		// Independent float64 evaluation of the documented formulas
		// (docs/FORMAT.md) without activation quantization: agreement
		// within the int8 quantization noise.
		want := shippedFloat(t, f, x)
		diff, span := maxAbsDiff(a, want)
		if diff > 0.03*span {
			t.Fatalf("input %d: scores %v, float formula %v (diff %g, range %g)", in, a, want, diff, span)
		}
	}
}

// shippedFloat evaluates the shipped MLP from its tensors in float64.
func shippedFloat(t *testing.T, f *mmapmodel.Model, x []float32) []float64 {
	view := func(name string) []float32 {
		tn, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		v, err := mmapmodel.NewView[float32](tn)
		if err != nil {
			t.Fatal(err)
		}
		return v.Data()
	}
	mean, inv, b0, hb := view("input.mean"), view("input.inv_std"), view("hidden.0.bias"), view("head.bias")
	xn := make([]float64, 784)
	for i := range xn {
		xn[i] = (float64(x[i]) - float64(mean[i])) * float64(inv[i])
	}
	tw, _ := f.Tensor("hidden.0.weight")
	tm, err := mmapmodel.NewTernaryMatrix(tw)
	if err != nil {
		t.Fatal(err)
	}
	h := make([]float64, 64)
	w := make([]int8, 784)
	for r := range h {
		unpackRow(w, tm.Row(r))
		s := 0.0
		for i, v := range w {
			s += float64(v) * xn[i]
		}
		h[r] = math.Max(0, s*float64(tm.Scale)+float64(b0[r]))
	}
	th, _ := f.Tensor("head.weight")
	im, err := mmapmodel.NewInt8Matrix(th)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, 10)
	for r := range out {
		s := 0.0
		for i, v := range im.Row(r) {
			s += float64(v) * h[i]
		}
		out[r] = s*float64(im.Scales()[r]) + float64(hb[r])
	}
	return out
}

func TestClassifyErrors(t *testing.T) {
	ref, _ := reference.RandomMLP(reference.SmallMLPConfig(), 3)
	path := writeRefMLP(t, ref)
	m, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, _, err := m.Classify(context.Background(), make([]float32, 15)); !errors.Is(err, ErrInput) {
		t.Fatalf("short input: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := m.Classify(ctx, make([]float32, 16)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if _, err := m.NewSession(); !errors.Is(err, ErrArch) {
		t.Fatalf("NewSession on a classifier: %v", err)
	}
	if _, err := Open(path, WithBackend("cuda")); !errors.Is(err, ErrBackendUnavailable) || !strings.HasPrefix(err.Error(), "backend cuda: not available") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("cuda backend: %v", err)
	}
	if _, err := Open(path, WithBackend("tpu")); err == nil {
		t.Fatal("unknown backend accepted")
	}
	dst := make([]float32, 10)
	x := rawInputs(16, 9)
	if a := testing.AllocsPerRun(50, func() { m.ClassifyInto(context.Background(), dst, x) }); a != 0 && !raceEnabled {
		t.Fatalf("ClassifyInto allocates %v times", a)
	}
}

func TestClassifyConcurrent(t *testing.T) {
	ref, _ := reference.RandomMLP(reference.MNISTMLPConfig(), 4)
	m, err := Open(writeRefMLP(t, ref), WithThreads(2))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x := rawInputs(784, 5)
	want, _, _ := m.Classify(context.Background(), x)
	done := make(chan error, 4)
	for range 4 {
		go func() {
			for range 20 {
				got, _, err := m.Classify(context.Background(), x)
				if err == nil && !slices.Equal(got, want) {
					err = errors.New("concurrent Classify changed the scores")
				}
				if err != nil {
					done <- err
					return
				}
				runtime.Gosched()
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
