package cuda

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestErrorWrapsResult(t *testing.T) {
	err := fmt.Errorf("placing weights: %w", &Error{Op: "cuMemHostRegister_v2", Result: ErrorNotSupported, Detail: "4096 bytes"})
	if !errors.Is(err, ErrorNotSupported) {
		t.Fatalf("errors.Is(%v, ErrorNotSupported) = false", err)
	}
	if errors.Is(err, ErrorOutOfMemory) {
		t.Fatalf("errors.Is(%v, ErrorOutOfMemory) = true", err)
	}
	if got := ResultOf(err); got != ErrorNotSupported {
		t.Fatalf("ResultOf = %v", got)
	}
	want := "cuMemHostRegister_v2 (4096 bytes): CUDA_ERROR_NOT_SUPPORTED (801)"
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("message %q lacks %q", err, want)
	}
	if ResultOf(errors.New("other")) != Success {
		t.Fatal("ResultOf of a non-CUDA error is not Success")
	}
}

func TestSentinels(t *testing.T) {
	for _, e := range []error{ErrNoDriver, ErrNoDevice, ErrNoCgo} {
		if !errors.Is(e, ErrUnavailable) {
			t.Errorf("%v does not wrap ErrUnavailable", e)
		}
	}
	if errors.Is(ErrNoDevice, ErrNoDriver) {
		t.Error("ErrNoDevice must not match ErrNoDriver")
	}
}

func TestNames(t *testing.T) {
	if got := (RegisterDeviceMap | RegisterReadOnly).String(); got != "DEVICEMAP|READ_ONLY" {
		t.Errorf("flags = %q", got)
	}
	if got := AttrReadOnlyHostRegisterSupported.String(); got != "CU_DEVICE_ATTRIBUTE_READ_ONLY_HOST_REGISTER_SUPPORTED" {
		t.Errorf("attr = %q", got)
	}
	if got := Attribute(9999).String(); got != "CU_DEVICE_ATTRIBUTE(9999)" {
		t.Errorf("unknown attr = %q", got)
	}
	if got := Result(42).Error(); got != "CUresult 42" {
		t.Errorf("unknown result = %q", got)
	}
}

func TestArgs(t *testing.T) {
	for _, c := range []struct {
		a    Arg
		size int
	}{{Ptr(1), 8}, {I32(-1), 4}, {U32(1), 4}, {F32(1), 4}} {
		if c.a.Size() != c.size {
			t.Errorf("%v: size %d", c.a.Kind, c.a.Size())
		}
	}
	if I32(-7).AsI32() != -7 || I32(-7).Bits != 0xfffffff9 || F32(1.5).AsF32() != 1.5 || Ptr(0xdeadbeef00).AsPtr() != 0xdeadbeef00 {
		t.Error("parameters do not round-trip")
	}
	if err := CheckArgs([]Arg{Ptr(1), {}}); err == nil || !strings.Contains(err.Error(), "argument 1 has no type") {
		t.Errorf("CheckArgs with a zero Arg: %v", err)
	}
	if err := CheckArgs(make([]Arg, 33)); err == nil || !strings.Contains(err.Error(), "33 kernel arguments") {
		t.Errorf("CheckArgs with 33 arguments: %v", err)
	}
}
