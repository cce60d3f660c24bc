// Float kernels of a transformer layer for BAREWire Edge: RMSNorm, RoPE
// (rotate-half), softmax, SiLU, ReLU², gate multiply and per-token int8
// activation quantization. Row kernels run one block of 256 threads per
// token (grid.x = ntok); element-wise kernels use a grid-stride loop.
//
// Rounding: compiled with -ffp-contract=off so that x*s is one IEEE multiply
// as in the Go reference; quantization then matches the CPU bit for bit.
#include "prelude.h"

#define ROW_THREADS 256

// Block-wide reductions for blockDim.x == ROW_THREADS (8 warps).
static __device__ float block_sum_f32(float v, float *sh) {
  int lane = (int)(threadIdx.x & 31), warp = (int)(threadIdx.x >> 5);
  v = warp_sum_f32(v);
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  v = lane < (ROW_THREADS / 32) ? sh[lane] : 0.0f;
  v = warp_sum_f32(v);
  __syncthreads(); // sh is reused by the caller's next reduction
  return v;
}
static __device__ float block_max_f32(float v, float *sh) {
  int lane = (int)(threadIdx.x & 31), warp = (int)(threadIdx.x >> 5);
  v = warp_max_f32(v);
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  v = lane < (ROW_THREADS / 32) ? sh[lane] : -__builtin_huge_valf();
  v = warp_max_f32(v);
  __syncthreads();
  return v;
}
static __device__ int block_sum_i32(int v, int *sh) {
  int lane = (int)(threadIdx.x & 31), warp = (int)(threadIdx.x >> 5);
  v = warp_sum_i32(v);
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  v = lane < (ROW_THREADS / 32) ? sh[lane] : 0;
  v = warp_sum_i32(v);
  __syncthreads();
  return v;
}

// y[t,i] = x[t,i] / sqrt(mean(x[t,:]^2) + eps) * g[i]   (Zhang & Sennrich 2019)
KERNEL bw_rmsnorm(float *__restrict__ y, const float *__restrict__ x, const float *__restrict__ g, int n, int ld,
                  float eps) {
  __shared__ float sh[ROW_THREADS / 32];
  const float *xr = x + (unsigned long long)blockIdx.x * (unsigned)ld;
  float *yr = y + (unsigned long long)blockIdx.x * (unsigned)ld;
  float ss = 0.0f;
  for (int i = (int)threadIdx.x; i < n; i += ROW_THREADS) {
    float v = xr[i];
    ss += v * v;
  }
  ss = block_sum_f32(ss, sh);
  float r = 1.0f / __builtin_sqrtf(ss / (float)n + eps);
  for (int i = (int)threadIdx.x; i < n; i += ROW_THREADS) yr[i] = xr[i] * r * ldg_f32(g + i);
}

// Rotate-half RoPE (GPT-NeoX / LLaMA HF convention): for each head and
// i < d/2, (a, b) = (x[i], x[i+d/2]) becomes (a*c - b*s, b*c + a*s) with
// c = cos[t, i], s = sin[t, i]. The tables are computed on the host in float64
// for each token's position: sin/cos of large angles are not available
// accurately without libdevice.
KERNEL bw_rope(float *__restrict__ x, int ld, int nheads, int headdim, const float *__restrict__ cosv,
               const float *__restrict__ sinv, int ldcs) {
  float *xr = x + (unsigned long long)blockIdx.x * (unsigned)ld;
  const float *c = cosv + (unsigned long long)blockIdx.x * (unsigned)ldcs;
  const float *s = sinv + (unsigned long long)blockIdx.x * (unsigned)ldcs;
  int half = headdim >> 1;
  for (int j = (int)threadIdx.x; j < nheads * half; j += ROW_THREADS) {
    int h = j / half, i = j - h * half;
    float *p = xr + h * headdim;
    float a = p[i], b = p[i + half], cc = ldg_f32(c + i), sn = ldg_f32(s + i);
    p[i] = a * cc - b * sn;
    p[i + half] = b * cc + a * sn;
  }
}

