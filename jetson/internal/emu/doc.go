// Package emu runs the CUDA C kernels of jetson/kernels on the CPU: the
// same .cu sources compiled for the host (C++, each GPU thread a fiber on
// one OS thread, switched at the barriers of warp shuffles and
// __syncthreads), launched by the fake driver in place of the Go
// reference. Tests then check the kernels' own indexing, lane arithmetic
// and reductions against simd without a GPU. It does not check clang's PTX code generation or the GPU's memory
// model; the device check does. Needs cgo and a C++ compiler.
package emu

// The kernel sources are copied next to emu.cpp: the go command's build
// cache only notices changes to files inside the package directory.
//go:generate sh -c "cp ../../kernels/prelude.h prelude.h && cp ../../kernels/ternary.cu ternary.cu.h && cp ../../kernels/float.cu float.cu.h"
