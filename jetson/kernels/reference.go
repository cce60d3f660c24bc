package kernels

import (
	"fmt"
	"unsafe"

	"github.com/speakez/barewire/jetson/cuda"
	"github.com/speakez/barewire/simd"
)

// Reference implements each kernel in Go on top of the simd package's
// generic functions, with the kernels' argument lists and launch geometry:
// a launch whose grid does not cover the whole problem leaves the uncovered
// outputs untouched, as the GPU would. The fake driver runs these, so tests
// of the host code (offsets, strides, copies, grid sizes) check real
// numbers. It is not a proof of the CUDA code: jetson/devicecheck compares
// the real kernels with simd on a GPU.
var Reference = map[string]func(mem cuda.Memory, grid, block cuda.Dim3, args []cuda.Arg) error{
	TMatVec:  refTMatVec,
	TMatMul:  refTMatMul,
	I8MatVec: refI8MatVec,
	RMSNorm:  refRMSNorm,
	RoPE:     refRoPE,
	Softmax:  refSoftmax,
	SiLU:     refUnary(simd.SiLU),
	ReLU2:    refUnary(simd.ReLUSquared),
	Mul:      refMul,
	Quantize: refQuantize,

	Dequantize: refDequantize,

	TMatVecDequant:  refTMatVecDequant,
	RMSNormQuantize: refRMSNormQuantize,
	GLU:             refGLU,
	Attention:       refAttention,
	FMatVec:         refFMatVec,
}

type argv struct {
	name string
	a    []cuda.Arg
	err  error
}

// at returns argument i, recording an error when it is missing or not of
// the kind the kernel declares.
func (v *argv) at(i int, kind cuda.ArgKind) cuda.Arg {
	if i >= len(v.a) {
		if v.err == nil {
			v.err = fmt.Errorf("%s: argument %d missing (got %d)", v.name, i, len(v.a))
		}
		return cuda.Arg{}
	}
	if v.a[i].Kind != kind && v.err == nil {
		v.err = fmt.Errorf("%s: argument %d is %v, want %v", v.name, i, v.a[i].Kind, kind)
	}
	return v.a[i]
}

func (v *argv) ptr(i int) cuda.DevicePtr { return v.at(i, cuda.ArgPtr).AsPtr() }
func (v *argv) i32(i int) int            { return int(v.at(i, cuda.ArgI32).AsI32()) }
func (v *argv) f32(i int) float32        { return v.at(i, cuda.ArgF32).AsF32() }

func (v *argv) done(n int) error {
	if v.err == nil && len(v.a) != n {
		v.err = fmt.Errorf("%s: %d arguments, want %d", v.name, len(v.a), n)
	}
	return v.err
}

func asInt8(b []byte) []int8 {
	return unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(b))), len(b))
}

func i32s(mem cuda.Memory, p cuda.DevicePtr, n int) ([]int32, error) {
	b, err := mem.Bytes(p, 4*n)
	if err != nil || n == 0 {
		return nil, err
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(b))), n), nil
}

func f32s(mem cuda.Memory, p cuda.DevicePtr, n int) ([]float32, error) {
	b, err := mem.Bytes(p, 4*n)
	if err != nil || n == 0 {
		return nil, err
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), n), nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// matrixRows is how many rows a matrix-kernel grid covers (one warp each).
func matrixRows(name string, grid, block cuda.Dim3, rows int) (int, error) {
	if block.X%32 != 0 || block.Y != 1 || block.Z != 1 {
		return 0, fmt.Errorf("%s: block %v: want a multiple of 32 threads in x", name, block)
	}
	return min(rows, int(grid.X)*int(block.X)/32), nil
}

