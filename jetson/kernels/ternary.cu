// Integer matrix kernels of BAREWire Edge: ternary (i2b128) and int8.
//
// Weight layout "i2b128", the same bytes the CPU kernels read: a row of K
// weights is padded to a multiple of 128; each block of 128 weights is 32
// bytes; byte j (0..31) holds weights j, j+32, j+64, j+96 in bit fields 7:6,
// 5:4, 3:2, 1:0 as code = w+1 (00=-1, 01=0, 10=+1; padding is 01). This is
// llama.cpp's TQ2_0 plane order (PR #8151, reference/kernels.md). With x the
// int8 activations padded by zeros and xsum = sum(x):
//     dot = sum(code*x) - xsum        (exact in int32)
// so the codes feed dp4a directly as unsigned bytes 0..2.
//
// A little-endian 32-bit word holds bytes 4q..4q+3 of a block; (word >> 6-2s)
// & 0x03030303 are then the four codes of weights 32s+4q .. 32s+4q+3, which
// lie contiguously in x: one dp4a per sub-plane s.
#include "prelude.h"

#define WARPS_PER_BLOCK 4 // launch with blockDim.x = 128

// warp_tdot is the dot product of one i2b128 row wr (blocks blocks) with x,
// the whole warp's sum, in every lane: lane l reads word l&7 of block
// (l>>3) + 4i, so a warp reads 128 consecutive bytes per step.
static __device__ __forceinline__ int warp_tdot(const unsigned *wr, const int *xw, int blocks, int lane) {
  int q = lane & 7;
  int acc = 0;
  for (int b = lane >> 3; b < blocks; b += 4) {
    unsigned u = ldg_u32(wr + b * 8 + q);
    const int *xb = xw + b * 32 + q;
    acc = dp4a((int)((u >> 6) & 0x03030303u), ldg_i32(xb), acc);
    acc = dp4a((int)((u >> 4) & 0x03030303u), ldg_i32(xb + 8), acc);
    acc = dp4a((int)((u >> 2) & 0x03030303u), ldg_i32(xb + 16), acc);
    acc = dp4a((int)(u & 0x03030303u), ldg_i32(xb + 24), acc);
  }
  return warp_sum_i32(acc);
}

// dst[r] = sum_k w[r,k]*x[k] for r < rows. One warp per row (warp_tdot).
// stride (bytes between rows) must be a multiple of 4; x is blocks*128 int8,
// 4-byte aligned.
KERNEL bw_tmatvec(int *__restrict__ dst, const unsigned char *__restrict__ w, int stride, int rows,
                  const signed char *__restrict__ x, int blocks, int xsum) {
  int row = (int)((blockIdx.x * blockDim.x + threadIdx.x) >> 5);
  int lane = (int)(threadIdx.x & 31);
  if (row >= rows) return; // uniform per warp
  int acc = warp_tdot((const unsigned *)(w + (unsigned long long)row * (unsigned)stride), (const int *)x, blocks, lane);
  if (lane == 0) dst[row] = acc - xsum;
}

// bw_tmatvec with the dequantization of bw_dequantize for one token fused
// in: y[r] = (float)(dot_r - xsum[0]) * s_r * (1/xscale[0]), s_r = rowscale[r]
// (nscale == rows) or rowscale[0], stored, or added to y[r] with
// accumulate. The same integer and the same float operations as the two
// kernels, so the same bits, in one launch.
KERNEL bw_tmatvec_dq(float *__restrict__ y, const unsigned char *__restrict__ w, int stride, int rows,
                     const signed char *__restrict__ x, int blocks, const float *__restrict__ rowscale, int nscale,
                     const float *__restrict__ xscale, const int *__restrict__ xsum, int accumulate) {
  int row = (int)((blockIdx.x * blockDim.x + threadIdx.x) >> 5);
  int lane = (int)(threadIdx.x & 31);
  if (row >= rows) return; // uniform per warp
  int acc = warp_tdot((const unsigned *)(w + (unsigned long long)row * (unsigned)stride), (const int *)x, blocks, lane);
  if (lane == 0) {
    float inv = 1.0f / ldg_f32(xscale);
    float s = ldg_f32(rowscale + (nscale == 1 ? 0 : row));
    float v = (float)(acc - ldg_i32(xsum)) * s * inv;
    if (accumulate)
      y[row] += v;
    else
      y[row] = v;
  }
}

