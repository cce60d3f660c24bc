//go:build gc && !purego && !noasm

package simd

import (
	"unsafe"

	"github.com/klauspost/cpuid/v2"
)

// tdot_arm64.s is generated; go generate reads only the target's files, so
// regenerate it with GOARCH=arm64 go generate ./simd.
//
//go:generate go run ./internal/arm64gen -out tdot_arm64.s

// armArgs carries the arguments of one kernel call of tdot_arm64.s. The
// assembly reads the fields at fixed offsets (simd/internal/arm64gen,
// constants off*), which TestArm64ArgsLayout checks.
type armArgs struct {
	w      *byte    // first weight byte of the first row
	stride uintptr  // bytes from one row to the next
	x      *int8    // activations of the first token
	n      uintptr  // steps per row: blocks of 128 or 160 weights, or 32 int8 columns
	dst    *int32   // result of the first row (of the first token)
	rows   uintptr  // rows to compute
	xsum   [4]int32 // Σx per token; matvec kernels use xsum[0]
	ldx    uintptr  // matmul: bytes between the activations of two tokens
	ldd    uintptr  // matmul: bytes between the results of two tokens
}

// Kernels in tdot_arm64.s; each processes every row of one call.
//
//go:noescape
func matVecT2NEON(a *armArgs)

//go:noescape
func matVecT2Dot(a *armArgs)

//go:noescape
func matVecT16NEON(a *armArgs)

//go:noescape
func matVecT16Dot(a *armArgs)

//go:noescape
func matVecI8NEON(a *armArgs)

//go:noescape
func matVecI8Dot(a *armArgs)

//go:noescape
func matMulT2NEON(a *armArgs)

//go:noescape
func matMulT2Dot(a *armArgs)

// arm64Kernels is one tier's set of kernels. It selects them with a switch
// rather than holding func values: through a func value the compiler cannot
// see the go:noescape of the assembly, and every call would allocate its
// armArgs on the heap.
type arm64Kernels struct {
	dot bool // the dotprod tier; else NEON
}

// The operations of tdot_arm64.s.
type arm64Op uint8

const (
	arm64OpT2 arm64Op = iota
	arm64OpT16
	arm64OpI8
	arm64OpMM
)

var (
	neonKernels = arm64Kernels{dot: false}
	dotKernels  = arm64Kernels{dot: true}
)

func (k arm64Kernels) run(op arm64Op, a *armArgs) {
	switch {
	case op == arm64OpT2 && k.dot:
		matVecT2Dot(a)
	case op == arm64OpT2:
		matVecT2NEON(a)
	case op == arm64OpT16 && k.dot:
		matVecT16Dot(a)
	case op == arm64OpT16:
		matVecT16NEON(a)
	case op == arm64OpI8 && k.dot:
		matVecI8Dot(a)
	case op == arm64OpI8:
		matVecI8NEON(a)
	case op == arm64OpMM && k.dot:
		matMulT2Dot(a)
	case op == arm64OpMM:
		matMulT2NEON(a)
	}
}

func init() {
	// cpuid reads HWCAP from the auxiliary vector on Linux, which qemu-user
	// also fills from QEMU_CPU (cortex-a72: asimd; neoverse-n1: asimd and
	// asimddp), so the tier tests under emulation see the emulated CPU.
	neon := cpuid.CPU.Supports(cpuid.ASIMD)
	dot := neon && cpuid.CPU.Supports(cpuid.ASIMDDP)
	register(neonKernels.impl(TierNEON), neon)
	register(dotKernels.impl(TierDotProd), dot)
}

