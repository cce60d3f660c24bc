//go:build cgo && linux

package cuda_test

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"unsafe"

	"github.com/speakez/barewire/jetson/cuda"
)

// buildFakeLibcuda compiles testdata/fakecuda.c into a libcuda.so.1 and
// points the binding at it (and only at it).
func buildFakeLibcuda(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not installed: cannot build the stand-in libcuda")
	}
	lib := filepath.Join(t.TempDir(), "libcuda.so.1")
	if out, err := exec.Command("gcc", "-shared", "-fPIC", "-Wall", "-Werror", "-o", lib, "testdata/fakecuda.c").CombinedOutput(); err != nil {
		t.Fatalf("building fakecuda: %v\n%s", err, out)
	}
	saved := cuda.LibraryPaths
	cuda.LibraryPaths = nil
	t.Cleanup(func() { cuda.LibraryPaths = saved })
	t.Setenv(cuda.LibraryEnv, lib)
}

func openFake(t *testing.T) cuda.Driver {
	t.Helper()
	d, err := cuda.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// The binding against a C library with the driver's exact signatures:
// argument order, sizes and kernel parameter marshaling.
func TestBindingABI(t *testing.T) {
	buildFakeLibcuda(t)
	t.Setenv("FAKECUDA_DEVICES", "2")
	d := openFake(t)
	if !strings.Contains(d.Name(), "libcuda.so.1") {
		t.Errorf("Name = %q", d.Name())
	}
	if v, err := d.DriverVersion(); err != nil || v != 12060 {
		t.Fatalf("DriverVersion = %d, %v", v, err)
	}
	if n, err := d.DeviceCount(); err != nil || n != 2 {
		t.Fatalf("DeviceCount = %d, %v", n, err)
	}
	if s, err := d.DeviceName(1); err != nil || s != "fakecuda device 1" {
		t.Fatalf("DeviceName = %q, %v", s, err)
	}
	if v, err := d.DeviceAttribute(1, cuda.AttrReadOnlyHostRegisterSupported); err != nil || v != 1131 {
		t.Fatalf("DeviceAttribute(1, 113) = %d, %v (want 113*10+1)", v, err)
	}
	if _, err := d.DeviceAttribute(5, cuda.AttrIntegrated); !errors.Is(err, cuda.ErrorInvalidDevice) {
		t.Fatalf("DeviceAttribute of device 5: %v", err)
	}
	if m, err := d.DeviceTotalMem(0); err != nil || m != 1<<34 {
		t.Fatalf("DeviceTotalMem = %d, %v", m, err)
	}
	if _, err := d.MemAlloc(16); !errors.Is(err, cuda.ErrNoContext) {
		t.Fatalf("MemAlloc before CreateContext: %v", err)
	}
	if err := d.CreateContext(0); err != nil {
		t.Fatal(err)
	}

	// Memory round trip.
	p, err := d.MemAlloc(4096)
	if err != nil {
		t.Fatal(err)
	}
	src := []byte("ternary weights, -1 0 +1")
	if err := d.MemcpyHtoD(p.Add(100), src); err != nil {
		t.Fatal(err)
	}
	back := make([]byte, len(src))
	if err := d.MemcpyDtoH(back, p.Add(100)); err != nil || string(back) != string(src) {
		t.Fatalf("round trip %q, %v", back, err)
	}

	// Launch: the stand-in "echo" kernel writes back what it received.
	m, log, err := d.ModuleLoad([]byte(".version 7.0\n.target sm_72\n"), cuda.JITOptions{OptimizationLevel: 3})
	if err != nil || !strings.Contains(log, "fakecuda: compiled") || !strings.Contains(log, "at optimization level 3") {
		t.Fatalf("ModuleLoad: %v (log %q)", err, log)
	}
	if err := d.ModuleUnload(m); err != nil {
		t.Fatal(err)
	}
	// The zero JITOptions leave the JIT at its default (fastest) level: no
	// optimization-level option reaches the driver, in particular not 0.
	m, log, err = d.ModuleLoad([]byte(".version 7.0\n.target sm_72\n"), cuda.JITOptions{})
	if err != nil || !strings.Contains(log, "at the default optimization level") {
		t.Fatalf("ModuleLoad with zero options: %v (log %q)", err, log)
	}
	f, err := d.ModuleFunction(m, "echo")
	if err != nil {
		t.Fatal(err)
	}
	err = d.Launch(f, cuda.Dim3{X: 7, Y: 8, Z: 9}, cuda.Dim3{X: 128, Y: 2, Z: 1}, 64,
		[]cuda.Arg{cuda.Ptr(p), cuda.I32(-7), cuda.F32(1.5), cuda.Ptr(0x1122334455667788), cuda.U32(42)})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Synchronize(); err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 11*8)
	if err := d.MemcpyDtoH(raw, p); err != nil {
		t.Fatal(err)
	}
	want := []uint64{7, 8, 9, 128, 2, 1, 64, uint64(0xfffffffffffffff9), uint64(math.Float32bits(1.5)), 0x1122334455667788, 42}
	for i, w := range want {
		if got := binary.LittleEndian.Uint64(raw[8*i:]); got != w {
			t.Errorf("echo word %d = %#x, want %#x", i, got, w)
		}
	}
	if err := d.Launch(f, cuda.D1(1), cuda.D1(1), 0, []cuda.Arg{{Bits: 3}}); err == nil || !strings.Contains(err.Error(), "has no type") {
		t.Errorf("Launch with an untyped argument: %v", err)
	}
	if _, err := d.ModuleFunction(m, "missing"); !errors.Is(err, cuda.ErrorNotFound) {
		t.Errorf("missing kernel: %v", err)
	}

	// A JIT failure carries the driver's error log.
	_, log, err = d.ModuleLoad([]byte("not ptx"), cuda.JITOptions{})
	if !errors.Is(err, cuda.ErrorInvalidPTX) || log != "fakecuda: ptx has no .version directive" {
		t.Errorf("bad PTX: %v, log %q", err, log)
	}
	// Codes this package does not name get the driver's name.
	if err := d.ModuleUnload(cuda.Module(1)); err == nil || !strings.Contains(err.Error(), "CUDA_ERROR_FAKE") {
		t.Errorf("unknown-code error %v lacks the driver's name", err)
	}
	if err := d.ModuleUnload(m); err != nil {
		t.Fatal(err)
	}
	if err := d.MemFree(p); err != nil {
		t.Fatal(err)
	}
}