#define TOK_TILE 4

// Prefill: dst[t*ldd + r] = sum_k w[r,k]*x[t*ldx + k] for t < ntok.
// grid = (ceil(rows/4), ceil(ntok/4)); each warp decodes a weight word once
// and uses it for four tokens, so weights are read ntok/4 times instead of
// ntok times. ldx must be a multiple of 4; xsum[t] is token t's sum.
KERNEL bw_tmatmul(int *__restrict__ dst, int ldd, const unsigned char *__restrict__ w, int stride, int rows,
                  const signed char *__restrict__ x, int ldx, int blocks, const int *__restrict__ xsum,
                  int ntok) {
  int row = (int)((blockIdx.x * blockDim.x + threadIdx.x) >> 5);
  int lane = (int)(threadIdx.x & 31);
  int t0 = (int)blockIdx.y * TOK_TILE;
  if (row >= rows || t0 >= ntok) return;
  int nt = ntok - t0 < TOK_TILE ? ntok - t0 : TOK_TILE;
  const unsigned *wr = (const unsigned *)(w + (unsigned long long)row * (unsigned)stride);
  const int *xt[TOK_TILE];
  for (int t = 0; t < TOK_TILE; t++) {
    int tt = t < nt ? t : nt - 1; // clamp: extra lanes recompute the last token and are not stored
    xt[t] = (const int *)(x + (unsigned long long)(t0 + tt) * (unsigned)ldx);
  }
  int q = lane & 7;
  int acc[TOK_TILE] = {0, 0, 0, 0};
  for (int b = lane >> 3; b < blocks; b += 4) {
    unsigned u = ldg_u32(wr + b * 8 + q);
    int c0 = (int)((u >> 6) & 0x03030303u), c1 = (int)((u >> 4) & 0x03030303u);
    int c2 = (int)((u >> 2) & 0x03030303u), c3 = (int)(u & 0x03030303u);
    int o = b * 32 + q;
    for (int t = 0; t < TOK_TILE; t++) {
      const int *xb = xt[t] + o;
      int a = acc[t];
      a = dp4a(c0, ldg_i32(xb), a);
      a = dp4a(c1, ldg_i32(xb + 8), a);
      a = dp4a(c2, ldg_i32(xb + 16), a);
      a = dp4a(c3, ldg_i32(xb + 24), a);
      acc[t] = a;
    }
  }
  for (int t = 0; t < TOK_TILE; t++) {
    int s = warp_sum_i32(acc[t]);
    if (lane == 0 && t < nt) dst[(unsigned long long)(t0 + t) * (unsigned)ldd + row] = s - ldg_i32(xsum + t0 + t);
  }
}

// int8 x int8: dst[r] = sum_{k<K} w[r*stride + k] * x[k]. Used by output
// layers and embeddings stored as int8 with per-row scales. stride must be a
// multiple of 4 and w, x 4-byte aligned; a tail of K%4 is done by lane 0.
KERNEL bw_i8matvec(int *__restrict__ dst, const signed char *__restrict__ w, int stride, int rows,
                   const signed char *__restrict__ x, int k) {
  int row = (int)((blockIdx.x * blockDim.x + threadIdx.x) >> 5);
  int lane = (int)(threadIdx.x & 31);
  if (row >= rows) return;
  const signed char *wr = w + (unsigned long long)row * (unsigned)stride;
  const int *w4 = (const int *)wr;
  const int *x4 = (const int *)x;
  int words = k >> 2;
  int acc = 0;
  for (int i = lane; i < words; i += 32) acc = dp4a(ldg_i32(w4 + i), ldg_i32(x4 + i), acc);
  if (lane == 0)
    for (int i = words << 2; i < k; i++) acc += (int)wr[i] * (int)x[i];
  acc = warp_sum_i32(acc);
  if (lane == 0) dst[row] = acc;
}