func refTMatVec(mem cuda.Memory, grid, block cuda.Dim3, args []cuda.Arg) error {
	v := argv{name: TMatVec, a: args}
	dst, w, stride, rows, x, blocks, xsum := v.ptr(0), v.ptr(1), v.i32(2), v.i32(3), v.ptr(4), v.i32(5), v.i32(6)
	if err := v.done(7); err != nil {
		return err
	}
	if stride%4 != 0 {
		return fmt.Errorf("%s: stride %d is not a multiple of 4 (misaligned load)", TMatVec, stride)
	}
	n, err := matrixRows(TMatVec, grid, block, rows)
	if err != nil || n <= 0 {
		return err
	}
	wb, err1 := mem.Bytes(w, (n-1)*stride+blocks*32)
	xb, err2 := mem.Bytes(x, blocks*128)
	out, err3 := i32s(mem, dst, n)
	if err := firstErr(err1, err2, err3); err != nil {
		return fmt.Errorf("%s: %w", TMatVec, err)
	}
	return simdCall(TMatVec, func() { simd.GenericMatVecT2(out, wb, stride, asInt8(xb), int32(xsum)) })
}

func refTMatMul(mem cuda.Memory, grid, block cuda.Dim3, args []cuda.Arg) error {
	v := argv{name: TMatMul, a: args}
	dst, ldd, w, stride, rows := v.ptr(0), v.i32(1), v.ptr(2), v.i32(3), v.i32(4)
	x, ldx, blocks, xsum, ntok := v.ptr(5), v.i32(6), v.i32(7), v.ptr(8), v.i32(9)
	if err := v.done(10); err != nil {
		return err
	}
	if stride%4 != 0 || ldx%4 != 0 {
		return fmt.Errorf("%s: stride %d and ldx %d must be multiples of 4", TMatMul, stride, ldx)
	}
	n, err := matrixRows(TMatMul, grid, block, rows)
	if err != nil {
		return err
	}
	nt := min(ntok, int(grid.Y)*TokenTile)
	if n <= 0 || nt <= 0 {
		return nil
	}
	k := blocks * 128
	wb, err1 := mem.Bytes(w, (n-1)*stride+blocks*32)
	xb, err2 := mem.Bytes(x, (nt-1)*ldx+k)
	xs, err3 := i32s(mem, xsum, nt)
	out, err4 := i32s(mem, dst, (nt-1)*ldd+n)
	if err := firstErr(err1, err2, err3, err4); err != nil {
		return fmt.Errorf("%s: %w", TMatMul, err)
	}
	return simdCall(TMatMul, func() {
		simd.GenericMatMulT2(out, ldd, wb, stride, n, asInt8(xb), ldx, k, xs, nt)
	})
}

// simdCall turns a panic of the simd argument checks into an error.
func simdCall(name string, f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %v", name, r)
		}
	}()
	f()
	return nil
}

func refI8MatVec(mem cuda.Memory, grid, block cuda.Dim3, args []cuda.Arg) error {
	v := argv{name: I8MatVec, a: args}
	dst, w, stride, rows, x, k := v.ptr(0), v.ptr(1), v.i32(2), v.i32(3), v.ptr(4), v.i32(5)
	if err := v.done(6); err != nil {
		return err
	}
	if stride%4 != 0 {
		return fmt.Errorf("%s: stride %d is not a multiple of 4", I8MatVec, stride)
	}
	n, err := matrixRows(I8MatVec, grid, block, rows)
	if err != nil || n <= 0 {
		return err
	}
	wb, err1 := mem.Bytes(w, (n-1)*stride+k)
	xb, err2 := mem.Bytes(x, k)
	out, err3 := i32s(mem, dst, n)
	if err := firstErr(err1, err2, err3); err != nil {
		return fmt.Errorf("%s: %w", I8MatVec, err)
	}
	return simdCall(I8MatVec, func() { simd.GenericMatVecI8(out, asInt8(wb), stride, asInt8(xb)) })
}

func rowKernel(name string, grid, block cuda.Dim3) (int, error) {
	if block.X != RowThreads {
		return 0, fmt.Errorf("%s: block %v: the row kernels need exactly %d threads", name, block, RowThreads)
	}
	return int(grid.X), nil
}

