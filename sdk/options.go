package sdk

import (
	"errors"
	"fmt"

	"github.com/speakez/barewire/jetson"
	"github.com/speakez/barewire/simd"
)

// Backend names accepted by WithBackend.
const (
	BackendAuto = "auto" // the best backend this build and machine offer (today: cpu)
	BackendCPU  = "cpu"  // the SIMD kernels of package simd on a worker pool
	// BackendCUDA runs BitNet models on an NVIDIA GPU (package jetson; see
	// docs/JETSON.md): decode and prefill, weights read in place on
	// Jetson-class integrated GPUs and copied once to discrete ones. The
	// other architectures run only on the CPU. Open returns an error wrapping
	// ErrBackendUnavailable when there is no driver or device, when the
	// build has no cgo, or for a model the GPU path cannot run. Nothing of
	// it has run on a real GPU yet: it is tested against a fake driver with
	// the kernels emulated on the host.
	BackendCUDA = "cuda"
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
	// CUDA backend (gpu.go): a Backend to use instead of opening the
	// driver, set only by tests.
	gpu *jetson.Backend
	// gpuSplit is WithGPUSplit's fraction (0: no split).
	gpuSplit float64
	// gpuWeights is WithGPUWeights' placement, when gpuWeightsSet.
	gpuWeights    jetson.Override
	gpuWeightsSet bool
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
			// The driver is opened by Open (openGPU in gpu.go), which knows
			// the model's architecture.
			c.backend = BackendCUDA
			return nil
		}
		return fmt.Errorf("backend %q unknown (want auto, cpu or cuda)", name)
	}
}

// GPUSplitAuto, given to WithGPUSplit, measures the split when the model is
// opened: one of its largest ternary matrices is timed on the GPU alone and
// on the CPU worker pool alone (jetson.TensorParallel.Calibrate), and every
// matrix gives the GPU its share of the combined speed, unless a split
// product at that share is no faster than the GPU's own product streamed
// inside a decode step: then every row stays on the GPU (the usual outcome
// on a discrete GPU, where each split product waits for the device and
// copies over the bus).
const GPUSplitAuto = -1.0

// WithGPUSplit makes the CUDA backend compute part of each ternary (t2)
// matrix of a decoded token on the model's CPU worker pool, in parallel
// with the GPU: fraction is the share of each matrix's rows the GPU
// computes (the first ones; rounded to groups of 4 rows, see
// jetson.SplitRows), the CPU computes the rest from the mapped weights.
// 0 (the default) and 1 keep every row on the GPU; GPUSplitAuto measures
// the fraction. Prefill, int8 and float matrices stay on the GPU. Results
// do not depend on the fraction: both sides compute the same exact integer
// dot products. The CPU backend ignores the option.
func WithGPUSplit(fraction float64) Option {
	return func(c *openConfig) error {
		if fraction != GPUSplitAuto && !(fraction >= 0 && fraction <= 1) {
			return fmt.Errorf("gpu split %v: want a fraction of the rows from 0 to 1 (0 or 1: all on the GPU) or GPUSplitAuto (-1)", fraction)
		}
		c.gpuSplit = fraction
		return nil
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
	kv         string
}

// KV-cache element types for WithKVCache.
const (
	KVFloat32 = "f32" // the default: keys and values as computed
	KVFloat16 = "f16" // IEEE binary16: half the memory and half the bytes a token reads from the cache
)

// WithKVCache sets the element type of the session's KV cache (BitNet
// attention): KVFloat32 (default) or KVFloat16. With f16 the keys and
// values are rounded to binary16 (to nearest, ties to even, saturated at
// ±65504) when stored, and the scores and weighted sums read them through
// the f16 matrix-vector kernels: the session needs half the memory for
// its cache, and its logits differ from an f32 session's by that rounding.
// The CUDA backend keeps its cache in f32.
func WithKVCache(dtype string) SessionOption {
	return func(c *sessionConfig) { c.kv = dtype }
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
