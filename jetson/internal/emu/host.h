// Host emulation of the CUDA features the kernels use, so that the very
// same kernel source runs on the CPU in tests (see emu.cpp). Each GPU
// thread of a block is a fiber on one OS thread, switched at barriers;
// blocks run one after another, so __shared__ arrays can be function
// statics. Warp shuffles exchange values through a per-warp array behind a
// barrier, which gives the all-lanes-converged semantics of shfl.sync with a
// full mask; the warp reductions exchange once and then compute the
// butterfly of shfl_xor 16, 8, 4, 2, 1 for their lane, the same operations
// in the same order as the shuffles. Only what the kernels need: 1-D blocks
// whose size is a multiple of 32, warps that exit as a whole.
#ifndef BAREWIRE_EMU_HOST_H
#define BAREWIRE_EMU_HOST_H

#include <math.h>
#include <stdint.h>
#include <string.h>

struct emu_dim3 {
  unsigned x, y, z;
};

extern emu_dim3 threadIdx, blockIdx;
extern emu_dim3 blockDim, gridDim;

#define __device__
#define __global__
#define __shared__ static
#define __forceinline__ inline
#define KERNEL extern "C" void

void emu_syncthreads(void);
int emu_shfl_xor_i32(int v, int lane_mask);
const unsigned *emu_warp_exchange(unsigned v);
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
static inline unsigned emu_lane(void) { return threadIdx.x % 32; }
static inline int warp_sum_i32(int v) {
  const unsigned *s = emu_warp_exchange((unsigned)v);
  unsigned a[32], b[32];
  for (int i = 0; i < 32; i++) a[i] = s[i];
  for (int m = 16; m > 0; m >>= 1) {
    for (int i = 0; i < 32; i++) b[i] = a[i] + a[i ^ m]; // wraps like the GPU's 32-bit add
    memcpy(a, b, sizeof a);
  }
  return (int)a[emu_lane()];
}
static inline void emu_floats(float *a, unsigned v) {
  const unsigned *s = emu_warp_exchange(v);
  memcpy(a, s, 32 * sizeof(float));
}
static inline unsigned emu_bits(float v) {
  unsigned u;
  memcpy(&u, &v, 4);
  return u;
}
static inline float warp_sum_f32(float v) {
  float a[32], b[32];
  emu_floats(a, emu_bits(v));
  for (int m = 16; m > 0; m >>= 1) {
    for (int i = 0; i < 32; i++) b[i] = a[i] + a[i ^ m];
    memcpy(a, b, sizeof a);
  }
  return a[emu_lane()];
}
static inline float warp_max_f32(float v) {
  float a[32], b[32];
  emu_floats(a, emu_bits(v));
  for (int m = 16; m > 0; m >>= 1) {
    for (int i = 0; i < 32; i++) b[i] = fmaxf(a[i], a[i ^ m]);
    memcpy(a, b, sizeof a);
  }
  return a[emu_lane()];
}
// ex2.approx on the GPU is within 2^-22 relative; exp2f is closer, so
// emulated float results differ from the GPU's in the last bits.
static inline float exp2_approx(float x) { return exp2f(x); }
static inline float exp_approx(float x) { return exp2_approx(x * 1.4426950408889634f); }

#endif