func refRMSNorm(mem cuda.Memory, grid, block cuda.Dim3, args []cuda.Arg) error {
	v := argv{name: RMSNorm, a: args}
	y, x, g, n, ld, eps := v.ptr(0), v.ptr(1), v.ptr(2), v.i32(3), v.i32(4), v.f32(5)
	if err := v.done(6); err != nil {
		return err
	}
	ntok, err := rowKernel(RMSNorm, grid, block)
	if err != nil {
		return err
	}
	gw, err := f32s(mem, g, n)
	if err != nil {
		return fmt.Errorf("%s: %w", RMSNorm, err)
	}
	for t := 0; t < ntok; t++ {
		xr, err1 := f32s(mem, x.Add(4*t*ld), n)
		yr, err2 := f32s(mem, y.Add(4*t*ld), n)
		if err := firstErr(err1, err2); err != nil {
			return fmt.Errorf("%s: token %d: %w", RMSNorm, t, err)
		}
		simd.RMSNorm(yr, xr, gw, eps)
	}
	return nil
}

func refRoPE(mem cuda.Memory, grid, block cuda.Dim3, args []cuda.Arg) error {
	v := argv{name: RoPE, a: args}
	x, ld, nheads, hd, cosp, sinp, ldcs := v.ptr(0), v.i32(1), v.i32(2), v.i32(3), v.ptr(4), v.ptr(5), v.i32(6)
	if err := v.done(7); err != nil {
		return err
	}
	ntok, err := rowKernel(RoPE, grid, block)
	if err != nil {
		return err
	}
	for t := 0; t < ntok; t++ {
		xr, err1 := f32s(mem, x.Add(4*t*ld), nheads*hd)
		c, err2 := f32s(mem, cosp.Add(4*t*ldcs), hd/2)
		s, err3 := f32s(mem, sinp.Add(4*t*ldcs), hd/2)
		if err := firstErr(err1, err2, err3); err != nil {
			return fmt.Errorf("%s: token %d: %w", RoPE, t, err)
		}
		for h := 0; h < nheads; h++ {
			simd.RoPERotateHalf(xr[h*hd:(h+1)*hd], c, s)
		}
	}
	return nil
}

func refSoftmax(mem cuda.Memory, grid, block cuda.Dim3, args []cuda.Arg) error {
	v := argv{name: Softmax, a: args}
	x, n, ld := v.ptr(0), v.i32(1), v.i32(2)
	if err := v.done(3); err != nil {
		return err
	}
	ntok, err := rowKernel(Softmax, grid, block)
	if err != nil {
		return err
	}
	for t := 0; t < ntok; t++ {
		xr, err := f32s(mem, x.Add(4*t*ld), n)
		if err != nil {
			return fmt.Errorf("%s: token %d: %w", Softmax, t, err)
		}
		simd.Softmax(xr)
	}
	return nil
}

func refUnary(f func(dst, x []float32)) func(cuda.Memory, cuda.Dim3, cuda.Dim3, []cuda.Arg) error {
	return func(mem cuda.Memory, grid, block cuda.Dim3, args []cuda.Arg) error {
		v := argv{name: "elementwise", a: args}
		y, x, n := v.ptr(0), v.ptr(1), v.i32(2)
		if err := v.done(3); err != nil {
			return err
		}
		ys, err1 := f32s(mem, y, n)
		xs, err2 := f32s(mem, x, n)
		if err := firstErr(err1, err2); err != nil {
			return err
		}
		f(ys, xs)
		return nil
	}
}

func refMul(mem cuda.Memory, grid, block cuda.Dim3, args []cuda.Arg) error {
	v := argv{name: Mul, a: args}
	y, a, b, n := v.ptr(0), v.ptr(1), v.ptr(2), v.i32(3)
	if err := v.done(4); err != nil {
		return err
	}
	ys, err1 := f32s(mem, y, n)
	as, err2 := f32s(mem, a, n)
	bs, err3 := f32s(mem, b, n)
	if err := firstErr(err1, err2, err3); err != nil {
		return err
	}
	simd.Mul(ys, as, bs)
	return nil
}

