package jetson

import (
	"errors"
	"fmt"
	"strings"

	"github.com/speakez/barewire/jetson/cuda"
)

// Capabilities are the facts about a device that decide where weights go.
// They come from device attributes (Probe), never from the device's name.
type Capabilities struct {
	Device          int
	Name            string
	DriverVersion   int // e.g. 12060 for CUDA 12.6
	CCMajor         int
	CCMinor         int
	TotalMem        uint64
	Multiprocessors int

	Integrated                  bool // CU_DEVICE_ATTRIBUTE_INTEGRATED (18): shares DRAM with the CPU
	CanMapHostMemory            bool // CAN_MAP_HOST_MEMORY (19)
	UnifiedAddressing           bool // UNIFIED_ADDRESSING (41)
	PageableMemoryAccess        bool // PAGEABLE_MEMORY_ACCESS (88): HMM/ATS, any host pointer works
	ConcurrentManagedAccess     bool // CONCURRENT_MANAGED_ACCESS (89)
	HostPointerForRegisteredMem bool // CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM (91)
	HostRegisterSupported       bool // HOST_REGISTER_SUPPORTED (99)
	PageableUsesHostPageTables  bool // PAGEABLE_MEMORY_ACCESS_USES_HOST_PAGE_TABLES (100)
	ReadOnlyHostRegister        bool // READ_ONLY_HOST_REGISTER_SUPPORTED (113)
}

// Probe reads the capabilities of device dev.
func Probe(drv cuda.Driver, dev int) (Capabilities, error) {
	c := Capabilities{Device: dev}
	n, err := drv.DeviceCount()
	if err != nil {
		return c, fmt.Errorf("jetson: counting devices: %w", err)
	}
	if dev < 0 || dev >= n {
		if n == 0 {
			return c, fmt.Errorf("%w: the driver reports 0 devices", cuda.ErrNoDevice)
		}
		return c, fmt.Errorf("jetson: device %d requested, the driver reports %d", dev, n)
	}
	if c.Name, err = drv.DeviceName(dev); err != nil {
		return c, fmt.Errorf("jetson: device %d: %w", dev, err)
	}
	if c.DriverVersion, err = drv.DriverVersion(); err != nil {
		return c, fmt.Errorf("jetson: %w", err)
	}
	if c.TotalMem, err = drv.DeviceTotalMem(dev); err != nil {
		return c, fmt.Errorf("jetson: device %d: %w", dev, err)
	}
	ints := []struct {
		a cuda.Attribute
		p *int
	}{{cuda.AttrComputeCapabilityMajor, &c.CCMajor}, {cuda.AttrComputeCapabilityMinor, &c.CCMinor}, {cuda.AttrMultiprocessorCount, &c.Multiprocessors}}
	for _, a := range ints {
		if *a.p, err = drv.DeviceAttribute(dev, a.a); err != nil {
			return c, fmt.Errorf("jetson: device %d: %w", dev, err)
		}
	}
	bools := []struct {
		a cuda.Attribute
		p *bool
	}{
		{cuda.AttrIntegrated, &c.Integrated}, {cuda.AttrCanMapHostMemory, &c.CanMapHostMemory},
		{cuda.AttrUnifiedAddressing, &c.UnifiedAddressing}, {cuda.AttrPageableMemoryAccess, &c.PageableMemoryAccess},
		{cuda.AttrConcurrentManagedAccess, &c.ConcurrentManagedAccess},
		{cuda.AttrCanUseHostPointerForRegisteredMem, &c.HostPointerForRegisteredMem},
		{cuda.AttrHostRegisterSupported, &c.HostRegisterSupported},
		{cuda.AttrPageableMemoryAccessUsesHostPageTables, &c.PageableUsesHostPageTables},
		{cuda.AttrReadOnlyHostRegisterSupported, &c.ReadOnlyHostRegister},
	}
	for _, a := range bools {
		v, err := drv.DeviceAttribute(dev, a.a)
		if err != nil {
			// Old drivers do not know the newer attributes (113 came with
			// CUDA 11.1): treat an unknown attribute as "not supported".
			if cuda.ResultOf(err) == cuda.ErrorInvalidValue {
				continue
			}
			return c, fmt.Errorf("jetson: device %d: %w", dev, err)
		}
		*a.p = v != 0
	}
	return c, nil
}

