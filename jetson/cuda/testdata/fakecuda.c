// A stand-in libcuda.so.1 for testing the cgo binding without a GPU. It
// exports the same versioned symbols with the driver API's signatures
// (cuda.h), keeps "device memory" in host memory (device pointer == host
// pointer), and checks what the binding must get right: argument order,
// kernel parameter marshaling, JIT option lists, and that every call that
// needs a context has the retained one current on its own thread (a CUDA
// context is current per OS thread, and Go moves goroutines between them).
//
// Build: gcc -shared -fPIC -o libcuda.so.1 fakecuda.c
// Environment: FAKECUDA_DEVICES=n (default 1; 0 makes cuInit fail with
// CUDA_ERROR_NO_DEVICE), FAKECUDA_NO_READONLY=1 (READ_ONLY registration
// returns CUDA_ERROR_NOT_SUPPORTED).
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;

static int inited;
static int ndev = 1;
static __thread void *current; // per thread, as in the driver
static int retained;
static unsigned ctx_flags;
static char *module_image;

#define MAXREG 16
static struct { char *p; size_t n; } regs[MAXREG];

// 3: CUDA_ERROR_NOT_INITIALIZED; 201: CUDA_ERROR_INVALID_CONTEXT.
#define THREAD_CHECK() do { if (!inited) return 3; } while (0)
#define CTX_CHECK() do { THREAD_CHECK(); if (current != (void *)0x1234 || retained == 0) return 201; } while (0)

