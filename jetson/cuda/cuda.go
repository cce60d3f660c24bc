package cuda

import (
	"errors"
	"fmt"
	"math"
)

// DevicePtr is an address in the GPU's address space (CUdeviceptr).
type DevicePtr uint64

// Add returns p advanced by n bytes.
func (p DevicePtr) Add(n int) DevicePtr { return p + DevicePtr(n) }

// Module is a loaded PTX module (CUmodule); zero is no module.
type Module uintptr

// Function is a kernel entry point of a Module (CUfunction).
type Function uintptr

// Dim3 is a grid or block shape.
type Dim3 struct{ X, Y, Z uint32 }

// D1 is a one-dimensional shape.
func D1(x int) Dim3 { return Dim3{uint32(x), 1, 1} }

// Attribute is a CUdevice_attribute number. Values from cuda.h
// (reference/jetson.md §3.3); they are stable across CUDA versions.
type Attribute int

const (
	AttrMaxThreadsPerBlock                     Attribute = 1
	AttrMultiprocessorCount                    Attribute = 16
	AttrIntegrated                             Attribute = 18
	AttrCanMapHostMemory                       Attribute = 19
	AttrUnifiedAddressing                      Attribute = 41
	AttrComputeCapabilityMajor                 Attribute = 75
	AttrComputeCapabilityMinor                 Attribute = 76
	AttrManagedMemory                          Attribute = 83
	AttrPageableMemoryAccess                   Attribute = 88
	AttrConcurrentManagedAccess                Attribute = 89
	AttrCanUseHostPointerForRegisteredMem      Attribute = 91
	AttrHostRegisterSupported                  Attribute = 99
	AttrPageableMemoryAccessUsesHostPageTables Attribute = 100
	AttrReadOnlyHostRegisterSupported          Attribute = 113
)

var attrNames = map[Attribute]string{
	AttrMaxThreadsPerBlock:                     "MAX_THREADS_PER_BLOCK",
	AttrMultiprocessorCount:                    "MULTIPROCESSOR_COUNT",
	AttrIntegrated:                             "INTEGRATED",
	AttrCanMapHostMemory:                       "CAN_MAP_HOST_MEMORY",
	AttrUnifiedAddressing:                      "UNIFIED_ADDRESSING",
	AttrComputeCapabilityMajor:                 "COMPUTE_CAPABILITY_MAJOR",
	AttrComputeCapabilityMinor:                 "COMPUTE_CAPABILITY_MINOR",
	AttrManagedMemory:                          "MANAGED_MEMORY",
	AttrPageableMemoryAccess:                   "PAGEABLE_MEMORY_ACCESS",
	AttrConcurrentManagedAccess:                "CONCURRENT_MANAGED_ACCESS",
	AttrCanUseHostPointerForRegisteredMem:      "CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM",
	AttrHostRegisterSupported:                  "HOST_REGISTER_SUPPORTED",
	AttrPageableMemoryAccessUsesHostPageTables: "PAGEABLE_MEMORY_ACCESS_USES_HOST_PAGE_TABLES",
	AttrReadOnlyHostRegisterSupported:          "READ_ONLY_HOST_REGISTER_SUPPORTED",
}

func (a Attribute) String() string {
	if s, ok := attrNames[a]; ok {
		return "CU_DEVICE_ATTRIBUTE_" + s
	}
	return fmt.Sprintf("CU_DEVICE_ATTRIBUTE(%d)", int(a))
}

// RegisterFlags are CU_MEMHOSTREGISTER_* flags for HostRegister.
type RegisterFlags uint32

const (
	RegisterPortable  RegisterFlags = 0x1
	RegisterDeviceMap RegisterFlags = 0x2
	RegisterIOMemory  RegisterFlags = 0x4
	// RegisterReadOnly: the device only reads the range. Required to
	// register a PROT_READ mapping unless pageable access uses the host page
	// tables; refused with CUDA_ERROR_NOT_SUPPORTED where
	// AttrReadOnlyHostRegisterSupported is 0 (driver API docs,
	// cuMemHostRegister).
	RegisterReadOnly RegisterFlags = 0x8
)

func (f RegisterFlags) String() string {
	if f == 0 {
		return "0"
	}
	s := ""
	for _, n := range []struct {
		f RegisterFlags
		s string
	}{{RegisterPortable, "PORTABLE"}, {RegisterDeviceMap, "DEVICEMAP"}, {RegisterIOMemory, "IOMEMORY"}, {RegisterReadOnly, "READ_ONLY"}} {
		if f&n.f != 0 {
			if s != "" {
				s += "|"
			}
			s += n.s
		}
	}
	return s
}

// HostAllocFlags are CU_MEMHOSTALLOC_* flags for MemAllocHost.
type HostAllocFlags uint32