func refQuantize(mem cuda.Memory, grid, block cuda.Dim3, args []cuda.Arg) error {
	v := argv{name: Quantize, a: args}
	q, ldq, scale, xsum, x, ldx, n := v.ptr(0), v.i32(1), v.ptr(2), v.ptr(3), v.ptr(4), v.i32(5), v.i32(6)
	if err := v.done(7); err != nil {
		return err
	}
	ntok, err := rowKernel(Quantize, grid, block)
	if err != nil {
		return err
	}
	sc, err1 := f32s(mem, scale, ntok)
	xs, err2 := i32s(mem, xsum, ntok)
	if err := firstErr(err1, err2); err != nil {
		return fmt.Errorf("%s: %w", Quantize, err)
	}
	for t := 0; t < ntok; t++ {
		qb, err1 := mem.Bytes(q.Add(t*ldq), ldq)
		xr, err2 := f32s(mem, x.Add(4*t*ldx), n)
		if err := firstErr(err1, err2); err != nil {
			return fmt.Errorf("%s: token %d: %w", Quantize, t, err)
		}
		sc[t], xs[t] = simd.QuantizeActivations(asInt8(qb), xr)
	}
	return nil
}

func refDequantize(mem cuda.Memory, grid, block cuda.Dim3, args []cuda.Arg) error {
	v := argv{name: Dequantize, a: args}
	y, ldy, acc, lda, rs, nscale := v.ptr(0), v.i32(1), v.ptr(2), v.i32(3), v.ptr(4), v.i32(5)
	xscale, xsum, sub, rows, accumulate := v.ptr(6), v.ptr(7), v.i32(8), v.i32(9), v.i32(10)
	if err := v.done(11); err != nil {
		return err
	}
	ntok := int(grid.Y)
	if rows <= 0 || ntok <= 0 {
		return nil
	}
	sc, err1 := f32s(mem, rs, nscale)
	xs, err2 := f32s(mem, xscale, ntok)
	var sums []int32
	var err3 error
	if sub != 0 {
		sums, err3 = i32s(mem, xsum, ntok)
	}
	if err := firstErr(err1, err2, err3); err != nil {
		return fmt.Errorf("%s: %w", Dequantize, err)
	}
	if nscale != 1 && nscale < rows {
		return fmt.Errorf("%s: %d row scales for %d rows", Dequantize, nscale, rows)
	}
	dots, tmp := make([]int32, rows), make([]float32, rows)
	for t := 0; t < ntok; t++ {
		a, err1 := i32s(mem, acc.Add(4*t*lda), rows)
		yr, err2 := f32s(mem, y.Add(4*t*ldy), rows)
		if err := firstErr(err1, err2); err != nil {
			return fmt.Errorf("%s: token %d: %w", Dequantize, t, err)
		}
		copy(dots, a)
		if sub != 0 {
			for r := range dots {
				dots[r] -= sums[t]
			}
		}
		simd.Dequantize(tmp, dots, sc[:min(nscale, rows)], xs[t])
		if accumulate != 0 {
			for r := range yr {
				yr[r] += tmp[r]
			}
		} else {
			copy(yr, tmp)
		}
	}
	return nil
}

func refGLU(mem cuda.Memory, grid, block cuda.Dim3, args []cuda.Arg) error {
	v := argv{name: GLU, a: args}
	y, g, u, n, silu := v.ptr(0), v.ptr(1), v.ptr(2), v.i32(3), v.i32(4)
	if err := v.done(5); err != nil {
		return err
	}
	ys, err1 := f32s(mem, y, n)
	gs, err2 := f32s(mem, g, n)
	us, err3 := f32s(mem, u, n)
	if err := firstErr(err1, err2, err3); err != nil {
		return fmt.Errorf("%s: %w", GLU, err)
	}
	if silu != 0 {
		simd.SiLUGate(ys, gs, us)
	} else {
		simd.ReLUSquaredGate(ys, gs, us)
	}
	return nil
}

