package jetson

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"github.com/speakez/barewire/jetson/cuda"
	"github.com/speakez/barewire/jetson/kernels"
)

// OverrideEnv is read by Open when Options.Override is Auto: "auto",
// "inplace" or "device".
const OverrideEnv = "BAREWIRE_GPU_WEIGHTS"

// Options configure Open.
type Options struct {
	// Driver to use; nil opens libcuda.so.1 (cuda.Open).
	Driver cuda.Driver
	// Device ordinal (default 0).
	Device int
	// Override of the weight placement; Auto also consults $BAREWIRE_GPU_WEIGHTS.
	Override Override
	// JIT options for loading the PTX.
	JIT cuda.JITOptions
}

// Backend is one GPU with the kernels loaded. Its methods may be called
// from several goroutines; the driver serializes them.
type Backend struct {
	drv      cuda.Driver
	caps     Capabilities
	override Override
	mods     []cuda.Module
	fns      map[string]cuda.Function
	jitLog   string
	owned    bool // drv was opened here and is closed by Close

	lmu  sync.Mutex
	args [16]cuda.Arg // launch parameters, reused under lmu: no allocation per launch
}

// Open initializes the driver, probes the device, creates a context and
// JIT-loads the kernels. Errors wrapping cuda.ErrUnavailable mean there is no
// usable GPU (no driver, no device, or a build without cgo): run on the CPU.
func Open(opts Options) (*Backend, error) {
	b := &Backend{drv: opts.Driver, override: opts.Override}
	if b.override == Auto {
		if s := os.Getenv(OverrideEnv); s != "" {
			o, err := ParseOverride(s)
			if err != nil {
				return nil, fmt.Errorf("$%s: %w", OverrideEnv, err)
			}
			b.override = o
		}
	}
	if b.drv == nil {
		d, err := cuda.Open()
		if err != nil {
			return nil, err
		}
		b.drv, b.owned = d, true
	}
	fail := func(err error) (*Backend, error) {
		if b.owned {
			b.drv.Close()
		}
		return nil, err
	}
	caps, err := Probe(b.drv, opts.Device)
	if err != nil {
		return fail(err)
	}
	b.caps = caps
	if caps.CCMajor*10+caps.CCMinor < 72 {
		return fail(fmt.Errorf("%w: %s has compute capability %d.%d; the kernels are built for sm_72 (Xavier) and newer",
			cuda.ErrNoDevice, caps.Name, caps.CCMajor, caps.CCMinor))
	}
	if err := b.drv.CreateContext(opts.Device); err != nil {
		return fail(fmt.Errorf("jetson: %s: %w", caps.Name, err))
	}
	b.fns = map[string]cuda.Function{}
	for _, name := range kernels.Modules {
		ptx, err := kernels.PTX(name)
		if err != nil {
			return fail(errors.Join(err, b.unload()))
		}
		m, log, err := b.drv.ModuleLoad(ptx, opts.JIT)
		if err != nil {
			return fail(errors.Join(fmt.Errorf("jetson: JIT of %s.ptx on %s (driver %d): %w\n%s",
				name, caps.Name, caps.DriverVersion, err, log), b.unload()))
		}
		b.mods = append(b.mods, m)
		if log != "" {
			b.jitLog += name + ": " + log + "\n"
		}
		for _, e := range kernels.Entries(ptx) {
			f, err := b.drv.ModuleFunction(m, e)
			if err != nil {
				return fail(errors.Join(fmt.Errorf("jetson: %s.ptx: %w", name, err), b.unload()))
			}
			b.fns[e] = f
		}
	}
	return b, nil
}

func (b *Backend) unload() error {
	var errs []error
	for _, m := range b.mods {
		errs = append(errs, b.drv.ModuleUnload(m))
	}
	b.mods = nil
	return errors.Join(append(errs, b.drv.DestroyContext())...)
}

// Close unloads the kernels and releases the context (and the driver, when
// Open loaded it). Weights and buffers must be released first.
func (b *Backend) Close() error {
	err := b.unload()
	if b.owned {
		err = errors.Join(err, b.drv.Close())
	}
	return err
}