const (
	HostAllocPortable      HostAllocFlags = 0x1
	HostAllocDeviceMap     HostAllocFlags = 0x2
	HostAllocWriteCombined HostAllocFlags = 0x4
)

// JITOptions are the options passed to cuModuleLoadDataEx.
type JITOptions struct {
	// LogSize is the size of the info and error log buffers (0: 16 KiB).
	LogSize int
	// OptimizationLevel 1..4 of the JIT's code generation; 0 (the zero
	// value) or negative leaves the driver default, 4, the fastest code.
	OptimizationLevel int
	// MaxRegisters per thread; 0 leaves the JIT to choose.
	MaxRegisters int
}

// CUjit_option values (cuda.h; also listed in the runtime API's cudaJitOption).
const (
	jitMaxRegisters            = 0
	jitInfoLogBuffer           = 3
	jitInfoLogBufferSizeBytes  = 4
	jitErrorLogBuffer          = 5
	jitErrorLogBufferSizeBytes = 6
	jitOptimizationLevel       = 7
	defaultJITLogSize          = 16 << 10
	maxLaunchArgs              = 32
)

// Driver is the part of the CUDA driver API that the backend uses. One
// Driver owns at most one context, on one device; every method may be called
// from any goroutine. Implementations: Open (libcuda.so.1 loaded at run time)
// and cudafake.Driver (tests).
type Driver interface {
	// Name says which implementation and library this is, for logs.
	Name() string
	DriverVersion() (int, error)
	DeviceCount() (int, error)
	DeviceName(dev int) (string, error)
	DeviceAttribute(dev int, a Attribute) (int, error)
	DeviceTotalMem(dev int) (uint64, error)

	// CreateContext makes a context on dev current for all later calls.
	CreateContext(dev int) error
	// DestroyContext releases it; later calls fail until CreateContext.
	DestroyContext() error

	MemAlloc(n int) (DevicePtr, error)
	MemFree(p DevicePtr) error
	// MemAllocHost returns n bytes of page-locked host memory owned by the
	// driver (cuMemHostAlloc); free it with MemFreeHost.
	MemAllocHost(n int, flags HostAllocFlags) ([]byte, error)
	MemFreeHost(b []byte) error
	MemcpyHtoD(dst DevicePtr, src []byte) error
	MemcpyDtoH(dst []byte, src DevicePtr) error

	// HostRegister page-locks b (memory not owned by the Go heap, such as a
	// file mapping) and maps it for the device.
	HostRegister(b []byte, flags RegisterFlags) error
	HostUnregister(b []byte) error
	// HostDevicePointer is the device address of registered or
	// host-allocated memory b.
	HostDevicePointer(b []byte) (DevicePtr, error)

	// ModuleLoad JIT-compiles PTX. The returned log holds the JIT's error
	// log when err is not nil, and its info log otherwise.
	ModuleLoad(ptx []byte, opts JITOptions) (m Module, log string, err error)
	ModuleUnload(m Module) error
	ModuleFunction(m Module, name string) (Function, error)
	// Launch starts f on the context's default stream with the kernel
	// parameters in order (Ptr, I32, U32, F32). Implementations do not keep
	// args after returning, so callers may reuse the slice.
	Launch(f Function, grid, block Dim3, sharedMem int, args []Arg) error
	Synchronize() error

	// Close destroys the context and releases the library.
	Close() error
}

// Result is a CUresult. It implements error, so that
// errors.Is(err, cuda.ErrorNotSupported) works on wrapped errors.
type Result int

// CUresult values used by callers (cuda.h; same list in numba's enums.py).
const (
	Success                    Result = 0
	ErrorInvalidValue          Result = 1
	ErrorOutOfMemory           Result = 2
	ErrorNotInitialized        Result = 3
	ErrorNoDevice              Result = 100
	ErrorInvalidDevice         Result = 101
	ErrorInvalidImage          Result = 200
	ErrorInvalidContext        Result = 201
	ErrorInvalidPTX            Result = 218
	ErrorUnsupportedPTX        Result = 222
	ErrorNotFound              Result = 500
	ErrorLaunchFailed          Result = 700
	ErrorPrimaryContextActive  Result = 708
	ErrorHostAlreadyRegistered Result = 712
	ErrorHostNotRegistered     Result = 713
	ErrorNotSupported          Result = 801
	ErrorSystemDriverMismatch  Result = 803
	ErrorCompatNotSupported    Result = 804
)

