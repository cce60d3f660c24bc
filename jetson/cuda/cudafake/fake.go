package cudafake

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/speakez/barewire/jetson/cuda"
)

// Device describes one fake GPU.
type Device struct {
	Name     string
	TotalMem uint64
	Attrs    map[cuda.Attribute]int
}

// With returns a copy of d with attribute a set to v.
func (d Device) With(a cuda.Attribute, v int) Device {
	m := make(map[cuda.Attribute]int, len(d.Attrs)+1)
	for k, x := range d.Attrs {
		m[k] = x
	}
	m[a] = v
	d.Attrs = m
	return d
}

// Discrete is an H100-like PCIe GPU: not integrated, registration with
// READ_ONLY supported, no pageable memory access.
func Discrete() Device {
	return Device{Name: "Fake H100 PCIe", TotalMem: 80 << 30, Attrs: map[cuda.Attribute]int{
		cuda.AttrMaxThreadsPerBlock: 1024, cuda.AttrMultiprocessorCount: 114,
		cuda.AttrComputeCapabilityMajor: 9, cuda.AttrComputeCapabilityMinor: 0,
		cuda.AttrIntegrated: 0, cuda.AttrCanMapHostMemory: 1, cuda.AttrUnifiedAddressing: 1,
		cuda.AttrManagedMemory: 1, cuda.AttrConcurrentManagedAccess: 1,
		cuda.AttrHostRegisterSupported: 1, cuda.AttrReadOnlyHostRegisterSupported: 1,
		cuda.AttrCanUseHostPointerForRegisteredMem: 1,
	}}
}

// Orin is a Jetson AGX Orin-like integrated GPU (sm_87). The value of
// READ_ONLY_HOST_REGISTER_SUPPORTED on real Orin boards is not known
// (reference/jetson.md §8); tests set it both ways.
func Orin() Device {
	return Device{Name: "Fake Orin (nvgpu)", TotalMem: 32 << 30, Attrs: map[cuda.Attribute]int{
		cuda.AttrMaxThreadsPerBlock: 1024, cuda.AttrMultiprocessorCount: 16,
		cuda.AttrComputeCapabilityMajor: 8, cuda.AttrComputeCapabilityMinor: 7,
		cuda.AttrIntegrated: 1, cuda.AttrCanMapHostMemory: 1, cuda.AttrUnifiedAddressing: 1,
		cuda.AttrManagedMemory: 1, cuda.AttrConcurrentManagedAccess: 0,
		cuda.AttrHostRegisterSupported: 1, cuda.AttrReadOnlyHostRegisterSupported: 1,
		cuda.AttrCanUseHostPointerForRegisteredMem: 1,
	}}
}

// Xavier is a Jetson AGX Xavier-like integrated GPU (sm_72) without
// read-only registration.
func Xavier() Device {
	d := Orin().With(cuda.AttrComputeCapabilityMajor, 7).With(cuda.AttrComputeCapabilityMinor, 2).
		With(cuda.AttrReadOnlyHostRegisterSupported, 0).With(cuda.AttrMultiprocessorCount, 8)
	d.Name, d.TotalMem = "Fake Xavier", 16<<30
	return d
}

// KernelFunc runs one launch of a kernel on fake memory. args are the
// launch arguments as passed to Launch.
type KernelFunc = func(mem cuda.Memory, grid, block cuda.Dim3, args []cuda.Arg) error

// Call is one recorded driver call.
type Call struct {
	Op     string // the driver function name, e.g. "cuMemHostRegister_v2"
	Detail string // arguments worth checking: sizes, flags, kernel names
}

type regionKind int

const (
	deviceAlloc regionKind = iota
	registered
	hostAlloc
)

type region struct {
	kind regionKind
	dev  cuda.DevicePtr
	b    []byte
}

func (r *region) host() uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(r.b))) }

