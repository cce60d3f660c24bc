//go:build cgo && linux

package cuda

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Just enough of cuda.h to call the driver through dlsym (the same approach
// as ollama's discover/gpu_info_nvcuda.h): no toolkit header is needed to
// build. Every symbol is looked up by its exported, versioned name; the
// unversioned macros of cuda.h (cuMemAlloc -> cuMemAlloc_v2) do not exist as
// symbols for the newer ABI.
typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef void *CUcontext;
typedef void *CUmodule;
typedef void *CUfunction;
typedef void *CUstream;

typedef struct {
	void *lib;
	CUresult (*cuInit)(unsigned);
	CUresult (*cuDriverGetVersion)(int *);
	CUresult (*cuDeviceGetCount)(int *);
	CUresult (*cuDeviceGet)(CUdevice *, int);
	CUresult (*cuDeviceGetName)(char *, int, CUdevice);
	CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
	CUresult (*cuDeviceTotalMem_v2)(size_t *, CUdevice);
	CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
	CUresult (*cuDevicePrimaryCtxRelease_v2)(CUdevice);
	CUresult (*cuDevicePrimaryCtxSetFlags_v2)(CUdevice, unsigned);
	CUresult (*cuCtxSetCurrent)(CUcontext);
	CUresult (*cuCtxSynchronize)(void);
	CUresult (*cuMemAlloc_v2)(CUdeviceptr *, size_t);
	CUresult (*cuMemFree_v2)(CUdeviceptr);
	CUresult (*cuMemHostAlloc)(void **, size_t, unsigned);
	CUresult (*cuMemFreeHost)(void *);
	CUresult (*cuMemcpyHtoD_v2)(CUdeviceptr, const void *, size_t);
	CUresult (*cuMemcpyDtoH_v2)(void *, CUdeviceptr, size_t);
	CUresult (*cuMemHostRegister_v2)(void *, size_t, unsigned);
	CUresult (*cuMemHostUnregister)(void *);
	CUresult (*cuMemHostGetDevicePointer_v2)(CUdeviceptr *, void *, unsigned);
	CUresult (*cuModuleLoadDataEx)(CUmodule *, const void *, unsigned, int *, void **);
	CUresult (*cuModuleUnload)(CUmodule);
	CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
	CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
	                           unsigned, CUstream, void **, void **);
	CUresult (*cuGetErrorName)(CUresult, const char **);
	CUcontext ctx; // the retained primary context, made current by every call that needs it
} bw_cuda;

#define BW_SYM(n) {#n, offsetof(bw_cuda, n)}
static const struct {
	const char *name;
	size_t off;
} bw_syms[] = {
	BW_SYM(cuInit), BW_SYM(cuDriverGetVersion), BW_SYM(cuDeviceGetCount), BW_SYM(cuDeviceGet),
	BW_SYM(cuDeviceGetName), BW_SYM(cuDeviceGetAttribute), BW_SYM(cuDeviceTotalMem_v2),
	BW_SYM(cuDevicePrimaryCtxRetain), BW_SYM(cuDevicePrimaryCtxRelease_v2),
	BW_SYM(cuDevicePrimaryCtxSetFlags_v2), BW_SYM(cuCtxSetCurrent), BW_SYM(cuCtxSynchronize),
	BW_SYM(cuMemAlloc_v2), BW_SYM(cuMemFree_v2), BW_SYM(cuMemHostAlloc), BW_SYM(cuMemFreeHost),
	BW_SYM(cuMemcpyHtoD_v2), BW_SYM(cuMemcpyDtoH_v2), BW_SYM(cuMemHostRegister_v2),
	BW_SYM(cuMemHostUnregister), BW_SYM(cuMemHostGetDevicePointer_v2), BW_SYM(cuModuleLoadDataEx),
	BW_SYM(cuModuleUnload), BW_SYM(cuModuleGetFunction), BW_SYM(cuLaunchKernel), BW_SYM(cuGetErrorName),
};

// bw_load opens path and resolves every symbol; on failure it writes the
// reason to err and returns nonzero.
static int bw_load(bw_cuda *c, const char *path, char *err, size_t errlen) {
	memset(c, 0, sizeof *c);
	c->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!c->lib) {
		const char *e = dlerror();
		snprintf(err, errlen, "%s", e ? e : "dlopen failed");
		return 1;
	}
	for (size_t i = 0; i < sizeof bw_syms / sizeof bw_syms[0]; i++) {
		void *p = dlsym(c->lib, bw_syms[i].name);
		if (!p) {
			snprintf(err, errlen, "%s: symbol %s not found (driver older than CUDA 11?)", path, bw_syms[i].name);
			dlclose(c->lib);
			c->lib = NULL;
			return 2;
		}
		*(void **)((char *)c + bw_syms[i].off) = p;
	}
	return 0;
}

