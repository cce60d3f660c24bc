package sdk

import (
	"errors"
	"fmt"
	"github.com/speakez/barewire/jetson/cuda"

	"github.com/speakez/barewire/simd"
)

// Backend names accepted by WithBackend.
const (
	BackendAuto = "auto" // the best backend this build and machine offer (today: cpu)
	BackendCPU  = "cpu"  // the SIMD kernels of package simd on a worker pool
	BackendCUDA = "cuda" // NVIDIA GPUs (the kernels are in package jetson; models do not run on them yet)
)

// ErrBackendUnavailable is returned (wrapped) by Open when the requested
// backend is not compiled into this build or not present on the machine.
var ErrBackendUnavailable = errors.New("not available")

// Option configures Open.
type Option func(*openConfig) error

type openConfig struct {
	threads int
	backend string
	impl    *simd.Impl
}

// WithThreads sets the number of threads the model's worker pool splits
// matrix rows over; n <= 0 means simd.DefaultThreads() (one per physical
// core). Results do not depend on n: every row is computed by one thread,
// with exact integer arithmetic or, for float heads, in the fixed order of
// the simd float kernels.
func WithThreads(n int) Option {
	return func(c *openConfig) error { c.threads = n; return nil }
}

// WithBackend selects where the model runs: "auto", "cpu" or "cuda".
func WithBackend(name string) Option {
	return func(c *openConfig) error {
		switch name {
		case BackendAuto, BackendCPU, "":
			c.backend = BackendCPU
			return nil
		case BackendCUDA:
			// The driver is probed so the error says what a user can act
			// on: no driver or device here, or a GPU this build cannot use
			// for a whole model yet.
			d, err := cuda.Open()
			if err != nil {
				return fmt.Errorf("backend cuda: %w (%w)", ErrBackendUnavailable, err)
			}
			d.Close()
			return fmt.Errorf("backend cuda: %w: a CUDA device is present, but models run on the CPU in this build (use --backend cpu)", ErrBackendUnavailable)
		}
		return fmt.Errorf("backend %q unknown (want auto, cpu or cuda)", name)
	}
}

// WithKernels pins one tier of the simd kernels (for tests and
// benchmarks); by default the best tier of the CPU is used
// (simd.Active()).
func WithKernels(impl simd.Impl) Option {
	return func(c *openConfig) error { c.impl = &impl; return nil }
}

// SessionOption configures NewSession.
type SessionOption func(*sessionConfig)

type sessionConfig struct {
	contextLen int
	chunk      int
}

// WithContextLength sets how many positions a session's KV cache holds
// (BitNet); it is allocated once, when the session is made. The default is
// the model's context_length, at most DefaultContextLength.
func WithContextLength(n int) SessionOption {
	return func(c *sessionConfig) { c.contextLen = n }
}

// WithPrefillChunk sets how many prompt tokens go through the weights
// together (the ternary matrix × int8 matrix kernel); default 64.
func WithPrefillChunk(n int) SessionOption {
	return func(c *sessionConfig) { c.chunk = n }
}

// DefaultContextLength caps the default KV cache size of a session.
const DefaultContextLength = 2048

const defaultChunk = 64