// Override forces a weight placement instead of the one the attributes
// suggest.
type Override int

const (
	// Auto decides from the device attributes.
	Auto Override = iota
	// ForceInPlace registers the mapping and reads it in place even on a
	// discrete GPU (over PCIe: slow, but the Jetson code path), with no
	// fallback to a device copy.
	ForceInPlace
	// ForceDeviceCopy copies the weights to device memory even on an
	// integrated GPU.
	ForceDeviceCopy
)

// ParseOverride parses "auto", "inplace" or "device" (the words of the
// BAREWIRE_GPU_WEIGHTS environment variable and of command-line flags).
func ParseOverride(s string) (Override, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return Auto, nil
	case "inplace", "in-place", "zerocopy", "unified":
		return ForceInPlace, nil
	case "device", "copy", "discrete":
		return ForceDeviceCopy, nil
	}
	return Auto, fmt.Errorf("jetson: weight placement %q: want auto, inplace or device", s)
}

func (o Override) String() string {
	switch o {
	case Auto:
		return "auto"
	case ForceInPlace:
		return "inplace"
	case ForceDeviceCopy:
		return "device"
	}
	return fmt.Sprintf("Override(%d)", int(o))
}

// MemoryModel names where a model's bytes live (DESIGN.md "Memory models").
type MemoryModel int

const (
	// DiscreteDevices: weights copied once into device memory.
	DiscreteDevices MemoryModel = iota
	// UnifiedAddressSpace: the mapped file is read in place by the GPU.
	UnifiedAddressSpace
	// PartiallyUnifiedHybrid: weights in place, hot state (KV cache,
	// activations) in device memory. This is what a session runs with when
	// the weights are UnifiedAddressSpace, since state always lives in
	// device memory (CUDA for Tegra app note §4.1).
	PartiallyUnifiedHybrid
)

func (m MemoryModel) String() string {
	switch m {
	case DiscreteDevices:
		return "DiscreteDevices"
	case UnifiedAddressSpace:
		return "UnifiedAddressSpace"
	case PartiallyUnifiedHybrid:
		return "PartiallyUnifiedHybrid"
	}
	return fmt.Sprintf("MemoryModel(%d)", int(m))
}

// Placement is one way of making weights visible to the GPU.
type Placement int

const (
	// HostPointer: the GPU dereferences the mapping's own addresses
	// (pageable memory access through the host page tables: Thor, Grace).
	HostPointer Placement = iota
	// Registered: the mapping itself is registered (cuMemHostRegister,
	// DEVICEMAP, READ_ONLY where supported) and read in place.
	Registered
	// RegisteredPrivate: a private writable mapping of the same file is
	// registered with default flags; registration pins, and so copies, the
	// pages into anonymous memory, but kernels still read host memory in place.
	RegisteredPrivate
	// DeviceCopy: copied once into device memory through a pinned staging
	// buffer.
	DeviceCopy
)

func (p Placement) String() string {
	switch p {
	case HostPointer:
		return "host-pointer"
	case Registered:
		return "registered"
	case RegisteredPrivate:
		return "registered-private"
	case DeviceCopy:
		return "device-copy"
	}
	return fmt.Sprintf("Placement(%d)", int(p))
}

// Model is the memory model of weights placed this way.
func (p Placement) Model() MemoryModel {
	if p == DeviceCopy {
		return DiscreteDevices
	}
	return UnifiedAddressSpace
}

// Plan is the ordered list of placements to try, with the reason for it.
type Plan struct {
	Steps         []Placement
	RegisterFlags cuda.RegisterFlags // for the Registered step
	Reason        string
}

func (p Plan) String() string {
	s := make([]string, len(p.Steps))
	for i, st := range p.Steps {
		s[i] = st.String()
		if st == Registered {
			s[i] += "(" + p.RegisterFlags.String() + ")"
		}
	}
	return strings.Join(s, " → ") + ": " + p.Reason
}

