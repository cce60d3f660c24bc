// Host build of jetson/kernels/*.cu (see host.h; the sources are copied here
// as *.cu.h by go generate, so that the build cache sees their changes) and one launch function
// per kernel.
#define BAREWIRE_HOST_EMULATION 1
#include "ternary.cu.h"
#include "float.cu.h"

#include <functional>
#include <stdlib.h>
#include <ucontext.h>

// The threads of a block are fibers (ucontext) run by one OS thread: each
// runs until it reaches a barrier (a warp's exchange or __syncthreads) or
// ends, and the scheduler resumes a waiting fiber once every live thread of
// its warp (or block) has arrived. Blocks run one after another.

emu_dim3 threadIdx, blockIdx;
emu_dim3 blockDim, gridDim;

namespace {

enum { RUNNABLE, WAIT_WARP, WAIT_BLOCK, DONE };

struct Fiber {
  ucontext_t uc;
  char *stack;
  int state;
  unsigned long gen; // the barrier generation waited for
  unsigned phase;    // which half of the warp's exchange slots is next
};

const size_t kStack = 128 << 10;
Fiber fibers[1024];
ucontext_t sched;
Fiber *cur;
unsigned cur_tid;
const std::function<void()> *kernel;

unsigned warp_arrived[32], warp_live[32];
unsigned long warp_gen[32];
unsigned block_arrived, block_live;
unsigned long block_gen;
unsigned slots[2][32][32]; // [phase][warp][lane]

void fiber_main() {
  (*kernel)();
  unsigned w = cur_tid / 32;
  cur->state = DONE;
  // A thread that ends no longer holds back the barriers of the others.
  if (--warp_live[w] > 0 && warp_arrived[w] == warp_live[w]) {
    warp_arrived[w] = 0;
    warp_gen[w]++;
  }
  if (--block_live > 0 && block_arrived == block_live) {
    block_arrived = 0;
    block_gen++;
  }
  swapcontext(&cur->uc, &sched);
}

// arrive waits at a barrier; the last thread to arrive goes on at once.
void arrive(unsigned *arrived, unsigned live, unsigned long *gen, int state) {
  if (++*arrived == live) {
    *arrived = 0;
    ++*gen;
    return;
  }
  cur->gen = *gen;
  cur->state = state;
  swapcontext(&cur->uc, &sched);
}

} // namespace

void emu_syncthreads(void) { arrive(&block_arrived, block_live, &block_gen, WAIT_BLOCK); }

// Publishes v for the lane and returns the 32 values of the warp once every
// lane has published. The slots alternate between two halves: a lane can
// write the next exchange's values only after the whole warp has arrived
// there, so after every lane has read this one.
const unsigned *emu_warp_exchange(unsigned v) {
  unsigned w = cur_tid / 32, lane = cur_tid % 32;
  unsigned ph = cur->phase;
  cur->phase ^= 1;
  slots[ph][w][lane] = v;
  arrive(&warp_arrived[w], warp_live[w], &warp_gen[w], WAIT_WARP);
  return slots[ph][w];
}

int emu_shfl_xor_i32(int v, int lane_mask) {
  const unsigned *s = emu_warp_exchange((unsigned)v);
  return (int)s[(cur_tid % 32) ^ (unsigned)lane_mask];
}

// launch runs f once per thread of every block. Returns nonzero for a
// block shape the emulation does not support, or for threads that can
// never leave a barrier (some of a warp or block never arrive).
static int launch(emu_dim3 grid, emu_dim3 block, const std::function<void()> &f) {
  if (block.y != 1 || block.z != 1 || block.x == 0 || block.x % 32 != 0 || block.x > 1024) return 1;
  blockDim = block;
  gridDim = grid;
  kernel = &f;
  unsigned n = block.x, warps = n / 32;
  for (unsigned t = 0; t < n; t++)
    if (!fibers[t].stack && !(fibers[t].stack = (char *)malloc(kStack))) return 3;
  for (unsigned bz = 0; bz < grid.z; bz++)
    for (unsigned by = 0; by < grid.y; by++)
      for (unsigned bx = 0; bx < grid.x; bx++) {
        blockIdx = emu_dim3{bx, by, bz};
        for (unsigned w = 0; w < warps; w++) warp_arrived[w] = 0, warp_live[w] = 32, warp_gen[w] = 0;
        block_arrived = 0, block_live = n, block_gen = 0;
        for (unsigned t = 0; t < n; t++) {
          Fiber *fb = &fibers[t];
          getcontext(&fb->uc);
          fb->uc.uc_stack.ss_sp = fb->stack;
          fb->uc.uc_stack.ss_size = kStack;
          fb->uc.uc_link = NULL;
          makecontext(&fb->uc, fiber_main, 0);
          fb->state = RUNNABLE;
          fb->phase = 0;
        }
        for (unsigned done = 0; done < n;) {
          bool progress = false;
          done = 0;
          for (unsigned t = 0; t < n; t++) {
            Fiber *fb = &fibers[t];
            if (fb->state == DONE) {
              done++;
              continue;
            }
            if ((fb->state == WAIT_WARP && warp_gen[t / 32] == fb->gen) ||
                (fb->state == WAIT_BLOCK && block_gen == fb->gen))
              continue;
            fb->state = RUNNABLE;
            cur = fb;
            cur_tid = t;
            threadIdx = emu_dim3{t, 0, 0};
            swapcontext(&sched, &fb->uc);
            progress = true;
          }
          if (!progress && done < n) return 2;
        }
      }
  return 0;
}

