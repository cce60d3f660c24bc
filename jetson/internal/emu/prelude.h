// Freestanding prelude for the BAREWire Edge CUDA kernels.
//
// The kernels are compiled by clang to PTX without any CUDA toolkit installed
// (-nocudainc -nocudalib), so the CUDA keywords that cuda_runtime.h would
// normally provide are spelled here as clang attributes. threadIdx, blockIdx,
// blockDim and gridDim come from clang's own __clang_cuda_builtin_vars.h,
// which ships with clang itself. Source: clang's CUDA support docs and
// reference/jetson.md §3.2 (flags verified with Debian clang 14).
#ifndef BAREWIRE_PRELUDE_H
#define BAREWIRE_PRELUDE_H

#ifdef BAREWIRE_HOST_EMULATION
// Host build of the same kernels, one OS thread per GPU thread, for tests
// without a GPU (package jetson/internal/emu).
#include "host.h" // jetson/internal/emu/host.h, next to the copy of this file there
#else

#include <__clang_cuda_builtin_vars.h>

#define __device__ __attribute__((device))
#define __global__ __attribute__((global))
#define __shared__ __attribute__((shared))
#define __forceinline__ __inline__ __attribute__((always_inline))

#define KERNEL extern "C" __global__ void

// Read-only (non-coherent) loads: ld.global.nc, the texture path on sm_35+.
static __device__ __forceinline__ unsigned ldg_u32(const unsigned *p) { return __nvvm_ldg_ui(p); }
static __device__ __forceinline__ int ldg_i32(const int *p) { return __nvvm_ldg_i(p); }
static __device__ __forceinline__ float ldg_f32(const float *p) { return __nvvm_ldg_f(p); }

// dp4a: four signed 8-bit products summed into a 32-bit accumulator (sm_61+).
// PTX ISA "Integer Arithmetic Instructions: dp4a".
static __device__ __forceinline__ int dp4a(int a, int b, int c) {
  int d;
  asm("dp4a.s32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
}

// Butterfly shuffle over the full warp (PTX ISA "shfl.sync", PTX 6.0+).
static __device__ __forceinline__ int shfl_xor_i32(int v, int lane_mask) {
  int r;
  asm volatile("shfl.sync.bfly.b32 %0, %1, %2, 0x1f, 0xffffffff;" : "=r"(r) : "r"(v), "r"(lane_mask));
  return r;
}
static __device__ __forceinline__ float shfl_xor_f32(float v, int lane_mask) {
  float r;
  asm volatile("shfl.sync.bfly.b32 %0, %1, %2, 0x1f, 0xffffffff;" : "=f"(r) : "f"(v), "r"(lane_mask));
  return r;
}

static __device__ __forceinline__ int warp_sum_i32(int v) {
  for (int m = 16; m > 0; m >>= 1) v += shfl_xor_i32(v, m);
  return v;
}
static __device__ __forceinline__ float warp_sum_f32(float v) {
  for (int m = 16; m > 0; m >>= 1) v += shfl_xor_f32(v, m);
  return v;
}
static __device__ __forceinline__ float warp_max_f32(float v) {
  for (int m = 16; m > 0; m >>= 1) v = __builtin_fmaxf(v, shfl_xor_f32(v, m));
  return v;
}

// 2^x with the hardware approximation (ex2.approx.ftz.f32, max relative error
// 2^-22 per the PTX ISA). libdevice is not available without the toolkit.
static __device__ __forceinline__ float exp2_approx(float x) {
  float r;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
}
static __device__ __forceinline__ float exp_approx(float x) {
  return exp2_approx(x * 1.4426950408889634f);
}

#endif // BAREWIRE_HOST_EMULATION
#endif