// cgo cannot call C function pointers, hence one small wrapper each. Handles
// travel as uintptr_t so that Go never holds them as unsafe.Pointer.
static CUresult bw_init(bw_cuda *c) { return c->cuInit(0); }
static CUresult bw_version(bw_cuda *c, int *v) { return c->cuDriverGetVersion(v); }
static CUresult bw_count(bw_cuda *c, int *n) { return c->cuDeviceGetCount(n); }
static CUresult bw_name(bw_cuda *c, int dev, char *buf, int n) {
	CUdevice d;
	CUresult r = c->cuDeviceGet(&d, dev);
	return r ? r : c->cuDeviceGetName(buf, n, d);
}
static CUresult bw_attr(bw_cuda *c, int dev, int a, int *v) {
	CUdevice d;
	CUresult r = c->cuDeviceGet(&d, dev);
	return r ? r : c->cuDeviceGetAttribute(v, a, d);
}
static CUresult bw_totalmem(bw_cuda *c, int dev, size_t *v) {
	CUdevice d;
	CUresult r = c->cuDeviceGet(&d, dev);
	return r ? r : c->cuDeviceTotalMem_v2(v, d);
}
static CUresult bw_ctx_retain(bw_cuda *c, int dev, unsigned flags, uintptr_t *ctx) {
	CUdevice d;
	CUcontext cx;
	CUresult r = c->cuDeviceGet(&d, dev);
	if (r) return r;
	r = c->cuDevicePrimaryCtxSetFlags_v2(d, flags);
	if (r && r != 708) return r; // 708: already active with its own flags; use it as is
	r = c->cuDevicePrimaryCtxRetain(&cx, d);
	if (r) return r;
	r = c->cuCtxSetCurrent(cx);
	if (r) {
		c->cuDevicePrimaryCtxRelease_v2(d);
		return r;
	}
	c->ctx = cx;
	*ctx = (uintptr_t)cx;
	return 0;
}
static CUresult bw_ctx_release(bw_cuda *c, int dev) {
	CUdevice d;
	CUresult r = c->cuDeviceGet(&d, dev);
	if (r) return r;
	c->cuCtxSetCurrent(NULL);
	c->ctx = NULL;
	return c->cuDevicePrimaryCtxRelease_v2(d);
}

// A context is current per OS thread, and Go runs a goroutine's calls on
// whichever thread it has at the time: every call that needs the context
// first makes it current on the calling thread (a thread-local store in
// the driver, far cheaper than handing each call to one fixed thread).
#define BW_CUR(c) do { if ((c)->ctx) { CUresult r0 = (c)->cuCtxSetCurrent((c)->ctx); if (r0) return r0; } } while (0)

static CUresult bw_sync(bw_cuda *c) { BW_CUR(c); return c->cuCtxSynchronize(); }
static CUresult bw_alloc(bw_cuda *c, size_t n, CUdeviceptr *p) { BW_CUR(c); return c->cuMemAlloc_v2(p, n); }
static CUresult bw_free(bw_cuda *c, CUdeviceptr p) { BW_CUR(c); return c->cuMemFree_v2(p); }
static CUresult bw_hostalloc(bw_cuda *c, size_t n, unsigned flags, void **p) { BW_CUR(c); return c->cuMemHostAlloc(p, n, flags); }
static CUresult bw_freehost(bw_cuda *c, void *p) { BW_CUR(c); return c->cuMemFreeHost(p); }
static CUresult bw_htod(bw_cuda *c, CUdeviceptr d, const void *s, size_t n) { BW_CUR(c); return c->cuMemcpyHtoD_v2(d, s, n); }
static CUresult bw_dtoh(bw_cuda *c, void *d, CUdeviceptr s, size_t n) { BW_CUR(c); return c->cuMemcpyDtoH_v2(d, s, n); }
static CUresult bw_register(bw_cuda *c, void *p, size_t n, unsigned flags) { BW_CUR(c); return c->cuMemHostRegister_v2(p, n, flags); }
static CUresult bw_unregister(bw_cuda *c, void *p) { BW_CUR(c); return c->cuMemHostUnregister(p); }
static CUresult bw_hostdevptr(bw_cuda *c, void *p, CUdeviceptr *d) { BW_CUR(c); return c->cuMemHostGetDevicePointer_v2(d, p, 0); }