// Driver is the fake. Configure its exported fields before use.
type Driver struct {
	Devices []Device
	// Kernels run launches by kernel name; launching a kernel that is in
	// the loaded PTX but not here fails, so no test passes by accident.
	Kernels map[string]KernelFunc
	// Fail makes the named driver function (as in Call.Op) return the
	// given result every time it is called.
	Fail map[string]cuda.Result
	// RegisterHook, when set, is asked about each HostRegister call after
	// the attribute checks; a non-nil error refuses it (to simulate a
	// read-only file mapping registered without READ_ONLY, say).
	RegisterHook func(b []byte, flags cuda.RegisterFlags) error
	// LaunchDelay is slept on every launch (for calibration tests).
	LaunchDelay time.Duration
	// SyncDelay is slept on every synchronization and synchronous copy:
	// waiting for the device and a round trip over the bus.
	SyncDelay time.Duration
	// Version is what DriverVersion reports (default 12060).
	Version int

	mu      sync.Mutex
	calls   []Call
	regions []*region
	next    cuda.DevicePtr
	used    uint64
	ctxDev  int
	hasCtx  bool
	modules map[cuda.Module][]string
	funcs   map[cuda.Function]string
	nextH   uintptr
	closed  bool
}

// New returns a fake with the given devices (none: a machine whose driver
// loads but has no GPU).
func New(devs ...Device) *Driver {
	return &Driver{Devices: devs, Kernels: map[string]KernelFunc{}, Fail: map[string]cuda.Result{}}
}

// Calls returns a copy of the calls recorded so far.
func (d *Driver) Calls() []Call {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Call(nil), d.calls...)
}

// Count returns how many calls of op were made.
func (d *Driver) Count(op string) int {
	n := 0
	for _, c := range d.Calls() {
		if c.Op == op {
			n++
		}
	}
	return n
}

// Live reports device allocations, host registrations and host allocations
// that are still outstanding, so tests can check that everything was freed.
func (d *Driver) Live() (allocs, registrations, hostAllocs int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range d.regions {
		switch r.kind {
		case deviceAlloc:
			allocs++
		case registered:
			registrations++
		case hostAlloc:
			hostAllocs++
		}
	}
	return
}

// record logs a call and returns the configured failure for it, if any.
// d.mu must be held.
func (d *Driver) record(op, detail string) error {
	d.calls = append(d.calls, Call{Op: op, Detail: detail})
	if d.closed {
		return cuda.ErrClosed
	}
	if r, ok := d.Fail[op]; ok && r != cuda.Success {
		return &cuda.Error{Op: op, Result: r, Detail: "injected by cudafake"}
	}
	return nil
}

func fail(op string, r cuda.Result, format string, a ...any) error {
	return &cuda.Error{Op: op, Result: r, Detail: fmt.Sprintf(format, a...)}
}

func (d *Driver) device(op string, dev int) (*Device, error) {
	if dev < 0 || dev >= len(d.Devices) {
		return nil, fail(op, cuda.ErrorInvalidDevice, "device %d of %d", dev, len(d.Devices))
	}
	return &d.Devices[dev], nil
}

func (d *Driver) Name() string { return "cudafake" }

func (d *Driver) DriverVersion() (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.record("cuDriverGetVersion", ""); err != nil {
		return 0, err
	}
	if d.Version == 0 {
		return 12060, nil
	}
	return d.Version, nil
}

func (d *Driver) DeviceCount() (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.record("cuDeviceGetCount", ""); err != nil {
		return 0, err
	}
	return len(d.Devices), nil
}

func (d *Driver) DeviceName(dev int) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.record("cuDeviceGetName", fmt.Sprint(dev)); err != nil {
		return "", err
	}
	dv, err := d.device("cuDeviceGetName", dev)
	if err != nil {
		return "", err
	}
	return dv.Name, nil
}

func (d *Driver) DeviceAttribute(dev int, a cuda.Attribute) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.record("cuDeviceGetAttribute", a.String()); err != nil {
		return 0, err
	}
	dv, err := d.device("cuDeviceGetAttribute", dev)
	if err != nil {
		return 0, err
	}
	return dv.Attrs[a], nil
}

func (d *Driver) DeviceTotalMem(dev int) (uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.record("cuDeviceTotalMem_v2", fmt.Sprint(dev)); err != nil {
		return 0, err
	}
	dv, err := d.device("cuDeviceTotalMem_v2", dev)
	if err != nil {
		return 0, err
	}
	return dv.TotalMem, nil
}

