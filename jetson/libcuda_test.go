//go:build cgo && linux

package jetson

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speakez/barewire/jetson/cuda"
)

// The backend over the real cgo binding, loaded against the stand-in
// libcuda of jetson/cuda/testdata: Open JIT-loads the embedded PTX through
// cuModuleLoadDataEx, and each placement registers or copies a real file
// mapping.
func TestBackendOverCgoBinding(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not installed")
	}
	lib := filepath.Join(t.TempDir(), "libcuda.so.1")
	if out, err := exec.Command("gcc", "-shared", "-fPIC", "-o", lib, "cuda/testdata/fakecuda.c").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	saved := cuda.LibraryPaths
	cuda.LibraryPaths = nil
	defer func() { cuda.LibraryPaths = saved }()
	t.Setenv(cuda.LibraryEnv, lib)
	t.Setenv("FAKECUDA_NO_READONLY", "1")
	t.Setenv(OverrideEnv, "")

	b, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !strings.Contains(b.JITLog(), "fakecuda: compiled") {
		t.Errorf("JIT log %q", b.JITLog())
	}
	m, data := modelFile(t, 5*4096+123)
	defer func(n int) { StagingBytes = n }(StagingBytes)
	StagingBytes = 8192
	for _, c := range []struct {
		o    Override
		want Placement
	}{
		{Auto, HostPointer},               // the stand-in reports pageable access through host page tables
		{ForceInPlace, RegisteredPrivate}, // READ_ONLY refused, so the private mapping is registered
		{ForceDeviceCopy, DeviceCopy},
	} {
		w, err := b.PlaceWeightsWith(m, c.o)
		if err != nil {
			t.Fatalf("%v: %v", c.o, err)
		}
		if w.Policy.Placement != c.want {
			t.Errorf("%v: placed %v, want %v (%s)", c.o, w.Policy.Placement, c.want, w.Policy.Reason)
		}
		got := make([]byte, len(data))
		if err := b.Driver().MemcpyDtoH(got, w.Ptr); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%v: device bytes differ (%v)", c.o, err)
		}
		if err := w.Release(); err != nil {
			t.Errorf("%v: release: %v", c.o, err)
		}
	}

	// The per-token path, launch to synchronize, makes no Go allocation
	// (STYLE.md: no allocation per token).
	buf, err := b.Alloc(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(buf)
	x := make([]byte, 128)
	allocs := testing.AllocsPerRun(100, func() {
		if err := b.Driver().MemcpyHtoD(buf.Ptr, x); err != nil {
			t.Fatal(err)
		}
		if err := b.TMatVec(buf.Ptr, buf.Ptr, 32, 8, buf.Ptr, 1, 0); err != nil {
			t.Fatal(err)
		}
		if err := b.Synchronize(); err != nil {
			t.Fatal(err)
		}
		if err := b.Driver().MemcpyDtoH(x, buf.Ptr); err != nil {
			t.Fatal(err)
		}
		if err := b.Quantize(buf.Ptr, 128, buf.Ptr, buf.Ptr, buf.Ptr, 128, 100, 1); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per token step (copy in, two launches, synchronize, copy out), want 0", allocs)
	}
}