// bw_module_load JIT-compiles NUL-terminated PTX, capturing both logs
// (CU_JIT_INFO_LOG_BUFFER=3, _SIZE_BYTES=4, CU_JIT_ERROR_LOG_BUFFER=5,
// _SIZE_BYTES=6, CU_JIT_OPTIMIZATION_LEVEL=7, CU_JIT_MAX_REGISTERS=0).
static CUresult bw_module_load(bw_cuda *c, const char *ptx, char *info, char *errlog, unsigned logsize,
                               int optlevel, int maxregs, uintptr_t *mod) {
	int opts[6];
	void *vals[6];
	unsigned n = 0;
	opts[n] = 3; vals[n++] = info;
	opts[n] = 4; vals[n++] = (void *)(uintptr_t)logsize;
	opts[n] = 5; vals[n++] = errlog;
	opts[n] = 6; vals[n++] = (void *)(uintptr_t)logsize;
	if (optlevel > 0) { opts[n] = 7; vals[n++] = (void *)(uintptr_t)optlevel; }
	if (maxregs > 0) { opts[n] = 0; vals[n++] = (void *)(uintptr_t)maxregs; }
	BW_CUR(c);
	CUmodule m = NULL;
	CUresult r = c->cuModuleLoadDataEx(&m, ptx, n, opts, vals);
	*mod = (uintptr_t)m;
	return r;
}
static CUresult bw_module_unload(bw_cuda *c, uintptr_t m) { BW_CUR(c); return c->cuModuleUnload((CUmodule)m); }
static CUresult bw_function(bw_cuda *c, uintptr_t m, const char *name, uintptr_t *f) {
	BW_CUR(c);
	CUfunction fn = NULL;
	CUresult r = c->cuModuleGetFunction(&fn, (CUmodule)m, name);
	*f = (uintptr_t)fn;
	return r;
}
// args points to n 8-byte slots; slot i is kernel parameter i (4-byte
// parameters sit in the low half: little-endian on amd64 and arm64).
static CUresult bw_launch(bw_cuda *c, uintptr_t f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                          unsigned by, unsigned bz, unsigned shmem, unsigned long long *args, int n) {
	void *ptrs[32];
	for (int i = 0; i < n && i < 32; i++) ptrs[i] = &args[i];
	BW_CUR(c);
	return c->cuLaunchKernel((CUfunction)f, gx, gy, gz, bx, by, bz, shmem, NULL, ptrs, NULL);
}
static const char *bw_errname(bw_cuda *c, CUresult r) {
	const char *s = NULL;
	if (c->cuGetErrorName(r, &s)) return NULL;
	return s;
}
*/
import "C"

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"unsafe"
)

// LibraryEnv names an environment variable holding the path of libcuda.so.1
// to try first (a CUDA upgrade package's compat directory, for instance).
const LibraryEnv = "BAREWIRE_LIBCUDA"

// LibraryPaths are tried in order after $BAREWIRE_LIBCUDA. The plain soname
// goes through ld.so (LD_LIBRARY_PATH, ld.so.conf), which is how JetPack
// exposes its driver; the absolute paths cover containers and shells where
// that configuration is missing: JetPack 4/5 keep the driver under tegra/,
// JetPack 6 under nvidia/, newer L4T under /opt/nvidia/l4t-gpu-libs
// (reference/jetson.md §3.3); containers given the host's driver by the
// NVIDIA container runtime often see it only under /usr/local/nvidia/lib64.
var LibraryPaths = []string{
	"libcuda.so.1",
	"/usr/lib/aarch64-linux-gnu/tegra/libcuda.so.1",
	"/usr/lib/aarch64-linux-gnu/nvidia/libcuda.so.1",
	"/opt/nvidia/l4t-gpu-libs/nvgpu/libcuda.so.1",
	"/usr/lib/x86_64-linux-gnu/libcuda.so.1",
	"/usr/lib64/libcuda.so.1",
	"/usr/local/nvidia/lib64/libcuda.so.1",
}

