package train

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/speakez/barewire/sdk/train/mnist"
)

func fakeDigits(n int, seed uint64) *mnist.Set {
	r := rand.New(rand.NewPCG(seed, 0))
	s := &mnist.Set{}
	for range n {
		img := make([]byte, mnist.Pixels)
		y := r.IntN(10)
		for p := range img {
			if (p/28+p%28+y)%5 == 0 {
				img[p] = byte(128 + r.IntN(128))
			}
		}
		s.Images = append(s.Images, img)
		s.Labels = append(s.Labels, uint8(y))
	}
	return s
}

// A run interrupted and resumed from its checkpoint must end with exactly
// the weights of an uninterrupted run.
func TestCheckpointResumeIsExact(t *testing.T) {
	data := fakeDigits(64, 1)
	opts := MNISTOptions{Hidden: []int{16}, Epochs: 3, Batch: 16, Warmup: 2, Seed: 5, CheckpointEvery: 1}
	whole, err := TrainMNIST(data, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Checkpoint = filepath.Join(t.TempDir(), "ck")
	opts.StopAfter = 5
	part, err := TrainMNIST(data, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if samePars(whole.Params(), part.Params()) {
		t.Fatal("the interrupted run ended with the whole run's weights")
	}
	opts.StopAfter = 0
	var log strings.Builder
	opts.Log = &log
	resumed, err := TrainMNIST(data, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "resumed from "+opts.Checkpoint+" at step 5") {
		t.Fatalf("the second run did not resume at step 5; its log:\n%s", log.String())
	}
	a, b := whole.Params(), resumed.Params()
	for i := range a {
		if !slices.Equal(a[i].W, b[i].W) {
			t.Fatalf("parameter %s differs after resuming", a[i].Name)
		}
	}
	// A checkpoint of another model is refused.
	lm := NewLM(LMConfig{Vocab: 5, Dim: 4, Layers: 1, FFN: 4})
	if _, err := LoadCheckpoint(opts.Checkpoint, "charlm", NewAdamW(0), lm.Params()); !errors.Is(err, ErrCheckpoint) {
		t.Fatalf("loading an MLP checkpoint into an LM: %v, want ErrCheckpoint", err)
	}
}

func TestScheduleAndRamp(t *testing.T) {
	s := Schedule{Peak: 1, Min: 0.1, Warmup: 10, Total: 110}
	if got := s.At(0); got != 0.1 {
		t.Errorf("warm-up start %v", got)
	}
	if got := s.At(9); got != 1 {
		t.Errorf("warm-up end %v", got)
	}
	if got := s.At(60); got < 0.549 || got > 0.551 {
		t.Errorf("cosine midpoint %v, want 0.55", got)
	}
	if got := s.At(110); got != 0.1 {
		t.Errorf("end %v", got)
	}
	r := Ramp{Start: 10, End: 20}
	for _, c := range []struct {
		s   int
		lam float32
	}{{0, 0}, {10, 0}, {15, 0.5}, {20, 1}, {99, 1}} {
		if got := r.At(c.s); got != c.lam {
			t.Errorf("ramp at %d = %v, want %v", c.s, got, c.lam)
		}
	}
	if c := (Ramp{Start: 10, End: 40}).Component(1, 3); c != (Ramp{Start: 20, End: 30}) {
		t.Errorf("component 1 of 3: %+v", c)
	}
	if (Ramp{}).At(0) != 1 {
		t.Error("the zero Ramp must be direct quantization")
	}
}

func TestTernarize(t *testing.T) {
	w := []float32{0.3, -0.05, 0.1, -0.2, 0.15, 0}
	q := make([]int8, len(w))
	g := Ternarize(q, w)
	// γ = mean|w| = 0.8/6; w/γ = 2.25, −0.375, 0.75, −1.5, 1.125, 0.
	if want := float32(0.8 / 6); g != want {
		t.Errorf("γ = %v, want %v", g, want)
	}
	if want := []int8{1, 0, 1, -1, 1, 0}; !slices.Equal(q, want) {
		t.Errorf("codes %v, want %v", q, want)
	}
	if Ternarize(q[:2], []float32{0, 0}) != WeightScaleFloor {
		t.Error("γ of zero weights must be the floor")
	}
}

// The LM's checkpoint carries its recurrent state: resuming is exact too.
func TestLMResumeIsExact(t *testing.T) {
	text := "Of the Refractions of Light, and of the Colours which arise from them, in thin transparent Bodies. "
	c := NewCharCorpus(text+text+text, 0, 64)
	opts := LMOptions{Dim: 16, Layers: 2, FFN: 24, Streams: 3, T: 5, Steps: 8, Warmup: 2, Seed: 2, CheckpointEvery: 1}
	whole, err := TrainLM(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Checkpoint = filepath.Join(t.TempDir(), "ck")
	opts.StopAfter = 3
	part, err := TrainLM(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	if samePars(whole.Params(), part.Params()) {
		t.Fatal("the interrupted run ended with the whole run's weights")
	}
	opts.StopAfter = 0
	var log strings.Builder
	opts.Log = &log
	resumed, err := TrainLM(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "resumed from "+opts.Checkpoint+" at step 3") {
		t.Fatalf("the second run did not resume at step 3; its log:\n%s", log.String())
	}
	a, b := whole.Params(), resumed.Params()
	for i := range a {
		if !slices.Equal(a[i].W, b[i].W) {
			t.Fatalf("parameter %s differs after resuming", a[i].Name)
		}
	}
}

// samePars reports whether two parameter lists hold the same weights.
func samePars(a, b []*Param) bool {
	for i := range a {
		if !slices.Equal(a[i].W, b[i].W) {
			return false
		}
	}
	return true
}