// In-place softmax over the first n entries of each row.
KERNEL bw_softmax(float *__restrict__ x, int n, int ld) {
  __shared__ float sh[ROW_THREADS / 32];
  float *xr = x + (unsigned long long)blockIdx.x * (unsigned)ld;
  float m = -__builtin_huge_valf();
  for (int i = (int)threadIdx.x; i < n; i += ROW_THREADS) m = __builtin_fmaxf(m, xr[i]);
  m = block_max_f32(m, sh);
  float sum = 0.0f;
  for (int i = (int)threadIdx.x; i < n; i += ROW_THREADS) {
    float e = exp_approx(xr[i] - m);
    xr[i] = e;
    sum += e;
  }
  sum = block_sum_f32(sum, sh);
  float inv = 1.0f / sum;
  for (int i = (int)threadIdx.x; i < n; i += ROW_THREADS) xr[i] *= inv;
}

// y = x * sigmoid(x)
KERNEL bw_silu(float *__restrict__ y, const float *__restrict__ x, int n) {
  for (int i = (int)(blockIdx.x * blockDim.x + threadIdx.x); i < n; i += (int)(gridDim.x * blockDim.x)) {
    float v = x[i];
    y[i] = v / (1.0f + exp_approx(-v));
  }
}

// y = max(x, 0)^2 (BitNet b1.58 2B4T feed-forward activation).
KERNEL bw_relu2(float *__restrict__ y, const float *__restrict__ x, int n) {
  for (int i = (int)(blockIdx.x * blockDim.x + threadIdx.x); i < n; i += (int)(gridDim.x * blockDim.x)) {
    float v = __builtin_fmaxf(x[i], 0.0f);
    y[i] = v * v;
  }
}

// y = a * b (the gate of a GLU: act(gate) * up).
KERNEL bw_mul(float *__restrict__ y, const float *__restrict__ a, const float *__restrict__ b, int n) {
  for (int i = (int)(blockIdx.x * blockDim.x + threadIdx.x); i < n; i += (int)(gridDim.x * blockDim.x))
    y[i] = a[i] * b[i];
}

// Per-token int8 quantization, the same function as simd.QuantizeActivations
// (BitNet b1.58 absmax, bitnet.cpp quantize_row_i8_s): s = 127 / max|x|
// (infinities ignored for the maximum; s = 1 when x is all zero),
// q = round_half_even(x*s) clamped to [-128, 127], NaN -> 0; q is zero-padded
// from n to ldq so the ternary kernels can read whole 128-blocks;
// xsum[t] = sum(q), scale[t] = s. cvt.rni (from __builtin_rintf) rounds half
// to even like math.RoundToEven, and the product x*s is one IEEE multiply in
// both, so the results match bit for bit.
KERNEL bw_quantize(signed char *__restrict__ q, int ldq, float *__restrict__ scale, int *__restrict__ xsum,
                   const float *__restrict__ x, int ldx, int n) {
  __shared__ float shf[ROW_THREADS / 32];
  __shared__ int shi[ROW_THREADS / 32];
  const float *xr = x + (unsigned long long)blockIdx.x * (unsigned)ldx;
  signed char *qr = q + (unsigned long long)blockIdx.x * (unsigned)ldq;
  float m = 0.0f;
  for (int i = (int)threadIdx.x; i < n; i += ROW_THREADS) {
    float a = __builtin_fabsf(xr[i]);
    if (a > m && a < __builtin_huge_valf()) m = a;
  }
  m = block_max_f32(m, shf);
  float s = m > 0.0f ? 127.0f / m : 1.0f;
  int sum = 0;
  for (int i = (int)threadIdx.x; i < ldq; i += ROW_THREADS) {
    int v = 0;
    if (i < n) {
      float r = __builtin_rintf(xr[i] * s);
      if (r != r) r = 0.0f; // NaN
      r = __builtin_fminf(__builtin_fmaxf(r, -128.0f), 127.0f);
      v = (int)r;
    }
    qr[i] = (signed char)v;
    sum += v;
  }
  sum = block_sum_i32(sum, shi);
  if (threadIdx.x == 0) {
    scale[blockIdx.x] = s;
    xsum[blockIdx.x] = sum;
  }
}