// ctxSchedYield is CU_CTX_SCHED_YIELD: spin, then yield. On Tegra the
// default (SCHED_AUTO) may pick blocking sync for low-power parts, which adds
// wake-up latency to every token (reference/jetson.md §1.2).
const ctxSchedYield = 0x02

type libcuda struct {
	path string
	c    *C.bw_cuda
	args *C.ulonglong // maxLaunchArgs slots, reused: calls are serialized

	mu     sync.Mutex // serializes the calls (the argument block and the function table)
	closed bool

	dev    int
	hasCtx bool
}

// Open loads the CUDA driver library and initializes it. Calls are
// serialized, and each call that needs the context makes it current on the
// thread it runs on (a CUDA context is current per OS thread; a goroutine
// moves between threads). The error wraps ErrNoDriver when the library cannot
// be loaded and ErrNoDevice when it loads but finds no GPU.
func Open() (Driver, error) {
	c := (*C.bw_cuda)(C.calloc(1, C.size_t(unsafe.Sizeof(C.bw_cuda{}))))
	paths := LibraryPaths
	if p := os.Getenv(LibraryEnv); p != "" {
		paths = append([]string{p}, paths...)
	}
	var tried []string
	var errbuf [512]C.char
	path := ""
	for _, p := range paths {
		cp := C.CString(p)
		rc := C.bw_load(c, cp, &errbuf[0], C.size_t(len(errbuf)))
		C.free(unsafe.Pointer(cp))
		if rc == 0 {
			path = p
			break
		}
		tried = append(tried, C.GoString(&errbuf[0]))
	}
	if path == "" {
		C.free(unsafe.Pointer(c))
		return nil, fmt.Errorf("%w: libcuda.so.1 not found (%s); install the NVIDIA driver or JetPack, or set %s",
			ErrNoDriver, strings.Join(tried, "; "), LibraryEnv)
	}
	d := &libcuda{
		path: path,
		c:    c,
		args: (*C.ulonglong)(C.calloc(maxLaunchArgs, 8)),
	}
	err := d.call("cuInit", path, func() C.CUresult { return C.bw_init(d.c) })
	if err != nil {
		r := ResultOf(err)
		d.Close()
		switch r {
		case ErrorNoDevice, ErrorInvalidDevice:
			return nil, fmt.Errorf("%w: %w", ErrNoDevice, err)
		}
		// 34 (stub library: a container without the GPU bind mounts), 803,
		// 804 (bad CUDA compat install) and the like: the driver is unusable.
		return nil, fmt.Errorf("%w: %w", ErrNoDriver, err)
	}
	return d, nil
}

type xferKind int

const (
	xferHtoD xferKind = iota
	xferDtoH
	xferSync
)

// transfer runs a copy or synchronize: the other calls made per token,
// with no Go allocation.
func (d *libcuda) transfer(op string, kind xferKind, dev DevicePtr, host unsafe.Pointer, n int) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	c := d.c
	var r C.CUresult
	switch kind {
	case xferHtoD:
		r = C.bw_htod(c, C.CUdeviceptr(dev), host, C.size_t(n))
	case xferDtoH:
		r = C.bw_dtoh(c, host, C.CUdeviceptr(dev), C.size_t(n))
	case xferSync:
		r = C.bw_sync(c)
	}
	var name *C.char
	if r != 0 {
		name = C.bw_errname(c, r)
	}
	d.mu.Unlock()
	if r != 0 {
		return resultError(op, r, "", name)
	}
	return nil
}

func (d *libcuda) do(f func()) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	f()
	return nil
}

// call runs f, serialized with every other call, and turns its CUresult into an error.
func (d *libcuda) call(op, detail string, f func() C.CUresult) error {
	var r C.CUresult
	var name *C.char
	if err := d.do(func() {
		if r = f(); r != 0 {
			name = C.bw_errname(d.c, r)
		}
	}); err != nil {
		return err
	}
	if r != 0 {
		return resultError(op, r, detail, name)
	}
	return nil
}

// resultError builds the error of a failed call; name is the driver's own
// name for the code (cuGetErrorName), used for codes this package does not
// list.
func resultError(op string, r C.CUresult, detail string, name *C.char) error {
	e := &Error{Op: op, Result: Result(r), Detail: detail}
	if _, known := resultNames[e.Result]; !known && name != nil {
		e.Detail = strings.TrimSpace(e.Detail + " " + C.GoString(name))
	}
	return e
}