// refAttention computes each (head, token) of the grid as the CPU's
// attention does with the generic float kernels: scores by
// simd.GenericMatVecF32, simd.Softmax, and the weighted sum by
// simd.GenericWeightedSumF32.
func refAttention(mem cuda.Memory, grid, block cuda.Dim3, args []cuda.Arg) error {
	v := argv{name: Attention, a: args}
	out, ldo, q, ldq, k, vc, ldkv := v.ptr(0), v.i32(1), v.ptr(2), v.i32(3), v.ptr(4), v.ptr(5), v.i32(6)
	heads, kvheads, hd, pos0, scale := v.i32(7), v.i32(8), v.i32(9), v.i32(10), v.f32(11)
	if err := v.done(14); err != nil {
		return err
	}
	if block.X != RowThreads {
		return fmt.Errorf("%s: block %v: want %d threads", Attention, block, RowThreads)
	}
	if kvheads <= 0 || heads%kvheads != 0 {
		return fmt.Errorf("%s: %d heads, %d KV heads", Attention, heads, kvheads)
	}
	group := heads / kvheads
	for t := 0; t < int(grid.Y); t++ {
		n := pos0 + t + 1
		sc := make([]float32, n)
		for h := 0; h < int(grid.X) && h < heads; h++ {
			kvh := h / group
			qh, err1 := f32s(mem, q.Add(4*(t*ldq+h*hd)), hd)
			kb, err2 := f32s(mem, k.Add(4*kvh*hd), (n-1)*ldkv+hd)
			vb, err3 := f32s(mem, vc.Add(4*kvh*hd), (n-1)*ldkv+hd)
			o, err4 := f32s(mem, out.Add(4*(t*ldo+h*hd)), hd)
			if err := firstErr(err1, err2, err3, err4); err != nil {
				return fmt.Errorf("%s: token %d head %d: %w", Attention, t, h, err)
			}
			simd.GenericMatVecF32(sc, kb, ldkv, qh)
			for p := range sc[:n] {
				sc[p] *= scale
			}
			simd.Softmax(sc[:n])
			// The same sums over the values copied into simd's column blocks.
			const blk = simd.WeightedSumBlock
			vbl := make([]float32, (hd+blk-1)/blk*blk*n)
			for p := 0; p < n; p++ {
				for c := 0; c < hd; c++ {
					vbl[c/blk*blk*n+p*blk+c%blk] = vb[p*ldkv+c]
				}
			}
			simd.GenericWeightedSumF32(o, hd, hd, vbl, blk*n, sc, n, n, 1)
		}
	}
	return nil
}

func refFMatVec(mem cuda.Memory, grid, block cuda.Dim3, args []cuda.Arg) error {
	v := argv{name: FMatVec, a: args}
	y, w, stride, rows, x, k, dtype := v.ptr(0), v.ptr(1), v.i32(2), v.i32(3), v.ptr(4), v.i32(5), v.i32(6)
	if err := v.done(7); err != nil {
		return err
	}
	n, err := matrixRows(FMatVec, grid, block, rows)
	if err != nil || n <= 0 {
		return err
	}
	size := 4
	if dtype != FloatF32 {
		size = 2
	}
	wb, err1 := mem.Bytes(w, ((n-1)*stride+k)*size)
	xs, err2 := f32s(mem, x, k)
	ys, err3 := f32s(mem, y, n)
	if err := firstErr(err1, err2, err3); err != nil {
		return fmt.Errorf("%s: %w", FMatVec, err)
	}
	return simdCall(FMatVec, func() {
		switch dtype {
		case FloatF32:
			simd.GenericMatVecF32(ys, unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(wb))), len(wb)/4), stride, xs)
		case FloatF16:
			simd.GenericMatVecF16(ys, unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(wb))), len(wb)/2), stride, xs)
		case FloatBF16:
			simd.GenericMatVecBF16(ys, unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(wb))), len(wb)/2), stride, xs)
		default:
			panic(fmt.Sprintf("dtype %d", dtype))
		}
	})
}

