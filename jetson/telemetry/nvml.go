//go:build cgo && linux

package telemetry

import (
	"fmt"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// NVML reads a discrete GPU through go-nvml.
type NVML struct {
	lib  nvml.Interface
	dev  nvml.Device
	name string
}

// OpenNVML initializes NVML (libnvidia-ml.so.1, loaded at run time) and
// opens GPU index.
func OpenNVML(index int) (*NVML, error) { return openNVML(nvml.New(), index) }

// openNVML is OpenNVML on any nvml.Interface (go-nvml's mock in tests). No
// other NVML function is called unless Init succeeded: after a failed Init
// they abort the process with an unresolved symbol (reference/jetson.md §4.2).
func openNVML(lib nvml.Interface, index int) (*NVML, error) {
	if r := lib.Init(); r != nvml.SUCCESS {
		return nil, fmt.Errorf("telemetry: NVML unavailable: nvmlInit: %s (code %d)", nvml.ErrorString(r), int32(r))
	}
	dev, r := lib.DeviceGetHandleByIndex(index)
	if r != nvml.SUCCESS {
		lib.Shutdown()
		return nil, fmt.Errorf("telemetry: NVML device %d: %s", index, nvml.ErrorString(r))
	}
	n := &NVML{lib: lib, dev: dev}
	if name, r := lib.DeviceGetName(dev); r == nvml.SUCCESS {
		n.name = name
	}
	return n, nil
}

// Close shuts NVML down.
func (n *NVML) Close() error {
	if r := n.lib.Shutdown(); r != nvml.SUCCESS {
		return fmt.Errorf("telemetry: nvmlShutdown: %s", nvml.ErrorString(r))
	}
	return nil
}

// Snapshot reads each metric on its own: on Jetson Thor and some boards
// many return NOT_SUPPORTED while others work.
func (n *NVML) Snapshot() (Snapshot, error) {
	s := Snapshot{Time: time.Now(), Source: "nvml", Device: n.name, GPULoadPercent: -1, PowerMilliWatts: -1}
	miss := func(what string, r nvml.Return) { s.Missing = append(s.Missing, what+": "+nvml.ErrorString(r)) }
	l := n.lib
	if u, r := l.DeviceGetUtilizationRates(n.dev); r == nvml.SUCCESS {
		s.GPULoadPercent = float64(u.Gpu)
	} else {
		miss("gpu load", r)
	}
	if mhz, r := l.DeviceGetClockInfo(n.dev, nvml.CLOCK_GRAPHICS); r == nvml.SUCCESS {
		s.GPUFreqHz = int64(mhz) * 1e6
	} else {
		miss("gpu clock", r)
	}
	if mhz, r := l.DeviceGetMaxClockInfo(n.dev, nvml.CLOCK_GRAPHICS); r == nvml.SUCCESS {
		s.GPUMaxFreqHz = int64(mhz) * 1e6
	} else {
		miss("gpu max clock", r)
	}
	if c, r := l.DeviceGetTemperature(n.dev, nvml.TEMPERATURE_GPU); r == nvml.SUCCESS {
		s.Temperatures = []Temperature{{Zone: "gpu", Celsius: float64(c)}}
	} else {
		miss("temperature", r)
	}
	if mw, r := l.DeviceGetPowerUsage(n.dev); r == nvml.SUCCESS {
		s.PowerMilliWatts = float64(mw)
	} else {
		miss("power", r)
	}
	if m, r := l.DeviceGetMemoryInfo(n.dev); r == nvml.SUCCESS {
		s.MemTotalBytes, s.MemUsedBytes = m.Total, m.Used
	} else {
		miss("memory", r)
	}
	return s, nil
}
