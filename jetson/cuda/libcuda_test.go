//go:build cgo && linux

package cuda

import (
	"errors"
	"strings"
	"testing"
)

// The library search must end in ErrNoDriver, naming every path it tried,
// when none of them loads.
func TestOpenMissingLibrary(t *testing.T) {
	saved := LibraryPaths
	defer func() { LibraryPaths = saved }()
	LibraryPaths = []string{"/nonexistent/libcuda.so.1"}
	t.Setenv(LibraryEnv, "/also/missing/libcuda.so.1")
	d, err := Open()
	if err == nil {
		d.Close()
		t.Fatal("Open succeeded with no library")
	}
	if !errors.Is(err, ErrNoDriver) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("error %v does not wrap ErrNoDriver and ErrUnavailable", err)
	}
	for _, want := range []string{"no CUDA driver: libcuda.so.1 not found", "/nonexistent/libcuda.so.1", "/also/missing/libcuda.so.1", LibraryEnv} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// A library that loads but lacks a symbol must be reported by symbol name.
func TestOpenLibraryWithoutSymbols(t *testing.T) {
	saved := LibraryPaths
	defer func() { LibraryPaths = saved }()
	LibraryPaths = []string{"libc.so.6"}
	t.Setenv(LibraryEnv, "")
	d, err := Open()
	if err == nil {
		d.Close()
		t.Fatal("Open accepted libc as a CUDA driver")
	}
	if !errors.Is(err, ErrNoDriver) || !strings.Contains(err.Error(), "symbol cuInit not found") {
		t.Fatalf("got %v, want ErrNoDriver naming cuInit", err)
	}
}
