package jetson

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
	"unsafe"

	"github.com/speakez/barewire/jetson/cuda"
)

// CPUMatVec computes rows [r0, r1) of the same ternary matrix-vector
// product on the CPU into dst (len r1-r0): for example a closure around
// simd's matvec on the mapped weights, w[r0*stride:].
type CPUMatVec func(dst []int32, r0, r1 int, x []int8, xsum int32)

// TensorParallel splits the rows of one i2b128 matrix between the GPU
// (rows [0, GPURows())) and the CPU (the rest), in proportion to their
// measured speed (DESIGN.md "TensorParallel"). Both halves write into one
// result slice: on an integrated GPU that slice is mapped pinned memory the
// GPU writes directly, so the merge costs no copy; on a discrete GPU the GPU
// rows are copied back. Not safe for concurrent use.
type TensorParallel struct {
	b       *Backend
	w       cuda.DevicePtr
	stride  int
	rows    int
	blocks  int
	cpu     CPUMatVec
	gpuRows int

	x      Buffer
	out    []int32
	outRaw []byte         // out's bytes; driver memory when mapped
	dOut   cuda.DevicePtr // where the GPU writes
	dBuf   Buffer         // device result buffer (discrete only)
	mapped bool
}

// NewTensorParallel prepares a split product over rows rows of k weights
// (k padded to a multiple of 128) starting at byte off of w. It starts with
// every row on the GPU; call Calibrate or SetGPUFraction.
func (b *Backend) NewTensorParallel(w *Weights, off, stride, rows, k int, cpu CPUMatVec) (*TensorParallel, error) {
	blocks := ceilDiv(k, 128)
	if rows <= 0 || k <= 0 || stride%32 != 0 || stride < blocks*32 {
		return nil, fmt.Errorf("jetson: TensorParallel: %d rows of %d weights at stride %d (want a multiple of 32, at least %d)", rows, k, stride, blocks*32)
	}
	if need := off + (rows-1)*stride + blocks*32; off < 0 || need > w.Len {
		return nil, fmt.Errorf("jetson: TensorParallel: matrix needs bytes %d..%d, weights hold %d", off, need, w.Len)
	}
	tp := &TensorParallel{b: b, w: w.At(off), stride: stride, rows: rows, blocks: blocks, cpu: cpu, gpuRows: rows}
	var err error
	if tp.x, err = b.Alloc(blocks * 128); err != nil {
		return nil, err
	}
	d := b.drv
	if b.caps.Integrated && b.caps.CanMapHostMemory {
		// Mapped pinned memory: uncached on the iGPU, which is harmless for
		// a result written once (CUDA for Tegra app note §4.1).
		if raw, err := d.MemAllocHost(4*rows, cuda.HostAllocDeviceMap); err == nil {
			if p, err := d.HostDevicePointer(raw); err == nil {
				tp.outRaw, tp.dOut, tp.mapped = raw, p, true
			} else {
				d.MemFreeHost(raw)
			}
		}
	}
	if !tp.mapped {
		if tp.dBuf, err = b.Alloc(4 * rows); err != nil {
			b.Free(tp.x)
			return nil, err
		}
		tp.dOut = tp.dBuf.Ptr
		tp.outRaw = make([]byte, 4*rows)
	}
	tp.out = unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(tp.outRaw))), rows)
	return tp, nil
}

// Mapped reports whether the GPU writes the result slice directly.
func (tp *TensorParallel) Mapped() bool { return tp.mapped }

// GPURows is the number of rows the GPU computes.
func (tp *TensorParallel) GPURows() int { return tp.gpuRows }

// SetGPUFraction gives the GPU SplitRows(rows, f) rows.
func (tp *TensorParallel) SetGPUFraction(f float64) { tp.gpuRows = SplitRows(tp.rows, f) }

// SplitRows is how many of rows rows a GPU share f gets: round(f·rows)
// rounded to whole warps-per-block groups of 4 rows, at most rows; f ≤ 0
// gives none and f ≥ 1 (or NaN) all, whatever the rounding. Callers that
// split matrices themselves use it to cut them as TensorParallel does.
func SplitRows(rows int, f float64) int {
	if math.IsNaN(f) || f >= 1 {
		return rows
	}
	f = max(f, 0)
	g := int(math.Round(f*float64(rows)/4)) * 4
	return min(g, rows)
}

