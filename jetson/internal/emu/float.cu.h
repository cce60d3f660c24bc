// Float kernels of a transformer layer for BAREWire Edge: RMSNorm, RoPE
// (rotate-half), softmax, SiLU, ReLU², gate multiply, per-token int8
// activation quantization and its inverse (dequantization of exact dot
// products), the gated FFN activation, causal attention over the KV cache,
// and float matrix × vector for f32/f16/bf16 output heads. Row kernels run one block of 256 threads per
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

// rms_row normalizes one row: yr[i] = xr[i] * (1/sqrt(mean(x^2) + eps)) * g[i].
// Each thread writes the elements i ≡ threadIdx.x (mod ROW_THREADS).
static __device__ void rms_row(float *yr, const float *xr, const float *__restrict__ g, int n, float eps, float *sh) {
  float ss = 0.0f;
  for (int i = (int)threadIdx.x; i < n; i += ROW_THREADS) {
    float v = xr[i];
    ss += v * v;
  }
  ss = block_sum_f32(ss, sh);
  float r = 1.0f / __builtin_sqrtf(ss / (float)n + eps);
  for (int i = (int)threadIdx.x; i < n; i += ROW_THREADS) yr[i] = xr[i] * r * ldg_f32(g + i);
}

// y[t,i] = x[t,i] / sqrt(mean(x[t,:]^2) + eps) * g[i]   (Zhang & Sennrich 2019)
KERNEL bw_rmsnorm(float *__restrict__ y, const float *__restrict__ x, const float *__restrict__ g, int n, int ld,
                  float eps) {
  __shared__ float sh[ROW_THREADS / 32];
  rms_row(y + (unsigned long long)blockIdx.x * (unsigned)ld, x + (unsigned long long)blockIdx.x * (unsigned)ld, g, n,
          eps, sh);
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
// quantize_row quantizes one row of n floats into ldq int8 (zero-padded)
// and returns its scale and integer sum through thread 0. Each thread reads
// only the elements i ≡ threadIdx.x (mod ROW_THREADS), so a row the same
// thread wrote just before (rms_row) needs no barrier.
static __device__ void quantize_row(signed char *qr, int ldq, float *scale, int *xsum, const float *xr, int n,
                                    float *shf, int *shi) {
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
    *scale = s;
    *xsum = sum;
  }
}

KERNEL bw_quantize(signed char *__restrict__ q, int ldq, float *__restrict__ scale, int *__restrict__ xsum,
                   const float *__restrict__ x, int ldx, int n) {
  __shared__ float shf[ROW_THREADS / 32];
  __shared__ int shi[ROW_THREADS / 32];
  quantize_row(q + (unsigned long long)blockIdx.x * (unsigned)ldq, ldq, scale + blockIdx.x, xsum + blockIdx.x,
               x + (unsigned long long)blockIdx.x * (unsigned)ldx, n, shf, shi);
}

// bw_rmsnorm followed by bw_quantize of its output, in one launch: y (pitch
// ld) receives the normalized rows and q, scale, xsum their quantization,
// with the same arithmetic as the two kernels, so the same bits.
KERNEL bw_rmsnorm_quantize(signed char *__restrict__ q, int ldq, float *__restrict__ scale, int *__restrict__ xsum,
                           float *y, const float *__restrict__ x, const float *__restrict__ g, int n, int ld,
                           float eps) {
  __shared__ float shf[ROW_THREADS / 32];
  __shared__ int shi[ROW_THREADS / 32];
  float *yr = y + (unsigned long long)blockIdx.x * (unsigned)ld;
  rms_row(yr, x + (unsigned long long)blockIdx.x * (unsigned)ld, g, n, eps, shf);
  quantize_row(q + (unsigned long long)blockIdx.x * (unsigned)ldq, ldq, scale + blockIdx.x, xsum + blockIdx.x, yr, n,
               shf, shi);
}