func (d *Driver) CreateContext(dev int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.record("cuDevicePrimaryCtxRetain", fmt.Sprint(dev)); err != nil {
		return err
	}
	if _, err := d.device("cuDevicePrimaryCtxRetain", dev); err != nil {
		return err
	}
	if d.hasCtx {
		return fmt.Errorf("cudafake: context already created on device %d", d.ctxDev)
	}
	d.ctxDev, d.hasCtx = dev, true
	d.next = 0x7f0000000000
	return nil
}

func (d *Driver) DestroyContext() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.record("cuDevicePrimaryCtxRelease_v2", ""); err != nil {
		return err
	}
	d.hasCtx = false
	return nil
}

func (d *Driver) needCtx(op string) error {
	if !d.hasCtx {
		return fmt.Errorf("%s: %w", op, cuda.ErrNoContext)
	}
	return nil
}

// addr hands out a fresh device address range of n bytes, 256-aligned like
// cuMemAlloc's results.
func (d *Driver) addr(n int) cuda.DevicePtr {
	p := d.next
	d.next += cuda.DevicePtr((n + 4095) &^ 255)
	return p
}

func (d *Driver) MemAlloc(n int) (cuda.DevicePtr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	const op = "cuMemAlloc_v2"
	if err := d.record(op, fmt.Sprint(n)); err != nil {
		return 0, err
	}
	if err := d.needCtx(op); err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, fail(op, cuda.ErrorInvalidValue, "%d bytes", n)
	}
	if total := d.Devices[d.ctxDev].TotalMem; d.used+uint64(n) > total {
		return 0, fail(op, cuda.ErrorOutOfMemory, "%d bytes requested, %d of %d in use", n, d.used, total)
	}
	r := &region{kind: deviceAlloc, dev: d.addr(n), b: make([]byte, n)}
	d.regions = append(d.regions, r)
	d.used += uint64(n)
	return r.dev, nil
}

func (d *Driver) MemFree(p cuda.DevicePtr) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	const op = "cuMemFree_v2"
	if err := d.record(op, ""); err != nil {
		return err
	}
	for i, r := range d.regions {
		if r.kind == deviceAlloc && r.dev == p {
			d.used -= uint64(len(r.b))
			d.regions = append(d.regions[:i], d.regions[i+1:]...)
			return nil
		}
	}
	return fail(op, cuda.ErrorInvalidValue, "%#x is not an allocation", uint64(p))
}

func (d *Driver) MemAllocHost(n int, flags cuda.HostAllocFlags) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	const op = "cuMemHostAlloc"
	if err := d.record(op, fmt.Sprint(n)); err != nil {
		return nil, err
	}
	if err := d.needCtx(op); err != nil {
		return nil, err
	}
	r := &region{kind: hostAlloc, dev: d.addr(n), b: make([]byte, n)}
	d.regions = append(d.regions, r)
	return r.b, nil
}

func (d *Driver) MemFreeHost(b []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	const op = "cuMemFreeHost"
	if err := d.record(op, fmt.Sprint(len(b))); err != nil {
		return err
	}
	h := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	for i, r := range d.regions {
		if r.kind == hostAlloc && r.host() == h {
			d.regions = append(d.regions[:i], d.regions[i+1:]...)
			return nil
		}
	}
	return fail(op, cuda.ErrorInvalidValue, "not a host allocation")
}

// Bytes implements cuda.Memory.
func (d *Driver) Bytes(p cuda.DevicePtr, n int) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.bytes(p, n)
}

// Region returns the bytes from p to the end of the allocation or
// registration holding p: what a kernel could address from there.
func (d *Driver) Region(p cuda.DevicePtr) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range d.regions {
		if p >= r.dev && uint64(p-r.dev) < uint64(len(r.b)) {
			return r.b[p-r.dev:], nil
		}
	}
	return nil, fmt.Errorf("cudafake: %#x is not in any allocation or registration: illegal address", uint64(p))
}

func (d *Driver) bytes(p cuda.DevicePtr, n int) ([]byte, error) {
	for _, r := range d.regions {
		if p >= r.dev && uint64(p-r.dev) < uint64(len(r.b)) {
			off := int(p - r.dev)
			if n < 0 || off+n > len(r.b) {
				return nil, fmt.Errorf("cudafake: %d bytes at %#x run past the end of a %d-byte region (offset %d): illegal address", n, uint64(p), len(r.b), off)
			}
			return r.b[off : off+n], nil
		}
	}
	if n == 0 {
		return nil, nil
	}
	return nil, fmt.Errorf("cudafake: %#x is not in any allocation or registration: illegal address", uint64(p))
}

