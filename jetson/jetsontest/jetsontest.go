// Package jetsontest opens jetson Backends on the fake CUDA driver
// (jetson/cuda/cudafake), so that code built on the GPU backend can be
// tested on machines without a GPU. The kernels run either as their Go
// reference (simd on the host: fast, and float results equal the CPU's
// generic tier) or as the CUDA C sources themselves compiled for the host
// (jetson/internal/emu: slower, each GPU thread a fiber, needs cgo).
// Only tests should import it: it links the emulator.
package jetsontest

import (
	"fmt"

	"github.com/speakez/barewire/jetson"
	"github.com/speakez/barewire/jetson/cuda/cudafake"
	"github.com/speakez/barewire/jetson/internal/emu"
	"github.com/speakez/barewire/jetson/kernels"
)

// Kernels selects what runs the launches.
type Kernels int

const (
	// Reference runs kernels.Reference, the Go versions built on simd.
	Reference Kernels = iota
	// Emulated runs the CUDA C sources on host threads (cgo only).
	Emulated
)

func (k Kernels) String() string {
	if k == Emulated {
		return "emulated-cuda"
	}
	return "reference"
}

// EmulatorAvailable reports whether Emulated can be used in this build (it
// needs cgo and a C++ compiler).
const EmulatorAvailable = emu.Available

// Open returns a Backend on a fake driver holding the one device dev (see
// cudafake.Discrete, Orin, Xavier), with the given kernels and weight
// placement override. Close the Backend when done; the driver is returned
// for inspecting its calls and live allocations.
func Open(dev cudafake.Device, k Kernels, o jetson.Override) (*jetson.Backend, *cudafake.Driver, error) {
	f := cudafake.New(dev)
	switch k {
	case Reference:
		f.Kernels = kernels.Reference
	case Emulated:
		if !emu.Available {
			return nil, nil, fmt.Errorf("jetsontest: the kernel emulator needs cgo (this build has CGO_ENABLED=0)")
		}
		f.Kernels = emu.Kernels
	default:
		return nil, nil, fmt.Errorf("jetsontest: kernels %d", int(k))
	}
	b, err := jetson.Open(jetson.Options{Driver: f, Override: o})
	if err != nil {
		return nil, nil, err
	}
	return b, f, nil
}