// Exact kernel results to floats, the arithmetic of simd.Dequantize:
// y[t*ldy + r] = (float)(acc[t*lda + r] - (sub ? xsum[t] : 0)) * s * (1/xscale[t]), with
// s = rowscale[r] (nscale == rows) or rowscale[0] (a per-tensor γ). With
// accumulate set the value is added to y (the residual add of a block:
// h += o, with o rounded first as on the CPU). sub lets bw_tmatvec run with
// xsum 0 when the sum is in device memory (it is computed by bw_quantize).
// grid = (ceil(rows/256) capped, ntok), blockDim 256.
KERNEL bw_dequantize(float *__restrict__ y, int ldy, const int *__restrict__ acc, int lda,
                     const float *__restrict__ rowscale, int nscale, const float *__restrict__ xscale,
                     const int *__restrict__ xsum, int sub, int rows, int accumulate) {
  int t = (int)blockIdx.y;
  float inv = 1.0f / ldg_f32(xscale + t);
  int off = sub ? ldg_i32(xsum + t) : 0;
  const int *a = acc + (unsigned long long)t * (unsigned)lda;
  float *yr = y + (unsigned long long)t * (unsigned)ldy;
  for (int r = (int)(blockIdx.x * blockDim.x + threadIdx.x); r < rows; r += (int)(gridDim.x * blockDim.x)) {
    float s = ldg_f32(rowscale + (nscale == 1 ? 0 : r));
    float v = (float)(a[r] - off) * s * inv;
    if (accumulate)
      yr[r] += v;
    else
      yr[r] = v;
  }
}

// Gated linear unit of the BitNet FFN: y = act(g)·u with act ReLU² (2B4T:
// (max(g,0)·max(g,0))·u, as simd.ReLUSquaredGate) or SiLU (silu = 1, the
// 1bitLLM models: (g/(1+exp(-g)))·u, as simd.SiLUGate up to exp).
KERNEL bw_glu(float *__restrict__ y, const float *__restrict__ g, const float *__restrict__ u, int n, int silu) {
  for (int i = (int)(blockIdx.x * blockDim.x + threadIdx.x); i < n; i += (int)(gridDim.x * blockDim.x)) {
    float v = g[i], a;
    if (silu) {
      a = v / (1.0f + exp_approx(-v));
    } else {
      v = __builtin_fmaxf(v, 0.0f);
      a = v * v;
    }
    y[i] = a * u[i];
  }
}

// The summation order of the simd float kernels (simd.FloatLanes): column c
// of the first n&~15 goes to lane c%16, each lane adds its products in
// column order, the lanes are reduced by the tree 8, 4, 2, 1, and the tail
// is added in order. One thread computes the whole dot product here, so the
// result equals simd.GenericMatVecF32 bit for bit.
#define FLOAT_LANES 16
static __device__ float dot_lanes(const float *w, int wstride, const float *x, int n) {
  float a[FLOAT_LANES];
#pragma unroll
  for (int l = 0; l < FLOAT_LANES; l++) a[l] = 0.0f;
  int c = 0;
  for (; c + FLOAT_LANES <= n; c += FLOAT_LANES)
#pragma unroll
    for (int l = 0; l < FLOAT_LANES; l++) a[l] = w[(unsigned long long)(c + l) * (unsigned)wstride] * x[c + l] + a[l];
  for (int l = 0; l < 8; l++) a[l] += a[l + 8];
  for (int l = 0; l < 4; l++) a[l] += a[l + 4];
  a[0] += a[2];
  a[1] += a[3];
  float s = a[0] + a[1];
  for (; c < n; c++) s = w[(unsigned long long)c * (unsigned)wstride] * x[c] + s;
  return s;
}