func (d *Driver) MemcpyHtoD(dst cuda.DevicePtr, src []byte) error {
	time.Sleep(d.SyncDelay)
	d.mu.Lock()
	defer d.mu.Unlock()
	const op = "cuMemcpyHtoD_v2"
	if err := d.record(op, fmt.Sprint(len(src))); err != nil {
		return err
	}
	b, err := d.bytes(dst, len(src))
	if err != nil {
		return fail(op, cuda.ErrorInvalidValue, "%v", err)
	}
	copy(b, src)
	return nil
}

func (d *Driver) MemcpyDtoH(dst []byte, src cuda.DevicePtr) error {
	time.Sleep(d.SyncDelay)
	d.mu.Lock()
	defer d.mu.Unlock()
	const op = "cuMemcpyDtoH_v2"
	if err := d.record(op, fmt.Sprint(len(dst))); err != nil {
		return err
	}
	b, err := d.bytes(src, len(dst))
	if err != nil {
		return fail(op, cuda.ErrorInvalidValue, "%v", err)
	}
	copy(dst, b)
	return nil
}

func (d *Driver) HostRegister(b []byte, flags cuda.RegisterFlags) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	const op = "cuMemHostRegister_v2"
	if err := d.record(op, fmt.Sprintf("%d bytes, %v", len(b), flags)); err != nil {
		return err
	}
	if err := d.needCtx(op); err != nil {
		return err
	}
	attrs := d.Devices[d.ctxDev].Attrs
	if attrs[cuda.AttrHostRegisterSupported] == 0 {
		return fail(op, cuda.ErrorNotSupported, "device has no host registration")
	}
	if flags&cuda.RegisterReadOnly != 0 && attrs[cuda.AttrReadOnlyHostRegisterSupported] == 0 {
		return fail(op, cuda.ErrorNotSupported, "READ_ONLY registration unsupported")
	}
	if len(b) == 0 {
		return fail(op, cuda.ErrorInvalidValue, "empty range")
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	hi := lo + uintptr(len(b))
	for _, r := range d.regions {
		if r.kind == registered && lo < r.host()+uintptr(len(r.b)) && r.host() < hi {
			return fail(op, cuda.ErrorHostAlreadyRegistered, "overlaps a registration")
		}
	}
	if d.RegisterHook != nil {
		if err := d.RegisterHook(b, flags); err != nil {
			return err
		}
	}
	r := &region{kind: registered, b: b}
	if attrs[cuda.AttrCanUseHostPointerForRegisteredMem] == 1 {
		r.dev = cuda.DevicePtr(lo)
	} else {
		r.dev = d.addr(len(b))
	}
	d.regions = append(d.regions, r)
	return nil
}

func (d *Driver) HostUnregister(b []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	const op = "cuMemHostUnregister"
	if err := d.record(op, fmt.Sprint(len(b))); err != nil {
		return err
	}
	h := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	for i, r := range d.regions {
		if r.kind == registered && r.host() == h {
			d.regions = append(d.regions[:i], d.regions[i+1:]...)
			return nil
		}
	}
	return fail(op, cuda.ErrorHostNotRegistered, "")
}

func (d *Driver) HostDevicePointer(b []byte) (cuda.DevicePtr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	const op = "cuMemHostGetDevicePointer_v2"
	if err := d.record(op, ""); err != nil {
		return 0, err
	}
	h := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	for _, r := range d.regions {
		if r.kind != deviceAlloc && h >= r.host() && h < r.host()+uintptr(len(r.b)) {
			return r.dev + cuda.DevicePtr(h-r.host()), nil
		}
	}
	return 0, fail(op, cuda.ErrorInvalidValue, "memory is neither registered nor host-allocated")
}

var entryRE = regexp.MustCompile(`(?m)^\.visible \.entry ([A-Za-z_][A-Za-z0-9_]*)\(`)