// Registration of a file mapping, with the flags passed through, overlap
// refused, and the device pointer of registered and host-allocated memory.
func TestBindingHostMemory(t *testing.T) {
	buildFakeLibcuda(t)
	t.Setenv("FAKECUDA_NO_READONLY", "1")
	d := openFake(t)
	if err := d.CreateContext(0); err != nil {
		t.Fatal(err)
	}
	mem, err := syscall.Mmap(-1, 0, 3*os.Getpagesize(), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(mem)
	if err := d.HostRegister(mem, cuda.RegisterDeviceMap|cuda.RegisterReadOnly); !errors.Is(err, cuda.ErrorNotSupported) ||
		!strings.Contains(err.Error(), "DEVICEMAP|READ_ONLY") {
		t.Fatalf("READ_ONLY where unsupported: %v", err)
	}
	if err := d.HostRegister(mem, cuda.RegisterDeviceMap); err != nil {
		t.Fatal(err)
	}
	if err := d.HostRegister(mem[os.Getpagesize():], cuda.RegisterDeviceMap); !errors.Is(err, cuda.ErrorHostAlreadyRegistered) {
		t.Fatalf("overlapping registration: %v", err)
	}
	p, err := d.HostDevicePointer(mem)
	if err != nil || uintptr(p) != uintptr(unsafePointer(mem)) {
		t.Fatalf("HostDevicePointer = %#x, %v", uint64(p), err)
	}
	if err := d.HostUnregister(mem); err != nil {
		t.Fatal(err)
	}
	if err := d.HostUnregister(mem); !errors.Is(err, cuda.ErrorHostNotRegistered) {
		t.Fatalf("second unregister: %v", err)
	}
	h, err := d.MemAllocHost(1000, cuda.HostAllocDeviceMap)
	if err != nil || len(h) != 1000 {
		t.Fatalf("MemAllocHost: %d bytes, %v", len(h), err)
	}
	h[999] = 1 // writable host memory
	if err := d.MemFreeHost(h); err != nil {
		t.Fatal(err)
	}
}

// Calls from goroutines locked to eight different OS threads all find the
// context current (the stand-in keeps the current context per thread, as
// the driver does, and fails a call on a thread without it with
// CUDA_ERROR_INVALID_CONTEXT).
func TestBindingManyThreads(t *testing.T) {
	buildFakeLibcuda(t)
	d := openFake(t)
	if err := d.CreateContext(0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // a thread of its own, which never made the context current
			defer runtime.UnlockOSThread()
			for i := 0; i < 50; i++ {
				p, err := d.MemAlloc(64)
				if err == nil {
					err = errors.Join(d.MemcpyHtoD(p, make([]byte, 64)), d.MemFree(p))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.DeviceCount(); !errors.Is(err, cuda.ErrClosed) {
		t.Fatalf("call after Close: %v", err)
	}
}

func TestBindingNoDevice(t *testing.T) {
	buildFakeLibcuda(t)
	t.Setenv("FAKECUDA_DEVICES", "0")
	d, err := cuda.Open()
	if err == nil {
		d.Close()
		t.Fatal("Open succeeded with no devices")
	}
	if !errors.Is(err, cuda.ErrNoDevice) || !errors.Is(err, cuda.ErrorNoDevice) || !strings.Contains(err.Error(), "cuInit") {
		t.Fatalf("err = %v", err)
	}
}

func unsafePointer(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }
