//go:build !(cgo && linux)

package telemetry

import "fmt"

// NVML is unavailable in builds without cgo: go-nvml needs it.
type NVML struct{}

// OpenNVML fails in this build.
func OpenNVML(index int) (*NVML, error) {
	return nil, fmt.Errorf("telemetry: NVML unavailable: built without cgo (go-nvml needs CGO_ENABLED=1 on Linux)")
}

// Close does nothing.
func (n *NVML) Close() error { return nil }

// Snapshot fails.
func (n *NVML) Snapshot() (Snapshot, error) {
	return Snapshot{}, fmt.Errorf("telemetry: NVML unavailable")
}