var resultNames = map[Result]string{
	Success: "CUDA_SUCCESS", ErrorInvalidValue: "CUDA_ERROR_INVALID_VALUE",
	ErrorOutOfMemory: "CUDA_ERROR_OUT_OF_MEMORY", ErrorNotInitialized: "CUDA_ERROR_NOT_INITIALIZED",
	ErrorNoDevice: "CUDA_ERROR_NO_DEVICE", ErrorInvalidDevice: "CUDA_ERROR_INVALID_DEVICE",
	ErrorInvalidImage: "CUDA_ERROR_INVALID_IMAGE", ErrorInvalidContext: "CUDA_ERROR_INVALID_CONTEXT",
	ErrorInvalidPTX: "CUDA_ERROR_INVALID_PTX", ErrorUnsupportedPTX: "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
	ErrorNotFound: "CUDA_ERROR_NOT_FOUND", ErrorLaunchFailed: "CUDA_ERROR_LAUNCH_FAILED",
	ErrorPrimaryContextActive:  "CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE",
	ErrorHostAlreadyRegistered: "CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED",
	ErrorHostNotRegistered:     "CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED",
	ErrorNotSupported:          "CUDA_ERROR_NOT_SUPPORTED",
	ErrorSystemDriverMismatch:  "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH",
	ErrorCompatNotSupported:    "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE",
}

func (r Result) Error() string {
	if s, ok := resultNames[r]; ok {
		return fmt.Sprintf("%s (%d)", s, int(r))
	}
	return fmt.Sprintf("CUresult %d", int(r))
}

// Error is a failed driver call.
type Error struct {
	Op     string // the driver function, e.g. "cuMemHostRegister_v2"
	Result Result
	Detail string // what the call was doing, may be empty
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%s (%s): %v", e.Op, e.Detail, e.Result)
	}
	return fmt.Sprintf("%s: %v", e.Op, e.Result)
}

func (e *Error) Unwrap() error { return e.Result }

// Errors callers branch on. ErrNoDriver, ErrNoDevice and ErrNoCgo all
// wrap ErrUnavailable: "run on the CPU instead".
var (
	ErrUnavailable = errors.New("CUDA unavailable")
	ErrNoDriver    = fmt.Errorf("%w: no CUDA driver", ErrUnavailable)
	ErrNoDevice    = fmt.Errorf("%w: no CUDA device", ErrUnavailable)
	ErrNoCgo       = fmt.Errorf("%w: built without cgo", ErrUnavailable)
	ErrNoContext   = errors.New("cuda: no context (call CreateContext first)")
	ErrClosed      = errors.New("cuda: driver closed")
)

// ResultOf returns the CUresult carried by err, or Success when there is none.
func ResultOf(err error) Result {
	var r Result
	if errors.As(err, &r) {
		return r
	}
	return Success
}

// ArgKind is the C type of a kernel parameter.
type ArgKind uint8

const (
	ArgInvalid ArgKind = iota
	ArgPtr             // a device pointer (8 bytes)
	ArgI32             // int (4 bytes)
	ArgU32             // unsigned (4 bytes)
	ArgF32             // float (4 bytes)
)

func (k ArgKind) String() string {
	switch k {
	case ArgPtr:
		return "pointer"
	case ArgI32:
		return "int32"
	case ArgU32:
		return "uint32"
	case ArgF32:
		return "float32"
	}
	return "invalid"
}

// Arg is one kernel parameter: its bits as the kernel receives them and its
// type. A plain value, so building an argument list allocates nothing.
type Arg struct {
	Bits uint64
	Kind ArgKind
}

// Ptr, I32, U32 and F32 make kernel parameters.
func Ptr(p DevicePtr) Arg { return Arg{uint64(p), ArgPtr} }
func I32(v int32) Arg     { return Arg{uint64(uint32(v)), ArgI32} }
func U32(v uint32) Arg    { return Arg{uint64(v), ArgU32} }
func F32(v float32) Arg   { return Arg{uint64(math.Float32bits(v)), ArgF32} }

// Size is the parameter's size in bytes (0 for an invalid one).
func (a Arg) Size() int {
	switch a.Kind {
	case ArgPtr:
		return 8
	case ArgI32, ArgU32, ArgF32:
		return 4
	}
	return 0
}

// AsPtr, AsI32 and AsF32 read a parameter back (for fakes and emulators).
func (a Arg) AsPtr() DevicePtr { return DevicePtr(a.Bits) }
func (a Arg) AsI32() int32     { return int32(uint32(a.Bits)) }
func (a Arg) AsF32() float32   { return math.Float32frombits(uint32(a.Bits)) }

// CheckArgs validates an argument list for Launch.
func CheckArgs(args []Arg) error {
	if len(args) > maxLaunchArgs {
		return fmt.Errorf("cuda: %d kernel arguments, at most %d", len(args), maxLaunchArgs)
	}
	for i, a := range args {
		if a.Size() == 0 {
			return fmt.Errorf("cuda: kernel argument %d has no type (use cuda.Ptr, I32, U32 or F32)", i)
		}
	}
	return nil
}

// Memory gives access to the bytes behind device addresses. The fake driver
// implements it so that Go reference kernels can run on fake device memory.
type Memory interface {
	// Bytes returns n bytes at p, failing when p..p+n is not inside one
	// allocation or registration.
	Bytes(p DevicePtr, n int) ([]byte, error)
}