// MatVec computes all rows for x (blocks*128 int8 values, sum xsum) and
// returns the result, valid until the next call.
func (tp *TensorParallel) MatVec(x []int8, xsum int32) ([]int32, error) {
	if len(x) != tp.blocks*128 {
		return nil, fmt.Errorf("jetson: TensorParallel.MatVec: %d activations, want %d", len(x), tp.blocks*128)
	}
	g := tp.gpuRows
	if g > 0 {
		d := tp.b.drv
		if err := d.MemcpyHtoD(tp.x.Ptr, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), len(x))); err != nil {
			return nil, fmt.Errorf("jetson: TensorParallel: %w", err)
		}
		if err := tp.b.TMatVec(tp.dOut, tp.w, tp.stride, g, tp.x.Ptr, tp.blocks, xsum); err != nil {
			return nil, err
		}
	}
	// The CPU share runs while the GPU works (the launch is asynchronous).
	if g < tp.rows {
		tp.cpu(tp.out[g:], g, tp.rows, x, xsum)
	}
	if g > 0 {
		if err := tp.b.drv.Synchronize(); err != nil {
			return nil, fmt.Errorf("jetson: TensorParallel: %w", err)
		}
		if !tp.mapped {
			if err := tp.b.drv.MemcpyDtoH(tp.outRaw[:4*g], tp.dOut); err != nil {
				return nil, fmt.Errorf("jetson: TensorParallel: %w", err)
			}
		}
	}
	return tp.out, nil
}

// Calibration is the outcome of Calibrate.
type Calibration struct {
	GPU, CPU time.Duration // median time for all rows on each side (MatVec)
	// Split is the median time of MatVec at the proportional share.
	Split time.Duration
	// Stream is the GPU's time per product with the activations already on
	// the device, products launched back to back and one synchronization
	// at the end: what the product costs inside a decode step that does
	// not split it.
	Stream      time.Duration
	GPUFraction float64
}

// Calibrate times the whole product on the GPU alone and on the CPU alone
// (median of iters runs each, after one warm-up) and sets the GPU's share to
// its share of the combined speed: tCPU/(tGPU+tCPU). A split product waits
// for the device and copies the activations and results, which a decode
// step that keeps every row on the GPU does not: when the split product at
// that share is not faster than the GPU's streamed product (Stream), the
// share is 1, every row on the GPU. On a discrete GPU that is the usual
// outcome (an H200 streams 2B4T's largest matrix in 6 µs; a synchronized
// split pass costs tens of microseconds).
func (tp *TensorParallel) Calibrate(x []int8, xsum int32, iters int) (Calibration, error) {
	iters = max(iters, 1)
	measure := func(f float64) (time.Duration, error) {
		tp.SetGPUFraction(f)
		ts := make([]time.Duration, 0, iters)
		for i := 0; i <= iters; i++ {
			t0 := time.Now()
			if _, err := tp.MatVec(x, xsum); err != nil {
				return 0, err
			}
			if i > 0 {
				ts = append(ts, time.Since(t0))
			}
		}
		slices.Sort(ts)
		return max(ts[len(ts)/2], time.Nanosecond), nil
	}
	var c Calibration
	var err error
	if c.GPU, err = measure(1); err != nil {
		return c, err
	}
	if c.CPU, err = measure(0); err != nil {
		return c, err
	}
	f := float64(c.CPU) / float64(c.GPU+c.CPU)
	if c.Split, err = measure(f); err != nil {
		return c, err
	}
	if c.Stream, err = tp.stream(x, iters); err != nil {
		return c, err
	}
	if c.Split >= c.Stream {
		f = 1
	}
	c.GPUFraction = f
	tp.SetGPUFraction(f)
	return c, nil
}

// stream times iters products of every row launched back to back after
// one copy of x, with one synchronization at the end, after one warm-up.
func (tp *TensorParallel) stream(x []int8, iters int) (time.Duration, error) {
	d := tp.b.drv
	if err := d.MemcpyHtoD(tp.x.Ptr, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), len(x))); err != nil {
		return 0, fmt.Errorf("jetson: TensorParallel: %w", err)
	}
	run := func(n int) error {
		for range n {
			if err := tp.b.TMatVec(tp.dOut, tp.w, tp.stride, tp.rows, tp.x.Ptr, tp.blocks, 0); err != nil {
				return err
			}
		}
		return d.Synchronize()
	}
	if err := run(1); err != nil {
		return 0, err
	}
	t0 := time.Now()
	if err := run(iters); err != nil {
		return 0, err
	}
	return max(time.Since(t0)/time.Duration(iters), time.Nanosecond), nil
}

// Close frees the buffers.
func (tp *TensorParallel) Close() error {
	d := tp.b.drv
	err := tp.b.Free(tp.x)
	if tp.mapped {
		err = errors.Join(err, d.MemFreeHost(tp.outRaw))
	} else {
		err = errors.Join(err, tp.b.Free(tp.dBuf))
	}
	tp.out, tp.outRaw = nil, nil
	return err
}
