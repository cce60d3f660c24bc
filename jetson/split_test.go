package jetson

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/speakez/barewire/jetson/cuda"
	"github.com/speakez/barewire/jetson/cuda/cudafake"
	"github.com/speakez/barewire/simd"
)

type splitFixture struct {
	b      *Backend
	f      *cudafake.Driver
	tp     *TensorParallel
	w      []byte
	stride int
	x      []int8
	xsum   int32
	cpuRun int
}

func newSplit(t *testing.T, dev cudafake.Device, rows, k int, cpuDelay time.Duration) *splitFixture {
	t.Helper()
	s := &splitFixture{f: cudafake.New(dev)}
	s.b = openFake(t, s.f, Auto)
	rng := rand.New(rand.NewPCG(uint64(rows), uint64(k)))
	s.stride = simd.RowBytesI2B128(k)
	s.w, s.x, s.xsum = ternaryMatrix(rng, rows, k, s.stride)
	// Offset the matrix inside the weight region, as a tensor in a file.
	const off = 512
	region := append(make([]byte, off), s.w...)
	wts, err := s.b.PlaceWeights(HostBytes(region))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wts.Release() })
	cpu := func(dst []int32, r0, r1 int, x []int8, xsum int32) {
		s.cpuRun++
		time.Sleep(cpuDelay)
		simd.GenericMatVecT2(dst, s.w[r0*s.stride:], s.stride, x, xsum)
	}
	if s.tp, err = s.b.NewTensorParallel(wts, off, s.stride, rows, k, cpu); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.tp.Close() })
	return s
}

func (s *splitFixture) want(rows int) []int32 {
	out := make([]int32, rows)
	simd.GenericMatVecT2(out, s.w, s.stride, s.x, s.xsum)
	return out
}

// Every split, on integrated (mapped result) and discrete (copied back)
// devices, gives the whole product exactly.
func TestTensorParallelSplits(t *testing.T) {
	const rows, k = 53, 384
	for _, dev := range []cudafake.Device{cudafake.Orin(), cudafake.Discrete()} {
		s := newSplit(t, dev, rows, k, 0)
		if s.tp.Mapped() != (dev.Attrs[cuda.AttrIntegrated] == 1) {
			t.Errorf("%s: mapped = %v", dev.Name, s.tp.Mapped())
		}
		want := s.want(rows)
		for _, frac := range []float64{0, 0.37, 0.5, 1} {
			s.tp.SetGPUFraction(frac)
			g := s.tp.GPURows()
			got, err := s.tp.MatVec(s.x, s.xsum)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s, %d GPU rows: got %v\nwant %v", dev.Name, g, got, want)
			}
			if frac == 0 && s.f.Count("cuLaunchKernel") != 0 {
				t.Errorf("%s: fraction 0 launched a kernel", dev.Name)
			}
		}
		if s.tp.Mapped() && s.f.Count("cuMemcpyDtoH_v2") != 0 {
			t.Errorf("%s: mapped result copied back", dev.Name)
		}
		if !s.tp.Mapped() && s.f.Count("cuMemcpyDtoH_v2") == 0 {
			t.Errorf("%s: discrete result never copied back", dev.Name)
		}
	}
}

func TestTensorParallelRounding(t *testing.T) {
	s := newSplit(t, cudafake.Orin(), 50, 128, 0)
	for f, want := range map[float64]int{0.37: 20, 1: 50, 2: 50, -1: 0, 0.99: 48} {
		s.tp.SetGPUFraction(f)
		if got := s.tp.GPURows(); got != want {
			t.Errorf("fraction %v: %d GPU rows, want %d", f, got, want)
		}
	}
	// SplitRows is the same rule for callers that cut matrices themselves.
	for _, c := range []struct {
		rows int
		f    float64
		want int
	}{{161, 0.5, 80}, {161, 0.3, 48}, {161, 1.0 / 3, 52}, {161, 1, 161}, {3, 0.5, 0}, {7, 0.5, 4}, {64, math.NaN(), 64}} {
		if got := SplitRows(c.rows, c.f); got != c.want {
			t.Errorf("SplitRows(%d, %v) = %d, want %d", c.rows, c.f, got, c.want)
		}
	}
}

// Calibration gives the slower side the smaller share.
func TestTensorParallelCalibrate(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: calibration sleeps")
	}
	const rows, k = 64, 256
	slowGPU := newSplit(t, cudafake.Orin(), rows, k, 0)
	slowGPU.f.LaunchDelay = 20 * time.Millisecond
	c, err := slowGPU.tp.Calibrate(slowGPU.x, slowGPU.xsum, 3)
	if err != nil {
		t.Fatal(err)
	}
	if c.GPUFraction > 0.3 || slowGPU.tp.GPURows() > rows*3/10 {
		t.Errorf("slow GPU got fraction %.2f (%d rows): %+v", c.GPUFraction, slowGPU.tp.GPURows(), c)
	}
	slowCPU := newSplit(t, cudafake.Orin(), rows, k, 20*time.Millisecond)
	if c, err = slowCPU.tp.Calibrate(slowCPU.x, slowCPU.xsum, 3); err != nil {
		t.Fatal(err)
	}
	if c.GPUFraction < 0.7 {
		t.Errorf("slow CPU left the GPU fraction %.2f: %+v", c.GPUFraction, c)
	}
	got, err := slowCPU.tp.MatVec(slowCPU.x, slowCPU.xsum)
	if err != nil || !slices.Equal(got, slowCPU.want(rows)) {
		t.Fatalf("after calibration: %v", err)
	}
}

// A GPU whose synchronized pass costs far more than its kernel (a discrete
// GPU: each split product waits for the device and crosses the bus twice)
// keeps every row: the split at the proportional share would be slower
// than the GPU streaming the product inside a decode step.
func TestTensorParallelCalibrateKeepsRowsOnAStreamingGPU(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: calibration sleeps")
	}
	const rows, k = 64, 256
	s := newSplit(t, cudafake.Discrete(), rows, k, 2*time.Millisecond)
	s.f.SyncDelay = 5 * time.Millisecond
	c, err := s.tp.Calibrate(s.x, s.xsum, 4)
	if err != nil {
		t.Fatal(err)
	}
	// The proportional share alone would give the CPU most of the rows.
	if prop := float64(c.CPU) / float64(c.GPU+c.CPU); prop > 0.5 {
		t.Fatalf("GPU pass %v against CPU %v: the test needs a GPU pass slower than the CPU's", c.GPU, c.CPU)
	}
	if c.GPUFraction != 1 || s.tp.GPURows() != rows || c.Split < c.Stream {
		t.Errorf("calibration %+v, %d GPU rows: want every row on the GPU", c, s.tp.GPURows())
	}
	got, err := s.tp.MatVec(s.x, s.xsum)
	if err != nil || !slices.Equal(got, s.want(rows)) {
		t.Fatalf("after calibration: %v", err)
	}
}

func TestTensorParallelArguments(t *testing.T) {
	s := newSplit(t, cudafake.Orin(), 8, 128, 0)
	if _, err := s.tp.MatVec(s.x[:100], 0); err == nil {
		t.Error("MatVec accepted 100 activations")
	}
	w := &Weights{Len: 100}
	if _, err := s.b.NewTensorParallel(w, 0, 32, 8, 128, nil); err == nil {
		t.Error("NewTensorParallel accepted a matrix larger than the weights")
	}
}