func (d *libcuda) needCtx() error {
	if !d.hasCtx {
		return ErrNoContext
	}
	return nil
}

func (d *libcuda) Name() string { return "libcuda (" + d.path + ")" }

func (d *libcuda) DriverVersion() (int, error) {
	var v C.int
	err := d.call("cuDriverGetVersion", "", func() C.CUresult { return C.bw_version(d.c, &v) })
	return int(v), err
}

func (d *libcuda) DeviceCount() (int, error) {
	var n C.int
	err := d.call("cuDeviceGetCount", "", func() C.CUresult { return C.bw_count(d.c, &n) })
	return int(n), err
}

func (d *libcuda) DeviceName(dev int) (string, error) {
	var buf [256]C.char
	err := d.call("cuDeviceGetName", fmt.Sprintf("device %d", dev), func() C.CUresult {
		return C.bw_name(d.c, C.int(dev), &buf[0], C.int(len(buf)))
	})
	if err != nil {
		return "", err
	}
	return C.GoString(&buf[0]), nil
}

func (d *libcuda) DeviceAttribute(dev int, a Attribute) (int, error) {
	var v C.int
	err := d.call("cuDeviceGetAttribute", fmt.Sprintf("device %d, %v", dev, a), func() C.CUresult {
		return C.bw_attr(d.c, C.int(dev), C.int(a), &v)
	})
	return int(v), err
}

func (d *libcuda) DeviceTotalMem(dev int) (uint64, error) {
	var v C.size_t
	err := d.call("cuDeviceTotalMem_v2", fmt.Sprintf("device %d", dev), func() C.CUresult {
		return C.bw_totalmem(d.c, C.int(dev), &v)
	})
	return uint64(v), err
}

func (d *libcuda) CreateContext(dev int) error {
	if d.hasCtx {
		return fmt.Errorf("cuda: context already created on device %d", d.dev)
	}
	var ctx C.uintptr_t
	err := d.call("cuDevicePrimaryCtxRetain", fmt.Sprintf("device %d", dev), func() C.CUresult {
		return C.bw_ctx_retain(d.c, C.int(dev), ctxSchedYield, &ctx)
	})
	if err != nil {
		return err
	}
	d.dev, d.hasCtx = dev, true
	return nil
}

func (d *libcuda) DestroyContext() error {
	if !d.hasCtx {
		return nil
	}
	d.hasCtx = false
	return d.call("cuDevicePrimaryCtxRelease_v2", "", func() C.CUresult { return C.bw_ctx_release(d.c, C.int(d.dev)) })
}

func (d *libcuda) MemAlloc(n int) (DevicePtr, error) {
	if err := d.needCtx(); err != nil {
		return 0, err
	}
	var p C.CUdeviceptr
	err := d.call("cuMemAlloc_v2", fmt.Sprintf("%d bytes", n), func() C.CUresult { return C.bw_alloc(d.c, C.size_t(n), &p) })
	return DevicePtr(p), err
}

func (d *libcuda) MemFree(p DevicePtr) error {
	return d.call("cuMemFree_v2", "", func() C.CUresult { return C.bw_free(d.c, C.CUdeviceptr(p)) })
}

func (d *libcuda) MemAllocHost(n int, flags HostAllocFlags) ([]byte, error) {
	if err := d.needCtx(); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, fmt.Errorf("cuda: MemAllocHost of %d bytes", n)
	}
	var p unsafe.Pointer
	err := d.call("cuMemHostAlloc", fmt.Sprintf("%d bytes", n), func() C.CUresult {
		return C.bw_hostalloc(d.c, C.size_t(n), C.uint(flags), &p)
	})
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(p), n), nil
}

func (d *libcuda) MemFreeHost(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	return d.call("cuMemFreeHost", "", func() C.CUresult { return C.bw_freehost(d.c, p) })
}

func (d *libcuda) MemcpyHtoD(dst DevicePtr, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	return d.transfer("cuMemcpyHtoD_v2", xferHtoD, dst, unsafe.Pointer(unsafe.SliceData(src)), len(src))
}

func (d *libcuda) MemcpyDtoH(dst []byte, src DevicePtr) error {
	if len(dst) == 0 {
		return nil
	}
	return d.transfer("cuMemcpyDtoH_v2", xferDtoH, src, unsafe.Pointer(unsafe.SliceData(dst)), len(dst))
}