// Capabilities of the device in use.
func (b *Backend) Capabilities() Capabilities { return b.caps }

// Driver in use.
func (b *Backend) Driver() cuda.Driver { return b.drv }

// Override in effect.
func (b *Backend) Override() Override { return b.override }

// JITLog is the driver's info log from loading the kernels.
func (b *Backend) JITLog() string { return b.jitLog }

// Buffer is device memory for activations, results or KV cache.
type Buffer struct {
	Ptr cuda.DevicePtr
	Len int
}

// Alloc allocates n bytes of device memory. State always lives in device
// memory, whatever the weights' placement: the iGPU caches it, unlike
// registered host memory (CUDA for Tegra app note §4.1).
func (b *Backend) Alloc(n int) (Buffer, error) {
	p, err := b.drv.MemAlloc(n)
	if err != nil {
		return Buffer{}, fmt.Errorf("jetson: allocating %d bytes on %s: %w", n, b.caps.Name, err)
	}
	return Buffer{Ptr: p, Len: n}, nil
}

// Free releases a buffer.
func (b *Backend) Free(buf Buffer) error {
	if buf.Ptr == 0 {
		return nil
	}
	return b.drv.MemFree(buf.Ptr)
}

// Synchronize waits for all launched kernels.
func (b *Backend) Synchronize() error { return b.drv.Synchronize() }

