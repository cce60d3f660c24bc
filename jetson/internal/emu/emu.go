//go:build cgo

package emu

/*
#cgo CXXFLAGS: -std=c++17 -O1 -pthread
#cgo LDFLAGS: -pthread
int emu_tmatvec(unsigned gx, unsigned gy, unsigned gz, unsigned bx, int *dst, const unsigned char *w, int stride, int rows, const signed char *x, int blocks, int xsum);
int emu_tmatmul(unsigned gx, unsigned gy, unsigned gz, unsigned bx, int *dst, int ldd, const unsigned char *w, int stride, int rows, const signed char *x, int ldx, int blocks, const int *xsum, int ntok);
int emu_i8matvec(unsigned gx, unsigned gy, unsigned gz, unsigned bx, int *dst, const signed char *w, int stride, int rows, const signed char *x, int k);
int emu_rmsnorm(unsigned gx, unsigned gy, unsigned gz, unsigned bx, float *y, const float *x, const float *g, int n, int ld, float eps);
int emu_rope(unsigned gx, unsigned gy, unsigned gz, unsigned bx, float *x, int ld, int nheads, int headdim, const float *c, const float *s, int ldcs);
int emu_softmax(unsigned gx, unsigned gy, unsigned gz, unsigned bx, float *x, int n, int ld);
int emu_silu(unsigned gx, unsigned gy, unsigned gz, unsigned bx, float *y, const float *x, int n);
int emu_relu2(unsigned gx, unsigned gy, unsigned gz, unsigned bx, float *y, const float *x, int n);
int emu_mul(unsigned gx, unsigned gy, unsigned gz, unsigned bx, float *y, const float *a, const float *b, int n);
int emu_quantize(unsigned gx, unsigned gy, unsigned gz, unsigned bx, signed char *q, int ldq, float *scale, int *xsum, const float *x, int ldx, int n);
int emu_dequantize(unsigned gx, unsigned gy, unsigned gz, unsigned bx, float *y, int ldy, const int *acc, int lda, const float *rowscale, int nscale, const float *xscale, const int *xsum, int sub, int rows, int accumulate);
int emu_tmatvec_dq(unsigned gx, unsigned gy, unsigned gz, unsigned bx, float *y, const unsigned char *w, int stride, int rows, const signed char *x, int blocks, const float *rowscale, int nscale, const float *xscale, const int *xsum, int accumulate);
int emu_rmsnorm_quantize(unsigned gx, unsigned gy, unsigned gz, unsigned bx, signed char *q, int ldq, float *scale, int *xsum, float *y, const float *x, const float *g, int n, int ld, float eps);
int emu_glu(unsigned gx, unsigned gy, unsigned gz, unsigned bx, float *y, const float *g, const float *u, int n, int silu);
int emu_attention(unsigned gx, unsigned gy, unsigned gz, unsigned bx, float *out, int ldo, const float *q, int ldq, const float *k, const float *v, int ldkv, int heads, int kvheads, int hd, int pos0, float scale, float *scores, int ldsc);
int emu_fmatvec(unsigned gx, unsigned gy, unsigned gz, unsigned bx, float *y, const void *w, int stride, int rows, const float *x, int k, int dtype);
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/speakez/barewire/jetson/cuda"
	"github.com/speakez/barewire/jetson/kernels"
)

// Available reports whether this build can emulate the kernels.
const Available = true

// Regioner is the memory the emulated kernels address: the fake driver.
type Regioner interface {
	Region(p cuda.DevicePtr) ([]byte, error)
}

// mu serializes launches: the emulation keeps its barriers in globals.
var mu sync.Mutex

type call struct {
	name string
	mem  Regioner
	args []cuda.Arg
	err  error
}

func (c *call) kind(i int, k cuda.ArgKind) cuda.Arg {
	if c.args[i].Kind != k {
		c.fail(fmt.Errorf("argument %d is %v, want %v", i, c.args[i].Kind, k))
	}
	return c.args[i]
}

func (c *call) ptr(i int) unsafe.Pointer {
	a := c.kind(i, cuda.ArgPtr)
	if c.err != nil {
		return nil
	}
	b, err := c.mem.Region(a.AsPtr())
	if err != nil {
		c.fail(err)
		return nil
	}
	return unsafe.Pointer(unsafe.SliceData(b))
}

func (c *call) i32(i int) C.int   { return C.int(c.kind(i, cuda.ArgI32).AsI32()) }
func (c *call) f32(i int) C.float { return C.float(c.kind(i, cuda.ArgF32).AsF32()) }

func (c *call) fail(err error) {
	if c.err == nil {
		c.err = fmt.Errorf("%s: %w", c.name, err)
	}
}

type launcher func(c *call, gx, gy, gz, bx C.uint) C.int

var launchers = map[string]struct {
	nargs int
	run   launcher
}{
	kernels.TMatVec: {7, func(c *call, gx, gy, gz, bx C.uint) C.int {
		return C.emu_tmatvec(gx, gy, gz, bx, (*C.int)(c.ptr(0)), (*C.uchar)(c.ptr(1)), c.i32(2), c.i32(3), (*C.schar)(c.ptr(4)), c.i32(5), c.i32(6))
	}},
	kernels.TMatMul: {10, func(c *call, gx, gy, gz, bx C.uint) C.int {
		return C.emu_tmatmul(gx, gy, gz, bx, (*C.int)(c.ptr(0)), c.i32(1), (*C.uchar)(c.ptr(2)), c.i32(3), c.i32(4), (*C.schar)(c.ptr(5)), c.i32(6), c.i32(7), (*C.int)(c.ptr(8)), c.i32(9))
	}},
	kernels.I8MatVec: {6, func(c *call, gx, gy, gz, bx C.uint) C.int {
		return C.emu_i8matvec(gx, gy, gz, bx, (*C.int)(c.ptr(0)), (*C.schar)(c.ptr(1)), c.i32(2), c.i32(3), (*C.schar)(c.ptr(4)), c.i32(5))
	}},
	kernels.RMSNorm: {6, func(c *call, gx, gy, gz, bx C.uint) C.int {
		return C.emu_rmsnorm(gx, gy, gz, bx, (*C.float)(c.ptr(0)), (*C.float)(c.ptr(1)), (*C.float)(c.ptr(2)), c.i32(3), c.i32(4), c.f32(5))
	}},
	kernels.RoPE: {7, func(c *call, gx, gy, gz, bx C.uint) C.int {
		return C.emu_rope(gx, gy, gz, bx, (*C.float)(c.ptr(0)), c.i32(1), c.i32(2), c.i32(3), (*C.float)(c.ptr(4)), (*C.float)(c.ptr(5)), c.i32(6))
	}},
	kernels.Softmax: {3, func(c *call, gx, gy, gz, bx C.uint) C.int {
		return C.emu_softmax(gx, gy, gz, bx, (*C.float)(c.ptr(0)), c.i32(1), c.i32(2))
	}},
	kernels.SiLU: {3, func(c *call, gx, gy, gz, bx C.uint) C.int {
		return C.emu_silu(gx, gy, gz, bx, (*C.float)(c.ptr(0)), (*C.float)(c.ptr(1)), c.i32(2))
	}},
	kernels.ReLU2: {3, func(c *call, gx, gy, gz, bx C.uint) C.int {
		return C.emu_relu2(gx, gy, gz, bx, (*C.float)(c.ptr(0)), (*C.float)(c.ptr(1)), c.i32(2))
	}},
	kernels.Mul: {4, func(c *call, gx, gy, gz, bx C.uint) C.int {
		return C.emu_mul(gx, gy, gz, bx, (*C.float)(c.ptr(0)), (*C.float)(c.ptr(1)), (*C.float)(c.ptr(2)), c.i32(3))
	}},
	kernels.Quantize: {7, func(c *call, gx, gy, gz, bx C.uint) C.int {
		return C.emu_quantize(gx, gy, gz, bx, (*C.schar)(c.ptr(0)), c.i32(1), (*C.float)(c.ptr(2)), (*C.int)(c.ptr(3)), (*C.float)(c.ptr(4)), c.i32(5), c.i32(6))
	}},
	kernels.Dequantize: {11, func(c *call, gx, gy, gz, bx C.uint) C.int {
		return C.emu_dequantize(gx, gy, gz, bx, (*C.float)(c.ptr(0)), c.i32(1), (*C.int)(c.ptr(2)), c.i32(3), (*C.float)(c.ptr(4)), c.i32(5), (*C.float)(c.ptr(6)), (*C.int)(c.ptr(7)), c.i32(8), c.i32(9), c.i32(10))
	}},
	kernels.TMatVecDequant: {11, func(c *call, gx, gy, gz, bx C.uint) C.int {
		return C.emu_tmatvec_dq(gx, gy, gz, bx, (*C.float)(c.ptr(0)), (*C.uchar)(c.ptr(1)), c.i32(2), c.i32(3), (*C.schar)(c.ptr(4)), c.i32(5), (*C.float)(c.ptr(6)), c.i32(7), (*C.float)(c.ptr(8)), (*C.int)(c.ptr(9)), c.i32(10))
	}},
	kernels.RMSNormQuantize: {10, func(c *call, gx, gy, gz, bx C.uint) C.int {
		return C.emu_rmsnorm_quantize(gx, gy, gz, bx, (*C.schar)(c.ptr(0)), c.i32(1), (*C.float)(c.ptr(2)), (*C.int)(c.ptr(3)), (*C.float)(c.ptr(4)), (*C.float)(c.ptr(5)), (*C.float)(c.ptr(6)), c.i32(7), c.i32(8), c.f32(9))
	}},
	kernels.GLU: {5, func(c *call, gx, gy, gz, bx C.uint) C.int {
		return C.emu_glu(gx, gy, gz, bx, (*C.float)(c.ptr(0)), (*C.float)(c.ptr(1)), (*C.float)(c.ptr(2)), c.i32(3), c.i32(4))
	}},
	kernels.Attention: {14, func(c *call, gx, gy, gz, bx C.uint) C.int {
		return C.emu_attention(gx, gy, gz, bx, (*C.float)(c.ptr(0)), c.i32(1), (*C.float)(c.ptr(2)), c.i32(3), (*C.float)(c.ptr(4)), (*C.float)(c.ptr(5)), c.i32(6), c.i32(7), c.i32(8), c.i32(9), c.i32(10), c.f32(11), (*C.float)(c.ptr(12)), c.i32(13))
	}},
	kernels.FMatVec: {7, func(c *call, gx, gy, gz, bx C.uint) C.int {
		return C.emu_fmatvec(gx, gy, gz, bx, (*C.float)(c.ptr(0)), c.ptr(1), c.i32(2), c.i32(3), (*C.float)(c.ptr(4)), c.i32(5), c.i32(6))
	}},
}

// Kernels runs each kernel's CUDA C source on the host; plug it into
// cudafake.Driver.Kernels. The memory passed must be a *cudafake.Driver (or
// anything with its Region method).
var Kernels = map[string]func(mem cuda.Memory, grid, block cuda.Dim3, args []cuda.Arg) error{}

func init() {
	for name, l := range launchers {
		Kernels[name] = func(mem cuda.Memory, grid, block cuda.Dim3, args []cuda.Arg) error {
			r, ok := mem.(Regioner)
			if !ok {
				return fmt.Errorf("emu: %s: memory %T has no Region method", name, mem)
			}
			if len(args) != l.nargs {
				return fmt.Errorf("emu: %s: %d arguments, want %d", name, len(args), l.nargs)
			}
			c := &call{name: name, mem: r, args: args}
			// Resolve every argument before launching, so a bad one is an
			// error and never a wild pointer in C.
			for i, a := range args {
				if a.Kind == cuda.ArgPtr {
					c.ptr(i)
				}
			}
			if c.err != nil {
				return c.err
			}
			if block.Y != 1 || block.Z != 1 {
				return fmt.Errorf("emu: %s: block %v: only 1-D blocks are emulated", name, block)
			}
			mu.Lock()
			defer mu.Unlock()
			if rc := l.run(c, C.uint(grid.X), C.uint(grid.Y), C.uint(grid.Z), C.uint(block.X)); c.err != nil {
				return c.err
			} else if rc != 0 {
				return fmt.Errorf("emu: %s: block %v cannot be emulated (want a multiple of 32 threads, at most 1024)", name, block)
			}
			return nil
		}
	}
}