// Causal attention with grouped KV heads (architectures.md §1.2, §7 item 7):
// block (h, t) computes query head h of token t, at position pos0+t, against
// positions 0..pos0+t of KV head h/(heads/kvheads):
//   s_p = (q·k_p)·scale, w = softmax(s), out = Σ_p w_p·v_p.
// k and v are the caches, one row of ldkv floats per position (the heads of
// a position side by side); q and out hold heads·hd floats per token at
// pitch ldq and ldo. scores is scratch, ldsc ≥ pos0+ntok floats per
// (token, head). The dot products are added in the order of dot_lanes, like
// the CPU's; each column of the weighted sum is one thread's running sum of
// w_p·v_p in order of p, as simd.WeightedSumF32 adds it (adjacent threads
// read adjacent columns of a position); the softmax uses ex2.approx and a
// float sum. blockDim 256.
KERNEL bw_attention(float *__restrict__ out, int ldo, const float *__restrict__ q, int ldq,
                    const float *__restrict__ k, const float *__restrict__ v, int ldkv, int heads, int kvheads,
                    int hd, int pos0, float scale, float *__restrict__ scores, int ldsc) {
  __shared__ float sh[ROW_THREADS / 32];
  int h = (int)blockIdx.x, t = (int)blockIdx.y;
  int n = pos0 + t + 1;
  int kvh = h / (heads / kvheads);
  const float *qh = q + (unsigned long long)t * (unsigned)ldq + h * hd;
  const float *kh = k + kvh * hd;
  const float *vh = v + kvh * hd;
  float *sc = scores + ((unsigned long long)t * (unsigned)heads + h) * (unsigned)ldsc;
  float m = -__builtin_huge_valf();
  for (int p = (int)threadIdx.x; p < n; p += ROW_THREADS) {
    float s = dot_lanes(kh + (unsigned long long)p * (unsigned)ldkv, 1, qh, hd) * scale;
    sc[p] = s;
    m = __builtin_fmaxf(m, s);
  }
  m = block_max_f32(m, sh);
  float sum = 0.0f;
  for (int p = (int)threadIdx.x; p < n; p += ROW_THREADS) {
    float e = exp_approx(sc[p] - m);
    sc[p] = e;
    sum += e;
  }
  sum = block_sum_f32(sum, sh); // its barriers also publish sc
  float inv = 1.0f / sum;
  for (int p = (int)threadIdx.x; p < n; p += ROW_THREADS) sc[p] *= inv;
  __syncthreads();
  float *o = out + (unsigned long long)t * (unsigned)ldo + h * hd;
  for (int i = (int)threadIdx.x; i < hd; i += ROW_THREADS) {
    float a = 0.0f;
    for (int p = 0; p < n; p++) a = sc[p] * vh[(unsigned long long)p * (unsigned)ldkv + i] + a;
    o[i] = a;
  }
}

// IEEE binary16 and bfloat16 to float, bit for bit as simd.F16ToF32 and
// simd.BF16ToF32 (a NaN keeps its payload and is made quiet).
union bits_f32 {
  unsigned u;
  float f;
};
static __device__ __forceinline__ float from_bits(unsigned u) {
  union bits_f32 b;
  b.u = u;
  return b.f;
}
static __device__ __forceinline__ float half_to_f32(unsigned h) {
  unsigned e = h & 0x7c00u, sign = (h & 0x8000u) << 16, frac = h & 0x3ffu;
  if (e != 0 && e != 0x7c00u) return from_bits(sign | (((h & 0x7fffu) << 13) + (112u << 23)));
  if (e != 0) return from_bits(sign | (frac ? 0x7fc00000u | frac << 13 : 0x7f800000u));
  float f = (float)frac * (1.0f / 16777216.0f);
  return sign ? -f : f;
}

// Float matrix × float vector for output heads stored as f32 (dtype 0), f16
// (1) or bf16 (2), read in place: y[r] = Σ_{c<k} f(w[r*stride + c])·x[c].
// One warp per row; lanes 0..15 are the 16 lane sums of simd.FloatLanes
// (lanes 16..31 idle), reduced by shuffles in the same tree, and lane 0 adds
// the tail: the result equals simd's generic tier bit for bit.
// blockDim 128 (4 rows per block), like the integer matrix kernels.
KERNEL bw_fmatvec(float *__restrict__ y, const void *__restrict__ w, int stride, int rows,
                  const float *__restrict__ x, int k, int dtype) {
  int row = (int)((blockIdx.x * blockDim.x + threadIdx.x) >> 5);
  int lane = (int)(threadIdx.x & 31);
  if (row >= rows) return;
  unsigned long long base = (unsigned long long)row * (unsigned)stride;
  const float *wf = (const float *)w + base;
  const unsigned short *wh = (const unsigned short *)w + base;
  int body = k & ~(FLOAT_LANES - 1);
  float a = 0.0f;
  if (lane < FLOAT_LANES) {
    for (int c = lane; c < body; c += FLOAT_LANES) {
      float wv = dtype == 0 ? ldg_f32(wf + c) : dtype == 1 ? half_to_f32(wh[c]) : from_bits((unsigned)wh[c] << 16);
      a = wv * ldg_f32(x + c) + a;
    }
  }
  for (int m = 8; m > 0; m >>= 1) a += shfl_xor_f32(a, m);
  if (lane == 0) {
    for (int c = body; c < k; c++) {
      float wv = dtype == 0 ? ldg_f32(wf + c) : dtype == 1 ? half_to_f32(wh[c]) : from_bits((unsigned)wh[c] << 16);
      a = wv * ldg_f32(x + c) + a;
    }
    y[row] = a;
  }
}
