//go:build cgo && linux

package telemetry

import (
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
)

// After a failed Init no other NVML call may be made: the mock's unset
// functions panic if called, so this test fails if openNVML tries.
func TestNVMLInitFailure(t *testing.T) {
	lib := &mock.Interface{InitFunc: func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }}
	_, err := openNVML(lib, 0)
	if err == nil || !strings.Contains(err.Error(), "NVML unavailable") {
		t.Fatalf("err = %v", err)
	}
	if n := len(lib.InitCalls()); n != 1 {
		t.Fatalf("%d Init calls", n)
	}
}

func TestNVMLSnapshot(t *testing.T) {
	dev := &mock.Device{}
	lib := &mock.Interface{
		InitFunc:                   func() nvml.Return { return nvml.SUCCESS },
		ShutdownFunc:               func() nvml.Return { return nvml.SUCCESS },
		DeviceGetHandleByIndexFunc: func(int) (nvml.Device, nvml.Return) { return dev, nvml.SUCCESS },
		DeviceGetNameFunc:          func(nvml.Device) (string, nvml.Return) { return "NVIDIA H100 PCIe", nvml.SUCCESS },
		DeviceGetUtilizationRatesFunc: func(nvml.Device) (nvml.Utilization, nvml.Return) {
			return nvml.Utilization{Gpu: 87}, nvml.SUCCESS
		},
		DeviceGetClockInfoFunc: func(nvml.Device, nvml.ClockType) (uint32, nvml.Return) { return 1755, nvml.SUCCESS },
		DeviceGetMaxClockInfoFunc: func(nvml.Device, nvml.ClockType) (uint32, nvml.Return) {
			return 0, nvml.ERROR_NOT_SUPPORTED
		},
		DeviceGetTemperatureFunc: func(nvml.Device, nvml.TemperatureSensors) (uint32, nvml.Return) { return 51, nvml.SUCCESS },
		DeviceGetPowerUsageFunc:  func(nvml.Device) (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED },
		DeviceGetMemoryInfoFunc: func(nvml.Device) (nvml.Memory, nvml.Return) {
			return nvml.Memory{Total: 80 << 30, Used: 3 << 30}, nvml.SUCCESS
		},
	}
	n, err := openNVML(lib, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := n.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if s.Device != "NVIDIA H100 PCIe" || s.GPULoadPercent != 87 || s.GPUFreqHz != 1755e6 || s.GPUMaxFreqHz != 0 ||
		s.PowerMilliWatts != -1 || s.MemTotalBytes != 80<<30 || s.Temperatures[0].Celsius != 51 {
		t.Errorf("snapshot %+v", s)
	}
	if len(s.Missing) != 2 || !strings.HasPrefix(s.Missing[0], "gpu max clock") || !strings.HasPrefix(s.Missing[1], "power") {
		t.Errorf("missing %v", s.Missing)
	}
	if err := n.Close(); err != nil || len(lib.ShutdownCalls()) != 1 {
		t.Fatalf("Close: %v", err)
	}
}