// impl wraps tier k's kernels in the registry's signatures.
func (k arm64Kernels) impl(tier Tier) Impl {
	return Impl{
		Tier: tier,
		MatVecT2: func(dst []int32, w []byte, stride int, x []int8, xsum int32) {
			matVecTernary(k, arm64OpT2, "MatVecT2", dst, w, stride, x, xsum, BlockI2B128)
		},
		MatVecT16: func(dst []int32, w []byte, stride int, x []int8, xsum int32) {
			matVecTernary(k, arm64OpT16, "MatVecT16", dst, w, stride, x, xsum, BlockT5B160)
		},
		MatMulT2: func(dst []int32, ldd int, w []byte, stride int, rows int, x []int8, ldx int, kk int, xsum []int32, ntok int) {
			matMulT2(k, dst, ldd, w, stride, rows, x, ldx, kk, xsum, ntok)
		},
		MatVecI8: func(dst []int32, w []int8, stride int, x []int8) {
			matVecI8(k, dst, w, stride, x)
		},
		MatVecF32:      matVecF32NEON,
		MatVecF32x4:    matVecF32x4NEON,
		MatVecF16:      matVecF16NEON,
		MatVecBF16:     matVecBF16NEON,
		WeightedSumF16: weightedSumF16NEON,
		WeightedSumF32: weightedSumF32NEON,
	}
}

// matVecTernary runs a ternary matvec kernel; block is 128 (i2b128) or 160
// (t5b160) weights, both packed in 32 bytes. The generic argument checks run
// first, so that the kernels never read outside the slices and every tier
// panics alike on a bad shape.
func matVecTernary(k arm64Kernels, op arm64Op, fn string, dst []int32, w []byte, stride int, x []int8, xsum int32, block int) {
	blocks := checkTernaryArgs(fn, len(dst), w, stride, len(x), block)
	switch {
	case len(dst) == 0:
		return
	case blocks == 0:
		for r := range dst {
			dst[r] = -xsum
		}
		return
	}
	a := armArgs{
		w: &w[0], stride: uintptr(stride), x: &x[0], n: uintptr(blocks),
		dst: &dst[0], rows: uintptr(len(dst)), xsum: [4]int32{xsum},
	}
	k.run(op, &a)
}

// matMulT2 computes four tokens per pass over the weights with the matmul
// kernel, and the tokens left over one at a time with the matvec kernel.
func matMulT2(k arm64Kernels, dst []int32, ldd int, w []byte, stride int, rows int, x []int8, ldx int, kk int, xsum []int32, ntok int) {
	blocks := checkMatMulArgs("MatMulT2", dst, ldd, w, stride, rows, x, ldx, kk, xsum, ntok)
	if rows == 0 || ntok == 0 {
		return
	}
	t := 0
	if blocks > 0 {
		for ; t+4 <= ntok; t += 4 {
			a := armArgs{
				w: &w[0], stride: uintptr(stride), x: &x[t*ldx], n: uintptr(blocks),
				dst: &dst[t*ldd], rows: uintptr(rows),
				xsum: [4]int32{xsum[t], xsum[t+1], xsum[t+2], xsum[t+3]},
				ldx:  uintptr(ldx), ldd: uintptr(ldd) * 4,
			}
			k.run(arm64OpMM, &a)
		}
	}
	for ; t < ntok; t++ {
		matVecTernary(k, arm64OpT2, "MatMulT2", dst[t*ldd:t*ldd+rows], w, stride, x[t*ldx:t*ldx+kk], xsum[t], BlockI2B128)
	}
}

// matVecI8 runs the int8 kernel over the columns that fill 32-byte steps and
// finishes the last len(x)%32 columns of each row in Go.
func matVecI8(k arm64Kernels, dst []int32, w []int8, stride int, x []int8) {
	checkI8Args("MatVecI8", len(dst), w, stride, len(x))
	if len(dst) == 0 {
		return
	}
	steps := len(x) / 32
	if steps > 0 {
		a := armArgs{
			w: (*byte)(unsafe.Pointer(&w[0])), stride: uintptr(stride), x: &x[0], n: uintptr(steps),
			dst: &dst[0], rows: uintptr(len(dst)),
		}
		k.run(arm64OpI8, &a)
	} else {
		clear(dst)
	}
	tail := x[steps*32:]
	if len(tail) == 0 {
		return
	}
	for r := range dst {
		row := w[r*stride+steps*32 : r*stride+len(x)]
		var s int32
		for c, xv := range tail {
			s += int32(row[c]) * int32(xv)
		}
		dst[r] += s
	}
}