CUresult cuInit(unsigned flags) {
	if (flags != 0) return 1;
	const char *e = getenv("FAKECUDA_DEVICES");
	ndev = e ? atoi(e) : 1;
	if (ndev == 0) return 100;
	inited = 1;
	return 0;
}
CUresult cuDriverGetVersion(int *v) { THREAD_CHECK(); *v = 12060; return 0; }
CUresult cuDeviceGetCount(int *n) { THREAD_CHECK(); *n = ndev; return 0; }
CUresult cuDeviceGet(CUdevice *d, int ord) {
	THREAD_CHECK();
	if (ord < 0 || ord >= ndev) return 101;
	*d = ord;
	return 0;
}
CUresult cuDeviceGetName(char *buf, int len, CUdevice d) {
	THREAD_CHECK();
	snprintf(buf, len, "fakecuda device %d", d);
	return 0;
}
// attribute a of device d reads as a*10+d, so swapped arguments show.
CUresult cuDeviceGetAttribute(int *v, int a, CUdevice d) { THREAD_CHECK(); *v = a * 10 + d; return 0; }
CUresult cuDeviceTotalMem_v2(size_t *v, CUdevice d) { THREAD_CHECK(); *v = (size_t)1 << 34; return 0; }
CUresult cuDevicePrimaryCtxSetFlags_v2(CUdevice d, unsigned flags) { THREAD_CHECK(); ctx_flags = flags; return 0; }
CUresult cuDevicePrimaryCtxRetain(void **ctx, CUdevice d) { THREAD_CHECK(); retained++; *ctx = (void *)0x1234; return 0; }
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) { THREAD_CHECK(); if (retained == 0) return 201; retained--; return 0; }
CUresult cuCtxSetCurrent(void *ctx) {
	THREAD_CHECK();
	if (ctx != NULL && ctx != (void *)0x1234) return 201;
	current = ctx;
	return 0;
}
CUresult cuCtxSynchronize(void) { CTX_CHECK(); return 0; }
CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) {
	CTX_CHECK();
	if (n > ((size_t)1 << 34)) return 2;
	void *m = calloc(1, n);
	if (!m) return 2;
	*p = (CUdeviceptr)(uintptr_t)m;
	return 0;
}
CUresult cuMemFree_v2(CUdeviceptr p) { CTX_CHECK(); free((void *)(uintptr_t)p); return 0; }
CUresult cuMemHostAlloc(void **p, size_t n, unsigned flags) {
	CTX_CHECK();
	if (flags & ~7u) return 1;
	*p = calloc(1, n);
	return *p ? 0 : 2;
}
CUresult cuMemFreeHost(void *p) { CTX_CHECK(); free(p); return 0; }
CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void *s, size_t n) { CTX_CHECK(); memcpy((void *)(uintptr_t)d, s, n); return 0; }
CUresult cuMemcpyDtoH_v2(void *d, CUdeviceptr s, size_t n) { CTX_CHECK(); memcpy(d, (void *)(uintptr_t)s, n); return 0; }
CUresult cuMemHostRegister_v2(void *p, size_t n, unsigned flags) {
	CTX_CHECK();
	if (flags & ~15u) return 1;
	if ((flags & 8) && getenv("FAKECUDA_NO_READONLY")) return 801;
	char *c = p;
	int free_slot = -1;
	for (int i = 0; i < MAXREG; i++) {
		if (!regs[i].p) { if (free_slot < 0) free_slot = i; continue; }
		if (c < regs[i].p + regs[i].n && regs[i].p < c + n) return 712;
	}
	if (free_slot < 0) return 2;
	regs[free_slot].p = c;
	regs[free_slot].n = n;
	return 0;
}
CUresult cuMemHostUnregister(void *p) {
	CTX_CHECK();
	for (int i = 0; i < MAXREG; i++)
		if (regs[i].p == p) { regs[i].p = NULL; return 0; }
	return 713;
}
CUresult cuMemHostGetDevicePointer_v2(CUdeviceptr *d, void *p, unsigned flags) {
	CTX_CHECK();
	if (flags != 0) return 1;
	*d = (CUdeviceptr)(uintptr_t)p;
	return 0;
}
// Requires both log buffers (options 3..6); fails with the error log filled
// when the image has no .version directive.
CUresult cuModuleLoadDataEx(void **m, const void *image, unsigned n, int *opts, void **vals) {
	CTX_CHECK();
	char *info = NULL, *err = NULL;
	size_t infosz = 0, errsz = 0;
	int optlevel = -1;
	for (unsigned i = 0; i < n; i++) {
		switch (opts[i]) {
		case 3: info = vals[i]; break;
		case 4: infosz = (size_t)(uintptr_t)vals[i]; break;
		case 5: err = vals[i]; break;
		case 6: errsz = (size_t)(uintptr_t)vals[i]; break;
		case 7: optlevel = (int)(uintptr_t)vals[i]; break;
		case 0: break;
		default: return 1;
		}
	}
	if (!info || !err || infosz < 64 || errsz < 64) return 1;
	if (!strstr(image, ".version")) {
		snprintf(err, errsz, "fakecuda: ptx has no .version directive");
		return 218;
	}
	if (optlevel < 0)
		snprintf(info, infosz, "fakecuda: compiled %zu bytes at the default optimization level", strlen(image));
	else
		snprintf(info, infosz, "fakecuda: compiled %zu bytes at optimization level %d", strlen(image), optlevel);
	free(module_image);
	module_image = strdup(image);
	*m = (void *)0x5678;
	return 0;
}
CUresult cuModuleUnload(void *m) { CTX_CHECK(); return m == (void *)0x5678 ? 0 : 400; }
CUresult cuModuleGetFunction(void **f, void *m, const char *name) {
	CTX_CHECK();
	if (m != (void *)0x5678) return 400;
	if (strcmp(name, "echo") == 0) { *f = (void *)0x9abc; return 0; }
	char entry[256];
	snprintf(entry, sizeof entry, ".entry %s(", name);
	if (module_image && strstr(module_image, entry)) { *f = (void *)0x7777; return 0; }
	return 500;
}
// "echo" writes its launch configuration and parameters 1..4, declared as
// (u64 dst, s32, f32, u64, u32), to dst as eleven 64-bit values.
CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shmem, void *stream, void **params, void **extra) {
	CTX_CHECK();
	if (extra != NULL || stream != NULL) return 1;
	if (f == (void *)0x7777) return 0;
	if (f != (void *)0x9abc) return 400;
	unsigned long long *dst = (unsigned long long *)(uintptr_t)(*(CUdeviceptr *)params[0]);
	dst[0] = gx; dst[1] = gy; dst[2] = gz; dst[3] = bx; dst[4] = by; dst[5] = bz; dst[6] = shmem;
	dst[7] = (unsigned long long)(long long)*(int *)params[1];
	dst[8] = *(unsigned *)params[2];
	dst[9] = *(unsigned long long *)params[3];
	dst[10] = *(unsigned *)params[4];
	return 0;
}
CUresult cuGetErrorName(CUresult r, const char **s) {
	*s = r == 999 ? "CUDA_ERROR_UNKNOWN" : "CUDA_ERROR_FAKE";
	return 0;
}
