package jetson

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speakez/barewire/jetson/cuda"
	"github.com/speakez/barewire/jetson/cuda/cudafake"
	"github.com/speakez/barewire/jetson/kernels"
)

func capsOf(t *testing.T, dev cudafake.Device) Capabilities {
	t.Helper()
	c, err := Probe(cudafake.New(dev), 0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestProbe(t *testing.T) {
	c := capsOf(t, cudafake.Xavier())
	if !c.Integrated || !c.HostRegisterSupported || c.ReadOnlyHostRegister || c.CCMajor != 7 || c.CCMinor != 2 || c.Name != "Fake Xavier" {
		t.Fatalf("Xavier probed as %+v", c)
	}
	if _, err := Probe(cudafake.New(), 0); !errors.Is(err, cuda.ErrNoDevice) {
		t.Fatalf("no devices: %v, want ErrNoDevice", err)
	}
	if _, err := Probe(cudafake.New(cudafake.Orin()), 3); err == nil || !strings.Contains(err.Error(), "device 3 requested, the driver reports 1") {
		t.Fatalf("bad ordinal: %v", err)
	}
}

func TestDecide(t *testing.T) {
	thor := cudafake.Orin().With(cuda.AttrPageableMemoryAccess, 1).With(cuda.AttrPageableMemoryAccessUsesHostPageTables, 1)
	old := cudafake.Orin().With(cuda.AttrHostRegisterSupported, 0)
	for _, c := range []struct {
		name  string
		dev   cudafake.Device
		o     Override
		steps []Placement
		flags cuda.RegisterFlags
		want  string
	}{
		{"h100", cudafake.Discrete(), Auto, []Placement{DeviceCopy}, 0, "discrete GPU"},
		{"orin", cudafake.Orin(), Auto, []Placement{Registered, RegisteredPrivate, DeviceCopy}, cuda.RegisterDeviceMap | cuda.RegisterReadOnly, "read-only"},
		{"xavier", cudafake.Xavier(), Auto, []Placement{Registered, RegisteredPrivate, DeviceCopy}, cuda.RegisterDeviceMap, "registered and read"},
		{"thor", thor, Auto, []Placement{HostPointer, Registered, DeviceCopy}, cuda.RegisterDeviceMap | cuda.RegisterReadOnly, "host page tables"},
		{"no-register", old, Auto, []Placement{DeviceCopy}, 0, "without host registration"},
		{"h100-forced", cudafake.Discrete(), ForceInPlace, []Placement{Registered, RegisteredPrivate}, cuda.RegisterDeviceMap | cuda.RegisterReadOnly, "forced"},
		{"orin-copy", cudafake.Orin(), ForceDeviceCopy, []Placement{DeviceCopy}, 0, "forced"},
	} {
		p := Decide(capsOf(t, c.dev), c.o)
		if len(p.Steps) != len(c.steps) || (len(c.steps) > 0 && !equalSteps(p.Steps, c.steps)) {
			t.Errorf("%s: steps %v, want %v", c.name, p.Steps, c.steps)
		}
		if p.Steps[0] != DeviceCopy && p.RegisterFlags != c.flags {
			t.Errorf("%s: flags %v, want %v", c.name, p.RegisterFlags, c.flags)
		}
		if !strings.Contains(p.Reason, c.want) {
			t.Errorf("%s: reason %q lacks %q", c.name, p.Reason, c.want)
		}
	}
}

func equalSteps(a, b []Placement) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseOverride(t *testing.T) {
	for s, want := range map[string]Override{"": Auto, "auto": Auto, "inplace": ForceInPlace, "Device": ForceDeviceCopy} {
		if got, err := ParseOverride(s); err != nil || got != want {
			t.Errorf("ParseOverride(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseOverride("gpu"); err == nil || !strings.Contains(err.Error(), `"gpu"`) {
		t.Errorf("bad word: %v", err)
	}
}

// modelFile writes n pseudo-random bytes and maps them.
func modelFile(t *testing.T, n int) (*MappedFile, []byte) {
	t.Helper()
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i*131 + i>>8)
	}
	path := filepath.Join(t.TempDir(), "model.bwm")
	if err := os.WriteFile(path, data, 0o444); err != nil {
		t.Fatal(err)
	}
	m, err := MapFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, data
}

func openFake(t *testing.T, f *cudafake.Driver, o Override) *Backend {
	t.Helper()
	f.Kernels = kernels.Reference
	b, err := Open(Options{Driver: f, Override: o})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// place puts the file on the fake device and checks that the device sees
// exactly the file's bytes at the returned address.
func place(t *testing.T, f *cudafake.Driver, b *Backend, src WeightSource, want []byte) *Weights {
	t.Helper()
	w, err := b.PlaceWeights(src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Bytes(w.Ptr, len(want))
	if err != nil {
		t.Fatalf("%v: device cannot read the weights: %v", w.Policy.Placement, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%v: device sees different bytes", w.Policy.Placement)
	}
	return w
}

func released(t *testing.T, f *cudafake.Driver, w *Weights) {
	t.Helper()
	if err := w.Release(); err != nil {
		t.Fatal(err)
	}
	if a, r, h := f.Live(); a+r+h != 0 {
		t.Fatalf("after Release: %d allocations, %d registrations, %d host allocations live", a, r, h)
	}
}

func TestPlaceOrinReadOnlyInPlace(t *testing.T) {
	f := cudafake.New(cudafake.Orin())
	b := openFake(t, f, Auto)
	m, data := modelFile(t, 3*4096+100)
	w := place(t, f, b, m, data)
	p := w.Policy
	if p.Placement != Registered || p.Model != UnifiedAddressSpace || p.Session() != PartiallyUnifiedHybrid {
		t.Fatalf("policy %+v", p)
	}
	if w.Ptr != hostAddr(m.Bytes()) {
		t.Errorf("device pointer %#x, want the host address (attribute 91 is set)", uint64(w.Ptr))
	}
	calls := f.Calls()
	var reg string
	for _, c := range calls {
		if c.Op == "cuMemHostRegister_v2" {
			reg = c.Detail
		}
	}
	if !strings.Contains(reg, "DEVICEMAP|READ_ONLY") {
		t.Errorf("registered with %q, want DEVICEMAP|READ_ONLY", reg)
	}
	if f.Count("cuMemAlloc_v2") != 0 {
		t.Error("in-place placement allocated device memory")
	}
	released(t, f, w)
}

// Xavier has no read-only registration; a PROT_READ mapping then cannot be
// registered (the write pin fails), so the private mapping is used.
func TestPlaceXavierFallsBackToPrivateMapping(t *testing.T) {
	f := cudafake.New(cudafake.Xavier().With(cuda.AttrCanUseHostPointerForRegisteredMem, 0))
	b := openFake(t, f, Auto)
	m, data := modelFile(t, 2*4096)
	f.RegisterHook = func(r []byte, flags cuda.RegisterFlags) error {
		if hostAddr(r) == hostAddr(m.Bytes()) && flags&cuda.RegisterReadOnly == 0 {
			return &cuda.Error{Op: "cuMemHostRegister_v2", Result: cuda.ErrorInvalidValue, Detail: "read-only mapping"}
		}
		return nil
	}
	w := place(t, f, b, m, data)
	if w.Policy.Placement != RegisteredPrivate || w.Policy.Model != UnifiedAddressSpace {
		t.Fatalf("placement %v", w.Policy.Placement)
	}
	if !strings.Contains(w.Policy.Reason, "fell back: registered failed") || !strings.Contains(w.Policy.Reason, "CUDA_ERROR_INVALID_VALUE") {
		t.Errorf("reason %q does not explain the fallback", w.Policy.Reason)
	}
	if w.Ptr == hostAddr(m.Bytes()) {
		t.Error("private placement points at the shared mapping")
	}
	if len(w.Policy.Attempts) != 2 || w.Policy.Attempts[0].Err == nil || w.Policy.Attempts[1].Err != nil {
		t.Errorf("attempts %+v", w.Policy.Attempts)
	}
	released(t, f, w)
}

type evictRecorder struct {
	HostBytes
	evicted int
}

func (e *evictRecorder) Evict(off, n int) error { e.evicted += n; return nil }

// Registration refused outright: the weights are copied, in chunks through
// a pinned staging buffer, and the source pages are dropped.
func TestPlaceRegistrationRefusedCopies(t *testing.T) {
	defer func(n int) { StagingBytes = n }(StagingBytes)
	StagingBytes = 4096
	f := cudafake.New(cudafake.Orin())
	f.Fail["cuMemHostRegister_v2"] = cuda.ErrorNotSupported
	b := openFake(t, f, Auto)
	_, data := modelFile(t, 3*4096+10)
	src := &evictRecorder{HostBytes: HostBytes(data)}
	w := place(t, f, b, src, data)
	if w.Policy.Placement != DeviceCopy || w.Policy.Model != DiscreteDevices || w.Policy.Session() != DiscreteDevices {
		t.Fatalf("policy %+v", w.Policy)
	}
	if n := f.Count("cuMemcpyHtoD_v2"); n != 4 {
		t.Errorf("%d copies, want 4 chunks of 4096", n)
	}
	if n := f.Count("cuMemHostAlloc"); n != 1 {
		t.Errorf("%d staging allocations, want 1", n)
	}
	if src.evicted != len(data) {
		t.Errorf("evicted %d of %d bytes", src.evicted, len(data))
	}
	// HostBytes cannot map privately: the reason must say so.
	if !strings.Contains(w.Policy.Reason, "cannot make a private mapping") {
		t.Errorf("reason %q", w.Policy.Reason)
	}
	released(t, f, w)
}

func TestPlaceDiscreteCopiesWithoutStaging(t *testing.T) {
	f := cudafake.New(cudafake.Discrete())
	f.Fail["cuMemHostAlloc"] = cuda.ErrorOutOfMemory
	b := openFake(t, f, Auto)
	_, data := modelFile(t, 5000)
	w := place(t, f, b, HostBytes(data), data)
	if w.Policy.Placement != DeviceCopy || f.Count("cuMemHostRegister_v2") != 0 {
		t.Fatalf("discrete: %v, %d registrations", w.Policy.Placement, f.Count("cuMemHostRegister_v2"))
	}
	released(t, f, w)
}

func TestPlaceOutOfMemory(t *testing.T) {
	dev := cudafake.Discrete()
	dev.TotalMem = 4096
	f := cudafake.New(dev)
	b := openFake(t, f, Auto)
	_, data := modelFile(t, 8192)
	_, err := b.PlaceWeights(HostBytes(data))
	if !errors.Is(err, ErrPlacement) || !errors.Is(err, cuda.ErrorOutOfMemory) {
		t.Fatalf("err = %v, want ErrPlacement wrapping out of memory", err)
	}
	if !strings.Contains(err.Error(), "device-copy failed") {
		t.Errorf("error %q does not name the failed step", err)
	}
}

// Forcing in-place on a discrete GPU exercises the Jetson path; when it
// fails it must fail, not quietly copy.
func TestForceInPlaceOnDiscrete(t *testing.T) {
	f := cudafake.New(cudafake.Discrete())
	b := openFake(t, f, ForceInPlace)
	m, data := modelFile(t, 4096)
	w := place(t, f, b, m, data)
	if w.Policy.Placement != Registered {
		t.Fatalf("forced in place gave %v", w.Policy.Placement)
	}
	released(t, f, w)

	f.Fail["cuMemHostRegister_v2"] = cuda.ErrorNotSupported
	if _, err := b.PlaceWeights(m); !errors.Is(err, ErrPlacement) || !errors.Is(err, cuda.ErrorNotSupported) {
		t.Fatalf("forced in place with registration refused: %v", err)
	}
	if f.Count("cuMemAlloc_v2") != 0 {
		t.Error("forced in place fell back to a device copy")
	}
}

func TestPlaceHostPointer(t *testing.T) {
	thor := cudafake.Orin().With(cuda.AttrPageableMemoryAccess, 1).With(cuda.AttrPageableMemoryAccessUsesHostPageTables, 1)
	f := cudafake.New(thor)
	b := openFake(t, f, Auto)
	m, _ := modelFile(t, 4096)
	w, err := b.PlaceWeights(m)
	if err != nil {
		t.Fatal(err)
	}
	if w.Policy.Placement != HostPointer || w.Ptr != hostAddr(m.Bytes()) || f.Count("cuMemHostRegister_v2") != 0 {
		t.Fatalf("host pointer placement: %v at %#x", w.Policy.Placement, uint64(w.Ptr))
	}
}

func TestOverrideFromEnvironment(t *testing.T) {
	t.Setenv(OverrideEnv, "device")
	f := cudafake.New(cudafake.Orin())
	b := openFake(t, f, Auto)
	if b.Override() != ForceDeviceCopy {
		t.Fatalf("override %v", b.Override())
	}
	t.Setenv(OverrideEnv, "sideways")
	if _, err := Open(Options{Driver: cudafake.New(cudafake.Orin())}); err == nil || !strings.Contains(err.Error(), OverrideEnv) {
		t.Fatalf("bad %s: %v", OverrideEnv, err)
	}
}

func TestOpenFailures(t *testing.T) {
	if _, err := Open(Options{Driver: cudafake.New()}); !errors.Is(err, cuda.ErrNoDevice) {
		t.Errorf("no device: %v", err)
	}
	tx2 := cudafake.Orin().With(cuda.AttrComputeCapabilityMajor, 6).With(cuda.AttrComputeCapabilityMinor, 2)
	if _, err := Open(Options{Driver: cudafake.New(tx2)}); !errors.Is(err, cuda.ErrNoDevice) || !strings.Contains(err.Error(), "6.2") {
		t.Errorf("sm_62: %v", err)
	}
	f := cudafake.New(cudafake.Orin())
	f.Fail["cuModuleLoadDataEx"] = cuda.ErrorUnsupportedPTX
	_, err := Open(Options{Driver: f})
	if !errors.Is(err, cuda.ErrorUnsupportedPTX) || !strings.Contains(err.Error(), "ptxas fatal") || !strings.Contains(err.Error(), "ternary.ptx") {
		t.Errorf("JIT failure: %v", err)
	}
	if f.Count("cuDevicePrimaryCtxRelease_v2") != 1 {
		t.Errorf("context not released after a failed Open: %v", f.Ops())
	}
}

func TestMappedFilePrivate(t *testing.T) {
	m, data := modelFile(t, 2*4096)
	priv, unmap, err := m.MapPrivate()
	if err != nil {
		t.Fatal(err)
	}
	priv[0] ^= 0xff // copy on write: neither the file nor the shared mapping changes
	if m.Bytes()[0] != data[0] {
		t.Fatal("writing the private mapping changed the shared one")
	}
	if err := unmap(); err != nil {
		t.Fatal(err)
	}
	if err := m.Evict(0, len(data)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Bytes(), data) {
		t.Fatal("evicted pages did not read back from the file")
	}
}