// Decide is the memory policy as a pure function of the capabilities
// (reference/jetson.md §2, policy table):
//   - integrated GPU whose pageable accesses use the host page tables: use
//     the mapping's addresses directly;
//   - integrated GPU with host registration (Xavier, Orin on Linux): register
//     the mapping (READ_ONLY where attribute 113 says so), else a private
//     mapping, else copy;
//   - anything else (discrete GPUs, integrated ones without registration):
//     copy once. Reading weights over PCIe on every token would cap decode
//     at link speed (CUDA Best Practices Guide, "Zero Copy").
func Decide(c Capabilities, o Override) Plan {
	regFlags := cuda.RegisterDeviceMap
	ro := ""
	if c.ReadOnlyHostRegister {
		regFlags |= cuda.RegisterReadOnly
		ro = " read-only"
	}
	switch o {
	case ForceDeviceCopy:
		return Plan{Steps: []Placement{DeviceCopy}, Reason: "device copy forced by override"}
	case ForceInPlace:
		return Plan{Steps: []Placement{Registered, RegisteredPrivate}, RegisterFlags: regFlags,
			Reason: fmt.Sprintf("in-place%s registration forced by override (integrated=%v); no device-copy fallback", ro, c.Integrated)}
	}
	switch {
	case !c.Integrated:
		return Plan{Steps: []Placement{DeviceCopy},
			Reason: "discrete GPU: weights copied once to device memory (in place they would cross PCIe on every token)"}
	case c.PageableMemoryAccess && c.PageableUsesHostPageTables:
		return Plan{Steps: []Placement{HostPointer, Registered, DeviceCopy}, RegisterFlags: regFlags,
			Reason: "integrated GPU that reads pageable memory through the host page tables: mapping used in place"}
	case c.HostRegisterSupported && c.CanMapHostMemory:
		return Plan{Steps: []Placement{Registered, RegisteredPrivate, DeviceCopy}, RegisterFlags: regFlags,
			Reason: fmt.Sprintf("integrated GPU with host registration: mapping registered%s and read in place", ro)}
	default:
		return Plan{Steps: []Placement{DeviceCopy},
			Reason: "integrated GPU without host registration (compute capability below 7.2 or not Linux): weights copied"}
	}
}

// WeightSource is a region of mapped model bytes. mmapmodel's mappings
// satisfy it; HostBytes wraps a plain slice. The region must not be Go heap
// memory when it is registered (use a file mapping or MapFile).
type WeightSource interface {
	Bytes() []byte
}

// PrivateMapper is implemented by sources that can map the same bytes again
// as a private writable mapping (the RegisteredPrivate fallback).
type PrivateMapper interface {
	MapPrivate() (b []byte, unmap func() error, err error)
}

// Evicter is implemented by sources that can drop pages already copied to
// the device (madvise MADV_DONTNEED), so that page cache and device copy are
// not both resident.
type Evicter interface {
	Evict(off, n int) error
}

// HostBytes is a WeightSource over a slice.
type HostBytes []byte

// Bytes returns the slice.
func (h HostBytes) Bytes() []byte { return h }

// Attempt is one tried placement.
type Attempt struct {
	Placement Placement
	Err       error // nil for the one that worked
}

// Policy is what PlaceWeights did and why.
type Policy struct {
	Placement Placement
	Model     MemoryModel // of the weights
	Plan      Plan
	Attempts  []Attempt
	Reason    string // one human sentence, for logs and `edge-agent inspect`
}

// Session is the memory model a session runs with: state is always in
// device memory, so in-place weights make a PartiallyUnifiedHybrid.
func (p Policy) Session() MemoryModel {
	if p.Model == UnifiedAddressSpace {
		return PartiallyUnifiedHybrid
	}
	return DiscreteDevices
}

func (p Policy) String() string { return p.Reason }

// ErrPlacement means no placement of the plan worked.
var ErrPlacement = errors.New("jetson: weights could not be placed")