func (d *libcuda) HostRegister(b []byte, flags RegisterFlags) error {
	if err := d.needCtx(); err != nil {
		return err
	}
	if len(b) == 0 {
		return fmt.Errorf("cuda: HostRegister of an empty range")
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	return d.call("cuMemHostRegister_v2", fmt.Sprintf("%d bytes, flags %v", len(b), flags), func() C.CUresult {
		return C.bw_register(d.c, p, C.size_t(len(b)), C.uint(flags))
	})
}

func (d *libcuda) HostUnregister(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	return d.call("cuMemHostUnregister", "", func() C.CUresult { return C.bw_unregister(d.c, p) })
}

func (d *libcuda) HostDevicePointer(b []byte) (DevicePtr, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("cuda: HostDevicePointer of an empty range")
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	var dp C.CUdeviceptr
	err := d.call("cuMemHostGetDevicePointer_v2", "", func() C.CUresult { return C.bw_hostdevptr(d.c, p, &dp) })
	return DevicePtr(dp), err
}

func (d *libcuda) ModuleLoad(ptx []byte, opts JITOptions) (Module, string, error) {
	if err := d.needCtx(); err != nil {
		return 0, "", err
	}
	logSize := opts.LogSize
	if logSize <= 0 {
		logSize = defaultJITLogSize
	}
	src := C.CString(string(ptx)) // the JIT wants NUL-terminated text
	defer C.free(unsafe.Pointer(src))
	info := (*C.char)(C.calloc(C.size_t(logSize), 1))
	defer C.free(unsafe.Pointer(info))
	errlog := (*C.char)(C.calloc(C.size_t(logSize), 1))
	defer C.free(unsafe.Pointer(errlog))
	var m C.uintptr_t
	err := d.call("cuModuleLoadDataEx", fmt.Sprintf("%d bytes of PTX", len(ptx)), func() C.CUresult {
		return C.bw_module_load(d.c, src, info, errlog, C.uint(logSize), C.int(opts.OptimizationLevel), C.int(opts.MaxRegisters), &m)
	})
	if err != nil {
		return 0, strings.TrimSpace(C.GoString(errlog)), err
	}
	return Module(m), strings.TrimSpace(C.GoString(info)), nil
}

func (d *libcuda) ModuleUnload(m Module) error {
	return d.call("cuModuleUnload", "", func() C.CUresult { return C.bw_module_unload(d.c, C.uintptr_t(m)) })
}

func (d *libcuda) ModuleFunction(m Module, name string) (Function, error) {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	var f C.uintptr_t
	err := d.call("cuModuleGetFunction", fmt.Sprintf("kernel %q", name), func() C.CUresult {
		return C.bw_function(d.c, C.uintptr_t(m), cn, &f)
	})
	return Function(f), err
}

// Launch writes the parameters into the reusable C argument block and
// launches on the calling thread: the per-token path makes no Go
// allocation.
func (d *libcuda) Launch(f Function, grid, block Dim3, sharedMem int, args []Arg) error {
	if err := d.needCtx(); err != nil {
		return err
	}
	if err := CheckArgs(args); err != nil {
		return err
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	slots := unsafe.Slice((*uint64)(unsafe.Pointer(d.args)), maxLaunchArgs)
	for i, a := range args {
		slots[i] = a.Bits
	}
	r := C.bw_launch(d.c, C.uintptr_t(f), C.uint(grid.X), C.uint(grid.Y), C.uint(grid.Z),
		C.uint(block.X), C.uint(block.Y), C.uint(block.Z), C.uint(sharedMem), d.args, C.int(len(args)))
	var name *C.char
	if r != 0 {
		name = C.bw_errname(d.c, r)
	}
	d.mu.Unlock()
	if r != 0 {
		return resultError("cuLaunchKernel", r, "", name)
	}
	return nil
}

func (d *libcuda) Synchronize() error {
	if err := d.needCtx(); err != nil {
		return err
	}
	return d.transfer("cuCtxSynchronize", xferSync, 0, nil, 0)
}

// Close releases the context. The library stays loaded: unloading libcuda while its threads run is not safe.
func (d *libcuda) Close() error {
	err := d.DestroyContext()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	// No call is in flight (each holds mu), and later calls stop at
	// ErrClosed, so the function table can go.
	C.free(unsafe.Pointer(d.c))
	C.free(unsafe.Pointer(d.args))
	d.c, d.args = nil, nil
	return err
}