// ModuleLoad accepts PTX that declares a .version and a .target and has at
// least one entry; the entries become the module's functions.
func (d *Driver) ModuleLoad(ptx []byte, opts cuda.JITOptions) (cuda.Module, string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	const op = "cuModuleLoadDataEx"
	if err := d.record(op, fmt.Sprintf("%d bytes", len(ptx))); err != nil {
		return 0, "ptxas fatal: injected failure", err
	}
	if err := d.needCtx(op); err != nil {
		return 0, "", err
	}
	src := string(ptx)
	if !strings.Contains(src, "\n.version ") || !strings.Contains(src, "\n.target ") {
		return 0, "ptxas fatal: missing .version or .target directive", fail(op, cuda.ErrorInvalidPTX, "")
	}
	var names []string
	for _, m := range entryRE.FindAllStringSubmatch(src, -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		return 0, "ptxas fatal: no entry points", fail(op, cuda.ErrorInvalidPTX, "")
	}
	if d.modules == nil {
		d.modules = map[cuda.Module][]string{}
		d.funcs = map[cuda.Function]string{}
	}
	d.nextH++
	m := cuda.Module(d.nextH)
	d.modules[m] = names
	return m, "info: fake JIT compiled " + strings.Join(names, ","), nil
}

func (d *Driver) ModuleUnload(m cuda.Module) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.record("cuModuleUnload", ""); err != nil {
		return err
	}
	if _, ok := d.modules[m]; !ok {
		return fail("cuModuleUnload", cuda.ErrorInvalidValue, "unknown module")
	}
	delete(d.modules, m)
	return nil
}

func (d *Driver) ModuleFunction(m cuda.Module, name string) (cuda.Function, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	const op = "cuModuleGetFunction"
	if err := d.record(op, name); err != nil {
		return 0, err
	}
	names, ok := d.modules[m]
	if !ok {
		return 0, fail(op, cuda.ErrorInvalidValue, "unknown module")
	}
	for _, n := range names {
		if n == name {
			d.nextH++
			f := cuda.Function(d.nextH)
			d.funcs[f] = name
			return f, nil
		}
	}
	return 0, fail(op, cuda.ErrorNotFound, "kernel %q", name)
}

func (d *Driver) Launch(f cuda.Function, grid, block cuda.Dim3, sharedMem int, args []cuda.Arg) error {
	d.mu.Lock()
	const op = "cuLaunchKernel"
	name := d.funcs[f]
	err := d.record(op, name)
	if err == nil {
		err = d.needCtx(op)
	}
	k := d.Kernels[name]
	delay := d.LaunchDelay
	d.mu.Unlock()
	if err != nil {
		return err
	}
	if name == "" {
		return fail(op, cuda.ErrorInvalidValue, "unknown function")
	}
	if err := cuda.CheckArgs(args); err != nil {
		return err
	}
	if grid.X == 0 || grid.Y == 0 || grid.Z == 0 || block.X == 0 || block.Y == 0 || block.Z == 0 || block.X*block.Y*block.Z > 1024 {
		return fail(op, cuda.ErrorInvalidValue, "kernel %s: grid %v block %v", name, grid, block)
	}
	if k == nil {
		return fail(op, cuda.ErrorLaunchFailed, "no Go implementation of kernel %q registered in cudafake.Driver.Kernels", name)
	}
	if delay > 0 {
		time.Sleep(delay)
	}
	if err := k(d, grid, block, args); err != nil {
		return fail(op, cuda.ErrorLaunchFailed, "kernel %s: %v", name, err)
	}
	return nil
}

func (d *Driver) Synchronize() error {
	time.Sleep(d.SyncDelay)
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.record("cuCtxSynchronize", "")
}

func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.record("close", "")
	d.hasCtx = false
	d.closed = true
	return err
}

// Ops returns the distinct operations called, sorted (for messages).
func (d *Driver) Ops() []string {
	seen := map[string]bool{}
	for _, c := range d.Calls() {
		seen[c.Op] = true
	}
	out := make([]string, 0, len(seen))
	for op := range seen {
		out = append(out, op)
	}
	sort.Strings(out)
	return out
}

var _ cuda.Driver = (*Driver)(nil)
var _ cuda.Memory = (*Driver)(nil)