func hostAddr(b []byte) cuda.DevicePtr {
	return cuda.DevicePtr(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// launch copies args into the Backend's reusable parameter block, so the
// variadic slice stays on the caller's stack.
func (b *Backend) launch(name string, grid, block cuda.Dim3, args ...cuda.Arg) error {
	f, ok := b.fns[name]
	if !ok {
		return fmt.Errorf("jetson: kernel %s not loaded", name)
	}
	b.lmu.Lock()
	n := copy(b.args[:], args)
	err := b.drv.Launch(f, grid, block, 0, b.args[:n])
	b.lmu.Unlock()
	if err != nil {
		return fmt.Errorf("jetson: %s: %w", name, err)
	}
	return nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func checkDims(name string, dims ...int) error {
	for _, d := range dims {
		if d < 0 || d > 1<<31-1 {
			return fmt.Errorf("jetson: %s: dimension %d out of range", name, d)
		}
	}
	return nil
}

// TMatVec launches dst[r] = Σ_k w[r,k]·x[k] for r < rows on i2b128 rows at
// w (row stride in bytes, a multiple of 32), with x holding blocks*128 int8
// values whose sum is xsum. Asynchronous; dst is int32.
func (b *Backend) TMatVec(dst, w cuda.DevicePtr, stride, rows int, x cuda.DevicePtr, blocks int, xsum int32) error {
	if stride%32 != 0 || stride < blocks*32 {
		return fmt.Errorf("jetson: TMatVec: stride %d must be a multiple of 32 and at least %d", stride, blocks*32)
	}
	if err := checkDims("TMatVec", rows, blocks, stride); err != nil || rows == 0 {
		return err
	}
	return b.launch(kernels.TMatVec, cuda.D1(ceilDiv(rows, kernels.WarpsPerBlock)), cuda.D1(kernels.MatrixThreads),
		cuda.Ptr(dst), cuda.Ptr(w), cuda.I32(int32(stride)), cuda.I32(int32(rows)), cuda.Ptr(x), cuda.I32(int32(blocks)), cuda.I32(xsum))
}

// TMatMul is the prefill form: for t < ntok, dst[t*ldd + r] = Σ_k
// w[r,k]·x[t*ldx + k], minus xsum[t] as in TMatVec. ldx is a multiple of 4;
// xsum is int32 device memory.
func (b *Backend) TMatMul(dst cuda.DevicePtr, ldd int, w cuda.DevicePtr, stride, rows int, x cuda.DevicePtr, ldx, blocks int, xsum cuda.DevicePtr, ntok int) error {
	if stride%32 != 0 || stride < blocks*32 {
		return fmt.Errorf("jetson: TMatMul: stride %d must be a multiple of 32 and at least %d", stride, blocks*32)
	}
	if ldx%4 != 0 || ldx < blocks*128 || ldd < rows {
		return fmt.Errorf("jetson: TMatMul: ldx %d must be a multiple of 4 and at least %d; ldd %d at least %d", ldx, blocks*128, ldd, rows)
	}
	if err := checkDims("TMatMul", rows, blocks, stride, ldx, ldd, ntok); err != nil || rows == 0 || ntok == 0 {
		return err
	}
	grid := cuda.Dim3{X: uint32(ceilDiv(rows, kernels.WarpsPerBlock)), Y: uint32(ceilDiv(ntok, kernels.TokenTile)), Z: 1}
	return b.launch(kernels.TMatMul, grid, cuda.D1(kernels.MatrixThreads),
		cuda.Ptr(dst), cuda.I32(int32(ldd)), cuda.Ptr(w), cuda.I32(int32(stride)), cuda.I32(int32(rows)),
		cuda.Ptr(x), cuda.I32(int32(ldx)), cuda.I32(int32(blocks)), cuda.Ptr(xsum), cuda.I32(int32(ntok)))
}

// I8MatVec launches dst[r] = Σ_{c<k} w[r*stride+c]·x[c] for an int8 matrix
// (stride a multiple of 4).
func (b *Backend) I8MatVec(dst, w cuda.DevicePtr, stride, rows int, x cuda.DevicePtr, k int) error {
	if stride%4 != 0 || stride < k {
		return fmt.Errorf("jetson: I8MatVec: stride %d must be a multiple of 4 and at least k=%d", stride, k)
	}
	if err := checkDims("I8MatVec", rows, k, stride); err != nil || rows == 0 {
		return err
	}
	return b.launch(kernels.I8MatVec, cuda.D1(ceilDiv(rows, kernels.WarpsPerBlock)), cuda.D1(kernels.MatrixThreads),
		cuda.Ptr(dst), cuda.Ptr(w), cuda.I32(int32(stride)), cuda.I32(int32(rows)), cuda.Ptr(x), cuda.I32(int32(k)))
}

// Quantize quantizes ntok rows of n float32 values (row pitch ldx floats)
// into int8 rows of ldq bytes (zero-padded from n), with per-token scale
// (float32) and sum (int32), exactly as simd.QuantizeActivations.
func (b *Backend) Quantize(q cuda.DevicePtr, ldq int, scale, xsum, x cuda.DevicePtr, ldx, n, ntok int) error {
	if ldq < n || ldx < n {
		return fmt.Errorf("jetson: Quantize: ldq %d and ldx %d must be at least n=%d", ldq, ldx, n)
	}
	if err := checkDims("Quantize", ldq, ldx, n, ntok); err != nil || ntok == 0 {
		return err
	}
	return b.launch(kernels.Quantize, cuda.D1(ntok), cuda.D1(kernels.RowThreads),
		cuda.Ptr(q), cuda.I32(int32(ldq)), cuda.Ptr(scale), cuda.Ptr(xsum), cuda.Ptr(x), cuda.I32(int32(ldx)), cuda.I32(int32(n)))
}

// RMSNorm: y = x / sqrt(mean(x²)+eps) · g over ntok rows of n floats.
func (b *Backend) RMSNorm(y, x, g cuda.DevicePtr, n, ld, ntok int, eps float32) error {
	if err := checkDims("RMSNorm", n, ld, ntok); err != nil || ntok == 0 {
		return err
	}
	return b.launch(kernels.RMSNorm, cuda.D1(ntok), cuda.D1(kernels.RowThreads),
		cuda.Ptr(y), cuda.Ptr(x), cuda.Ptr(g), cuda.I32(int32(n)), cuda.I32(int32(ld)), cuda.F32(eps))
}

// RoPE rotates nheads heads of headDim floats per token in place
// (rotate-half); cos and sin hold headDim/2 values per token at pitch ldcs
// (simd.RoPETable computes them).
func (b *Backend) RoPE(x cuda.DevicePtr, ld, nheads, headDim int, cos, sin cuda.DevicePtr, ldcs, ntok int) error {
	if headDim%2 != 0 {
		return fmt.Errorf("jetson: RoPE: odd head size %d", headDim)
	}
	if err := checkDims("RoPE", ld, nheads, headDim, ldcs, ntok); err != nil || ntok == 0 {
		return err
	}
	return b.launch(kernels.RoPE, cuda.D1(ntok), cuda.D1(kernels.RowThreads),
		cuda.Ptr(x), cuda.I32(int32(ld)), cuda.I32(int32(nheads)), cuda.I32(int32(headDim)), cuda.Ptr(cos), cuda.Ptr(sin), cuda.I32(int32(ldcs)))
}

// Softmax over the first n floats of each of ntok rows, in place.
func (b *Backend) Softmax(x cuda.DevicePtr, n, ld, ntok int) error {
	if err := checkDims("Softmax", n, ld, ntok); err != nil || ntok == 0 {
		return err
	}
	return b.launch(kernels.Softmax, cuda.D1(ntok), cuda.D1(kernels.RowThreads), cuda.Ptr(x), cuda.I32(int32(n)), cuda.I32(int32(ld)))
}

func elementwiseGrid(n int) cuda.Dim3 { return cuda.D1(min(ceilDiv(n, 256), 1024)) }

// SiLU: y = x·sigmoid(x) over n floats.
func (b *Backend) SiLU(y, x cuda.DevicePtr, n int) error {
	if n == 0 {
		return nil
	}
	return b.launch(kernels.SiLU, elementwiseGrid(n), cuda.D1(256), cuda.Ptr(y), cuda.Ptr(x), cuda.I32(int32(n)))
}

// ReLU2: y = max(x,0)² over n floats.
func (b *Backend) ReLU2(y, x cuda.DevicePtr, n int) error {
	if n == 0 {
		return nil
	}
	return b.launch(kernels.ReLU2, elementwiseGrid(n), cuda.D1(256), cuda.Ptr(y), cuda.Ptr(x), cuda.I32(int32(n)))
}

// Mul: y = a·b over n floats (the gate of a GLU).
func (b *Backend) Mul(y, a, c cuda.DevicePtr, n int) error {
	if n == 0 {
		return nil
	}
	return b.launch(kernels.Mul, elementwiseGrid(n), cuda.D1(256), cuda.Ptr(y), cuda.Ptr(a), cuda.Ptr(c), cuda.I32(int32(n)))
}

// Dequantize turns exact dot products into floats for ntok tokens, with the
// arithmetic of simd.Dequantize: y[t*ldy+r] = float32(acc[t*lda+r] − d)·s·(1/xscale[t])
// for r < rows, s = scales[r] (nscale == rows) or scales[0] (nscale 1), and
// d = xsum[t] when subtractSum is set (after TMatVec launched with xsum 0:
// the sums live in device memory, written by Quantize), else 0. With
// accumulate the value is added to y instead (a block's residual add).
// scales, xscale and xsum are device memory (float32, float32, int32).
func (b *Backend) Dequantize(y cuda.DevicePtr, ldy int, acc cuda.DevicePtr, lda int, scales cuda.DevicePtr, nscale int,
	xscale, xsum cuda.DevicePtr, subtractSum bool, rows, ntok int, accumulate bool) error {
	if nscale != 1 && nscale != rows {
		return fmt.Errorf("jetson: Dequantize: %d scales for %d rows (want 1 or %d)", nscale, rows, rows)
	}
	if ldy < rows || lda < rows {
		return fmt.Errorf("jetson: Dequantize: ldy %d and lda %d must be at least rows=%d", ldy, lda, rows)
	}
	if err := checkDims("Dequantize", ldy, lda, rows, ntok); err != nil || rows == 0 || ntok == 0 {
		return err
	}
	grid := cuda.Dim3{X: uint32(min(ceilDiv(rows, kernels.RowThreads), 1024)), Y: uint32(ntok), Z: 1}
	return b.launch(kernels.Dequantize, grid, cuda.D1(kernels.RowThreads),
		cuda.Ptr(y), cuda.I32(int32(ldy)), cuda.Ptr(acc), cuda.I32(int32(lda)), cuda.Ptr(scales), cuda.I32(int32(nscale)),
		cuda.Ptr(xscale), cuda.Ptr(xsum), cuda.I32(boolI32(subtractSum)), cuda.I32(int32(rows)), cuda.I32(boolI32(accumulate)))
}

// TMatVecDequant is TMatVec followed by Dequantize for one token, in one
// launch: y[r] = float32(dot_r − xsum[0])·s·(1/xscale[0]) for r < rows, with
// dot_r the exact product of row r and x, s = scales[r] (nscale == rows) or
// scales[0] (nscale 1), stored or, with accumulate, added to y[r]. The
// results equal those of the two launches (TMatVec with xsum 0, then
// Dequantize with subtractSum) bit for bit. scales, xscale and xsum are
// device memory (float32, float32, int32), as Quantize leaves them.
func (b *Backend) TMatVecDequant(y, w cuda.DevicePtr, stride, rows int, x cuda.DevicePtr, blocks int,
	scales cuda.DevicePtr, nscale int, xscale, xsum cuda.DevicePtr, accumulate bool) error {
	if stride%32 != 0 || stride < blocks*32 {
		return fmt.Errorf("jetson: TMatVecDequant: stride %d must be a multiple of 32 and at least %d", stride, blocks*32)
	}
	if nscale != 1 && nscale != rows {
		return fmt.Errorf("jetson: TMatVecDequant: %d scales for %d rows (want 1 or %d)", nscale, rows, rows)
	}
	if err := checkDims("TMatVecDequant", rows, blocks, stride); err != nil || rows == 0 {
		return err
	}
	return b.launch(kernels.TMatVecDequant, cuda.D1(ceilDiv(rows, kernels.WarpsPerBlock)), cuda.D1(kernels.MatrixThreads),
		cuda.Ptr(y), cuda.Ptr(w), cuda.I32(int32(stride)), cuda.I32(int32(rows)), cuda.Ptr(x), cuda.I32(int32(blocks)),
		cuda.Ptr(scales), cuda.I32(int32(nscale)), cuda.Ptr(xscale), cuda.Ptr(xsum), cuda.I32(boolI32(accumulate)))
}

// RMSNormQuantize is RMSNorm of ntok rows of n floats (pitch ld) into y
// followed by Quantize of y into q (pitch ldq, zero-padded from n), scale
// and xsum, in one launch, with the same results bit for bit.
func (b *Backend) RMSNormQuantize(q cuda.DevicePtr, ldq int, scale, xsum, y, x, g cuda.DevicePtr, n, ld, ntok int, eps float32) error {
	if ldq < n || ld < n {
		return fmt.Errorf("jetson: RMSNormQuantize: ldq %d and ld %d must be at least n=%d", ldq, ld, n)
	}
	if err := checkDims("RMSNormQuantize", ldq, ld, n, ntok); err != nil || ntok == 0 {
		return err
	}
	return b.launch(kernels.RMSNormQuantize, cuda.D1(ntok), cuda.D1(kernels.RowThreads),
		cuda.Ptr(q), cuda.I32(int32(ldq)), cuda.Ptr(scale), cuda.Ptr(xsum), cuda.Ptr(y), cuda.Ptr(x), cuda.Ptr(g),
		cuda.I32(int32(n)), cuda.I32(int32(ld)), cuda.F32(eps))
}

func boolI32(v bool) int32 {
	if v {
		return 1
	}
	return 0
}

// GLU: y = act(gate)·up over n floats, act ReLU² (simd.ReLUSquaredGate) or,
// with silu, SiLU (simd.SiLUGate). y may be gate.
func (b *Backend) GLU(y, gate, up cuda.DevicePtr, n int, silu bool) error {
	if err := checkDims("GLU", n); err != nil || n == 0 {
		return err
	}
	return b.launch(kernels.GLU, elementwiseGrid(n), cuda.D1(256), cuda.Ptr(y), cuda.Ptr(gate), cuda.Ptr(up), cuda.I32(int32(n)), cuda.I32(boolI32(silu)))
}

// Attention computes causal attention for ntok tokens at positions
// pos0..pos0+ntok−1: query head h of token t (headDim floats at
// q[t*ldq + h*headDim]) attends to positions 0..pos0+t of KV head
// h/(heads/kvHeads) in the caches k and v (one row of ldkv floats per
// position, already holding those positions), with scores scaled by scale
// (head_dim^-0.5), and writes the weighted sum of values to
// out[t*ldo + h*headDim]. scores is device scratch of ntok·heads rows of
// ldsc ≥ pos0+ntok floats.
func (b *Backend) Attention(out cuda.DevicePtr, ldo int, q cuda.DevicePtr, ldq int, k, v cuda.DevicePtr, ldkv,
	heads, kvHeads, headDim, pos0, ntok int, scale float32, scores cuda.DevicePtr, ldsc int) error {
	if heads <= 0 || kvHeads <= 0 || heads%kvHeads != 0 {
		return fmt.Errorf("jetson: Attention: %d heads not a multiple of %d KV heads", heads, kvHeads)
	}
	if ldq < heads*headDim || ldo < heads*headDim || ldkv < kvHeads*headDim {
		return fmt.Errorf("jetson: Attention: ldq %d, ldo %d must be at least %d and ldkv %d at least %d",
			ldq, ldo, heads*headDim, ldkv, kvHeads*headDim)
	}
	if ldsc < pos0+ntok {
		return fmt.Errorf("jetson: Attention: score rows of %d floats cannot hold %d positions", ldsc, pos0+ntok)
	}
	if err := checkDims("Attention", ldo, ldq, ldkv, heads, headDim, pos0, ntok, ldsc); err != nil || ntok == 0 {
		return err
	}
	grid := cuda.Dim3{X: uint32(heads), Y: uint32(ntok), Z: 1}
	return b.launch(kernels.Attention, grid, cuda.D1(kernels.RowThreads),
		cuda.Ptr(out), cuda.I32(int32(ldo)), cuda.Ptr(q), cuda.I32(int32(ldq)), cuda.Ptr(k), cuda.Ptr(v), cuda.I32(int32(ldkv)),
		cuda.I32(int32(heads)), cuda.I32(int32(kvHeads)), cuda.I32(int32(headDim)), cuda.I32(int32(pos0)), cuda.F32(scale),
		cuda.Ptr(scores), cuda.I32(int32(ldsc)))
}

// FloatType is the element type of a float matrix (FMatVec).
type FloatType int32

// Float matrix element types.
const (
	F32  FloatType = kernels.FloatF32
	F16  FloatType = kernels.FloatF16
	BF16 FloatType = kernels.FloatBF16
)

// FMatVec launches y[r] = Σ_{c<k} f(w[r*stride+c])·x[c] for r < rows, with
// w an f32, f16 or bf16 matrix (stride in elements) read where it lies and
// x float32: an output head. The sum is in the order of simd's generic
// tier (simd.FloatLanes), so the result equals simd.GenericMatVecF16 (or
// BF16, F32) bit for bit.
func (b *Backend) FMatVec(y, w cuda.DevicePtr, dtype FloatType, stride, rows int, x cuda.DevicePtr, k int) error {
	if dtype != F32 && dtype != F16 && dtype != BF16 {
		return fmt.Errorf("jetson: FMatVec: element type %d", dtype)
	}
	if stride < k {
		return fmt.Errorf("jetson: FMatVec: stride %d less than k=%d", stride, k)
	}
	if err := checkDims("FMatVec", rows, k, stride); err != nil || rows == 0 {
		return err
	}
	return b.launch(kernels.FMatVec, cuda.D1(ceilDiv(rows, kernels.WarpsPerBlock)), cuda.D1(kernels.MatrixThreads),
		cuda.Ptr(y), cuda.Ptr(w), cuda.I32(int32(stride)), cuda.I32(int32(rows)), cuda.Ptr(x), cuda.I32(int32(k)), cuda.I32(int32(dtype)))
}
