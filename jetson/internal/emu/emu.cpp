// Host build of jetson/kernels/*.cu (see host.h; the sources are copied here
// as *.cu.h by go generate, so that the build cache sees their changes) and one launch function
// per kernel.
#define BAREWIRE_HOST_EMULATION 1
#include "ternary.cu.h"
#include "float.cu.h"

#include <functional>
#include <thread>
#include <vector>

thread_local emu_dim3 threadIdx, blockIdx;
emu_dim3 blockDim, gridDim;

static pthread_barrier_t block_bar;
static pthread_barrier_t warp_bar[32];
static int warp_slot[32][32];

void emu_syncthreads(void) { pthread_barrier_wait(&block_bar); }

int emu_shfl_xor_i32(int v, int lane_mask) {
  unsigned w = threadIdx.x / 32, lane = threadIdx.x % 32;
  warp_slot[w][lane] = v;
  pthread_barrier_wait(&warp_bar[w]);
  int r = warp_slot[w][lane ^ (unsigned)lane_mask];
  pthread_barrier_wait(&warp_bar[w]);
  return r;
}

// launch runs f once per thread of every block. Returns nonzero for a
// block shape the emulation does not support.
static int launch(emu_dim3 grid, emu_dim3 block, const std::function<void()> &f) {
  if (block.y != 1 || block.z != 1 || block.x == 0 || block.x % 32 != 0 || block.x > 1024) return 1;
  blockDim = block;
  gridDim = grid;
  unsigned warps = block.x / 32;
  for (unsigned bz = 0; bz < grid.z; bz++)
    for (unsigned by = 0; by < grid.y; by++)
      for (unsigned bx = 0; bx < grid.x; bx++) {
        pthread_barrier_init(&block_bar, NULL, block.x);
        for (unsigned w = 0; w < warps; w++) pthread_barrier_init(&warp_bar[w], NULL, 32);
        std::vector<std::thread> ts;
        ts.reserve(block.x);
        for (unsigned t = 0; t < block.x; t++)
          ts.emplace_back([=, &f] {
            threadIdx = emu_dim3{t, 0, 0};
            blockIdx = emu_dim3{bx, by, bz};
            f();
          });
        for (auto &t : ts) t.join();
        for (unsigned w = 0; w < warps; w++) pthread_barrier_destroy(&warp_bar[w]);
        pthread_barrier_destroy(&block_bar);
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
}
