// Host emulation of the CUDA features the kernels use, so that the very
// same kernel source runs on the CPU in tests (see emu.cpp). Each GPU
// thread of a block is an OS thread; blocks run one after another, so
// __shared__ arrays can be function statics. Warp shuffles exchange values
// through a per-warp array between two barrier waits, which gives the
// all-lanes-converged semantics of shfl.sync with a full mask. Only what the
// kernels need: 1-D blocks whose size is a multiple of 32, warps that exit
// as a whole.
#ifndef BAREWIRE_EMU_HOST_H
#define BAREWIRE_EMU_HOST_H

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

struct emu_dim3 {
  unsigned x, y, z;
};

extern thread_local emu_dim3 threadIdx, blockIdx;
extern emu_dim3 blockDim, gridDim;

#define __device__
#define __global__
#define __shared__ static
#define __forceinline__ inline
#define KERNEL extern "C" void

void emu_syncthreads(void);
int emu_shfl_xor_i32(int v, int lane_mask);
#define __syncthreads() emu_syncthreads()

static inline unsigned ldg_u32(const unsigned *p) { return *p; }
static inline int ldg_i32(const int *p) { return *p; }
static inline float ldg_f32(const float *p) { return *p; }

// dp4a.s32.s32: four signed byte products plus c.
static inline int dp4a(int a, int b, int c) {
  for (int i = 0; i < 4; i++) c += (int)(int8_t)(a >> (8 * i)) * (int)(int8_t)(b >> (8 * i));
  return c;
}

static inline int shfl_xor_i32(int v, int lane_mask) { return emu_shfl_xor_i32(v, lane_mask); }
static inline float shfl_xor_f32(float v, int lane_mask) {
  int i;
  memcpy(&i, &v, 4);
  i = emu_shfl_xor_i32(i, lane_mask);
  memcpy(&v, &i, 4);
  return v;
}
static inline int warp_sum_i32(int v) {
  for (int m = 16; m > 0; m >>= 1) v += shfl_xor_i32(v, m);
  return v;
}
static inline float warp_sum_f32(float v) {
  for (int m = 16; m > 0; m >>= 1) v += shfl_xor_f32(v, m);
  return v;
}
static inline float warp_max_f32(float v) {
  for (int m = 16; m > 0; m >>= 1) v = fmaxf(v, shfl_xor_f32(v, m));
  return v;
}
// ex2.approx on the GPU is within 2^-22 relative; exp2f is closer, so
// emulated float results differ from the GPU's in the last bits.
static inline float exp2_approx(float x) { return exp2f(x); }
static inline float exp_approx(float x) { return exp2_approx(x * 1.4426950408889634f); }

#endif
