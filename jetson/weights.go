package jetson

import (
	"errors"
	"fmt"
	"strings"

	"github.com/speakez/barewire/jetson/cuda"
)

// StagingBytes is the size of the pinned buffer a device copy goes through.
// Pageable-source copies are staged by the driver anyway; doing it ourselves
// in large chunks lets us drop each source range once copied (64 MiB as in
// antirez/ds4, reference/jetson.md §2).
var StagingBytes = 64 << 20

// Weights are model bytes visible to the GPU.
type Weights struct {
	// Ptr is the device address of the source's first byte.
	Ptr    cuda.DevicePtr
	Len    int
	Policy Policy

	release func() error
}

// At returns the device address of byte off of the weights.
func (w *Weights) At(off int) cuda.DevicePtr { return w.Ptr.Add(off) }

// Release frees the device copy or unregisters the mapping. The source
// must stay mapped until Release returns.
func (w *Weights) Release() error {
	if w.release == nil {
		return nil
	}
	err := w.release()
	w.release = nil
	return err
}

// PlaceWeights makes src visible to the GPU following the backend's plan,
// trying each step until one works. The returned Policy says which was
// chosen and why the earlier ones were not.
func (b *Backend) PlaceWeights(src WeightSource) (*Weights, error) {
	return b.PlaceWeightsWith(src, b.override)
}

// PlaceWeightsWith is PlaceWeights with an explicit override, for tools that
// compare placements on one device.
func (b *Backend) PlaceWeightsWith(src WeightSource, o Override) (*Weights, error) {
	data := src.Bytes()
	if len(data) == 0 {
		return nil, fmt.Errorf("jetson: PlaceWeights: empty weight region")
	}
	plan := Decide(b.caps, o)
	pol := Policy{Plan: plan}
	var why failures
	for _, step := range plan.Steps {
		w, err := b.place(step, plan.RegisterFlags, src, data)
		pol.Attempts = append(pol.Attempts, Attempt{Placement: step, Err: err})
		if err != nil {
			why = append(why, fmt.Errorf("%v failed: %w", step, err))
			continue
		}
		pol.Placement, pol.Model = step, step.Model()
		pol.Reason = fmt.Sprintf("%s on %s: %s", step, b.caps.Name, plan.Reason)
		if len(why) > 0 {
			pol.Reason += " (fell back: " + why.Error() + ")"
		}
		w.Policy, w.Len = pol, len(data)
		return w, nil
	}
	return nil, fmt.Errorf("%w on %s (plan %v): %w", ErrPlacement, b.caps.Name, plan, why)
}

// failures are the errors of the steps tried, in order; errors.Is sees
// each of them.
type failures []error

func (f failures) Error() string {
	s := make([]string, len(f))
	for i, e := range f {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

func (f failures) Unwrap() []error { return f }

func (b *Backend) place(step Placement, flags cuda.RegisterFlags, src WeightSource, data []byte) (*Weights, error) {
	d := b.drv
	switch step {
	case HostPointer:
		// The device reads pageable memory by its host address.
		return &Weights{Ptr: hostAddr(data)}, nil
	case Registered:
		return b.register(data, flags, nil)
	case RegisteredPrivate:
		pm, ok := src.(PrivateMapper)
		if !ok {
			return nil, fmt.Errorf("source %T cannot make a private mapping", src)
		}
		priv, unmap, err := pm.MapPrivate()
		if err != nil {
			return nil, fmt.Errorf("private mapping: %w", err)
		}
		w, err := b.register(priv, cuda.RegisterDeviceMap, unmap)
		if err != nil {
			return nil, errors.Join(err, unmap())
		}
		return w, nil
	case DeviceCopy:
		p, err := d.MemAlloc(len(data))
		if err != nil {
			return nil, err
		}
		if err := b.copyIn(p, data, src); err != nil {
			return nil, errors.Join(err, d.MemFree(p))
		}
		return &Weights{Ptr: p, release: func() error { return d.MemFree(p) }}, nil
	}
	return nil, fmt.Errorf("unknown placement %v", step)
}

func (b *Backend) register(data []byte, flags cuda.RegisterFlags, after func() error) (*Weights, error) {
	d := b.drv
	if err := d.HostRegister(data, flags); err != nil {
		return nil, err
	}
	p, err := d.HostDevicePointer(data)
	if err != nil {
		return nil, errors.Join(err, d.HostUnregister(data))
	}
	return &Weights{Ptr: p, release: func() error {
		// Unregister before unmapping: the driver holds the pages pinned.
		err := d.HostUnregister(data)
		if after != nil {
			err = errors.Join(err, after())
		}
		return err
	}}, nil
}

// copyIn copies data to p through a pinned staging buffer, dropping source
// pages as it goes when the source can. Without a staging buffer (pinned
// memory exhausted) it copies straight from the source.
func (b *Backend) copyIn(p cuda.DevicePtr, data []byte, src WeightSource) error {
	d := b.drv
	chunk := min(StagingBytes, len(data))
	staging, err := d.MemAllocHost(chunk, 0)
	if err != nil {
		staging = nil
	} else {
		defer d.MemFreeHost(staging)
	}
	ev, _ := src.(Evicter)
	for off := 0; off < len(data); off += chunk {
		n := min(chunk, len(data)-off)
		part := data[off : off+n]
		if staging != nil {
			part = staging[:copy(staging, part)]
		}
		if err := d.MemcpyHtoD(p.Add(off), part); err != nil {
			return fmt.Errorf("copying bytes %d..%d: %w", off, off+n, err)
		}
		if ev != nil {
			// Best effort: a failed eviction leaves pages cached, no harm.
			_ = ev.Evict(off, n)
		}
	}
	return nil
}