func refTMatVecDequant(mem cuda.Memory, grid, block cuda.Dim3, args []cuda.Arg) error {
	v := argv{name: TMatVecDequant, a: args}
	y, w, stride, rows, x, blocks := v.ptr(0), v.ptr(1), v.i32(2), v.i32(3), v.ptr(4), v.i32(5)
	rs, nscale, xscale, xsum, accumulate := v.ptr(6), v.i32(7), v.ptr(8), v.ptr(9), v.i32(10)
	if err := v.done(11); err != nil {
		return err
	}
	if stride%4 != 0 {
		return fmt.Errorf("%s: stride %d is not a multiple of 4 (misaligned load)", TMatVecDequant, stride)
	}
	n, err := matrixRows(TMatVecDequant, grid, block, rows)
	if err != nil || n <= 0 {
		return err
	}
	if nscale != 1 && nscale < rows {
		return fmt.Errorf("%s: %d row scales for %d rows", TMatVecDequant, nscale, rows)
	}
	wb, err1 := mem.Bytes(w, (n-1)*stride+blocks*32)
	xb, err2 := mem.Bytes(x, blocks*128)
	yr, err3 := f32s(mem, y, n)
	sc, err4 := f32s(mem, rs, min(nscale, rows))
	xs, err5 := f32s(mem, xscale, 1)
	sum, err6 := i32s(mem, xsum, 1)
	if err := firstErr(err1, err2, err3, err4, err5, err6); err != nil {
		return fmt.Errorf("%s: %w", TMatVecDequant, err)
	}
	dots, tmp := make([]int32, n), make([]float32, n)
	if err := simdCall(TMatVecDequant, func() { simd.GenericMatVecT2(dots, wb, stride, asInt8(xb), sum[0]) }); err != nil {
		return err
	}
	if nscale != 1 {
		sc = sc[:n]
	}
	simd.Dequantize(tmp, dots, sc, xs[0])
	for r := range yr {
		if accumulate != 0 {
			yr[r] += tmp[r]
		} else {
			yr[r] = tmp[r]
		}
	}
	return nil
}

func refRMSNormQuantize(mem cuda.Memory, grid, block cuda.Dim3, args []cuda.Arg) error {
	v := argv{name: RMSNormQuantize, a: args}
	q, ldq, scale, xsum := v.ptr(0), v.i32(1), v.ptr(2), v.ptr(3)
	y, x, g, n, ld, eps := v.ptr(4), v.ptr(5), v.ptr(6), v.i32(7), v.i32(8), v.f32(9)
	if err := v.done(10); err != nil {
		return err
	}
	ntok, err := rowKernel(RMSNormQuantize, grid, block)
	if err != nil {
		return err
	}
	gw, err1 := f32s(mem, g, n)
	sc, err2 := f32s(mem, scale, ntok)
	xs, err3 := i32s(mem, xsum, ntok)
	if err := firstErr(err1, err2, err3); err != nil {
		return fmt.Errorf("%s: %w", RMSNormQuantize, err)
	}
	for t := 0; t < ntok; t++ {
		xr, err1 := f32s(mem, x.Add(4*t*ld), n)
		yr, err2 := f32s(mem, y.Add(4*t*ld), n)
		qb, err3 := mem.Bytes(q.Add(t*ldq), ldq)
		if err := firstErr(err1, err2, err3); err != nil {
			return fmt.Errorf("%s: token %d: %w", RMSNormQuantize, t, err)
		}
		simd.RMSNorm(yr, xr, gw, eps)
		sc[t], xs[t] = simd.QuantizeActivations(asInt8(qb), yr)
	}
	return nil
}
