package telemetry

import (
	"errors"
	"fmt"
	"time"
)

// Telemetry is one source of device readings.
type Telemetry interface {
	// Snapshot reads everything the source offers now. Readings that
	// failed are listed in Snapshot.Missing; the error is only for a source
	// that cannot read anything.
	Snapshot() (Snapshot, error)
	Close() error
}

// Snapshot is one set of readings. Unknown values are negative (load,
// power) or zero (clocks, memory).
type Snapshot struct {
	Time   time.Time
	Source string // "tegra-sysfs" or "nvml"
	Device string // e.g. "ga10b" or "NVIDIA H100 PCIe"

	GPULoadPercent float64 // 0..100, -1 when unknown
	GPUFreqHz      int64
	GPUMaxFreqHz   int64

	Temperatures []Temperature
	Rails        []Rail
	// PowerMilliWatts is the board input (VDD_IN / POM_5V_IN) when a rail
	// measures it, else the sum of the rails; for NVML the GPU's draw; -1
	// when unknown.
	PowerMilliWatts float64

	MemTotalBytes uint64
	MemUsedBytes  uint64

	// Missing says which readings could not be taken, and why.
	Missing []string
}

// Temperature of one thermal zone or sensor.
type Temperature struct {
	Zone    string
	Celsius float64
}

// Rail is one power-monitor channel.
type Rail struct {
	Name       string
	MilliVolts float64
	MilliAmps  float64
	MilliWatts float64
}

// ErrNoSource means neither sysfs nor NVML describes a GPU here.
var ErrNoSource = errors.New("telemetry: no GPU telemetry source")

// Open picks the source for this machine: Jetson sysfs under root ("/" in
// production) when it finds the integrated GPU, else NVML for device index.
func Open(root string, index int) (Telemetry, error) {
	t, errTegra := NewTegra(root)
	if errTegra == nil {
		return t, nil
	}
	n, errNVML := OpenNVML(index)
	if errNVML == nil {
		return n, nil
	}
	return nil, fmt.Errorf("%w: %v; %v", ErrNoSource, errTegra, errNVML)
}