#define G emu_dim3{gx, gy, gz}, emu_dim3{bx, 1, 1}
#define DIMS unsigned gx, unsigned gy, unsigned gz, unsigned bx

extern "C" {
int emu_tmatvec(DIMS, int *dst, const unsigned char *w, int stride, int rows, const signed char *x, int blocks,
                int xsum) {
  return launch(G, [=] { bw_tmatvec(dst, w, stride, rows, x, blocks, xsum); });
}
int emu_tmatmul(DIMS, int *dst, int ldd, const unsigned char *w, int stride, int rows, const signed char *x, int ldx,
                int blocks, const int *xsum, int ntok) {
  return launch(G, [=] { bw_tmatmul(dst, ldd, w, stride, rows, x, ldx, blocks, xsum, ntok); });
}
int emu_i8matvec(DIMS, int *dst, const signed char *w, int stride, int rows, const signed char *x, int k) {
  return launch(G, [=] { bw_i8matvec(dst, w, stride, rows, x, k); });
}
int emu_rmsnorm(DIMS, float *y, const float *x, const float *g, int n, int ld, float eps) {
  return launch(G, [=] { bw_rmsnorm(y, x, g, n, ld, eps); });
}
int emu_rope(DIMS, float *x, int ld, int nheads, int headdim, const float *c, const float *s, int ldcs) {
  return launch(G, [=] { bw_rope(x, ld, nheads, headdim, c, s, ldcs); });
}
int emu_softmax(DIMS, float *x, int n, int ld) { return launch(G, [=] { bw_softmax(x, n, ld); }); }
int emu_silu(DIMS, float *y, const float *x, int n) { return launch(G, [=] { bw_silu(y, x, n); }); }
int emu_relu2(DIMS, float *y, const float *x, int n) { return launch(G, [=] { bw_relu2(y, x, n); }); }
int emu_mul(DIMS, float *y, const float *a, const float *b, int n) { return launch(G, [=] { bw_mul(y, a, b, n); }); }
int emu_quantize(DIMS, signed char *q, int ldq, float *scale, int *xsum, const float *x, int ldx, int n) {
  return launch(G, [=] { bw_quantize(q, ldq, scale, xsum, x, ldx, n); });
}
int emu_dequantize(DIMS, float *y, int ldy, const int *acc, int lda, const float *rowscale, int nscale,
                   const float *xscale, const int *xsum, int sub, int rows, int accumulate) {
  return launch(G, [=] { bw_dequantize(y, ldy, acc, lda, rowscale, nscale, xscale, xsum, sub, rows, accumulate); });
}
int emu_tmatvec_dq(DIMS, float *y, const unsigned char *w, int stride, int rows, const signed char *x, int blocks,
                   const float *rowscale, int nscale, const float *xscale, const int *xsum, int accumulate) {
  return launch(G, [=] { bw_tmatvec_dq(y, w, stride, rows, x, blocks, rowscale, nscale, xscale, xsum, accumulate); });
}
int emu_rmsnorm_quantize(DIMS, signed char *q, int ldq, float *scale, int *xsum, float *y, const float *x,
                         const float *g, int n, int ld, float eps) {
  return launch(G, [=] { bw_rmsnorm_quantize(q, ldq, scale, xsum, y, x, g, n, ld, eps); });
}
int emu_glu(DIMS, float *y, const float *g, const float *u, int n, int silu) {
  return launch(G, [=] { bw_glu(y, g, u, n, silu); });
}
int emu_attention(DIMS, float *out, int ldo, const float *q, int ldq, const float *k, const float *v, int ldkv,
                  int heads, int kvheads, int hd, int pos0, float scale, float *scores, int ldsc) {
  return launch(G, [=] { bw_attention(out, ldo, q, ldq, k, v, ldkv, heads, kvheads, hd, pos0, scale, scores, ldsc); });
}
int emu_fmatvec(DIMS, float *y, const void *w, int stride, int rows, const float *x, int k, int dtype) {
  return launch(G, [=] { bw_fmatvec(y, w, stride, rows, x, k, dtype); });
}
}
