package sdk

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/sdk/tokenizer"
	"github.com/speakez/barewire/simd"
)

// Architecture names recorded in a model file's header.
const (
	ArchMLP    = "mlp"          // ternary MLP classifier (mlp.go)
	ArchBitNet = "bitnet-b1.58" // BitNet b1.58: 2B4T and 1bitLLM (bitnet.go)
	ArchMMFree = "hgrn-bit"     // MatMul-free LM, HGRN-bit (mmfree.go)
)

// Errors callers may branch on.
var (
	// ErrArch: the model's architecture does not offer the operation
	// (Classify on a language model, NewSession on a classifier), or is
	// unknown.
	ErrArch = errors.New("operation not offered by this architecture")
	// ErrModel: a tensor or parameter is missing or has the wrong dtype or
	// shape for the architecture.
	ErrModel = errors.New("model does not match its architecture")
	// ErrInput: an input has the wrong length, or a token is outside the
	// vocabulary.
	ErrInput = errors.New("bad input")
	// ErrContextFull: a session's KV cache has no room for more tokens.
	ErrContextFull = errors.New("context full")
	// ErrClosed: the model was closed.
	ErrClosed = errors.New("model closed")
)

// Model is an opened model: its tensors are views of the memory-mapped
// file (ternary and int8 weights are never copied), its graph is built
// once, and its worker pool runs the kernels. A Model is immutable and safe
// for concurrent use: classifiers may be called from many goroutines and
// each conversation gets its own Session. Close it when no call or session
// is using it any more.
type Model struct {
	file    *mmapmodel.Model
	arch    string
	pool    *simd.Pool
	impl    simd.Impl
	backend string

	mlp *mlpGraph
	lm  *lmGraph
	tok tokenizer.Tokenizer
	gpu *gpuModel // CUDA backend (gpu.go); nil on the CPU

	releases  []func()
	closeOnce sync.Once
	closed    bool
}

// Open opens a model file (.bwm) or a release directory, maps it, and
// builds its graph. Only the headers are read; the weights are paged in by
// the first calls (see Warm).
func Open(path string, opts ...Option) (*Model, error) {
	cfg := openConfig{backend: BackendCPU}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	f, err := mmapmodel.Open(path)
	if err != nil {
		return nil, err
	}
	m := &Model{file: f, arch: f.Arch(), backend: cfg.backend, impl: simd.Active()}
	if cfg.impl != nil {
		m.impl = *cfg.impl
	}
	ld := &loader{m: m, f: f}
	switch m.arch {
	case ArchMLP:
		m.mlp, err = loadMLP(ld)
	case ArchBitNet:
		m.lm, err = loadBitNet(ld)
	case ArchMMFree:
		m.lm, err = loadMMFree(ld)
	default:
		err = fmt.Errorf("%s: architecture %q: %w (known: %s, %s, %s)", path, m.arch, ErrArch, ArchMLP, ArchBitNet, ArchMMFree)
	}
	if err == nil && m.lm != nil {
		m.tok, err = loadTokenizer(ld, m.lm.vocab)
	}
	if err != nil {
		m.release()
		f.Close()
		return nil, err
	}
	m.pool = simd.NewPool(cfg.threads)
	// CUDA backend (gpu.go): place the weights on the GPU.
	if cfg.backend == BackendCUDA {
		if err := m.openGPU(&cfg); err != nil {
			m.Close()
			return nil, err
		}
	}
	return m, nil
}

// Arch is the architecture name from the model's header.
func (m *Model) Arch() string { return m.arch }

// File is the underlying mapped model (header, tensors, Verify).
func (m *Model) File() *mmapmodel.Model { return m.file }

// Threads is the number of threads of the model's worker pool.
func (m *Model) Threads() int { return m.pool.Threads() }

// Tier is the kernel tier the model runs on.
func (m *Model) Tier() simd.Tier { return m.impl.Tier }

// Backend is the backend the model runs on ("cpu" or "cuda").
func (m *Model) Backend() string { return m.backend }

// Tokenizer returns the model's tokenizer: the blob stored in the model
// file, or a byte tokenizer when a language model with at least 256 tokens
// has none. It is nil for classifiers.
func (m *Model) Tokenizer() tokenizer.Tokenizer { return m.tok }

// Warm asks the kernel to read the whole model into memory now
// (madvise WILLNEED), so the first tokens do not wait for page faults.
func (m *Model) Warm() error { return m.file.Advise(mmapmodel.AdviseWillNeed) }

// WeightBytes is the number of weight bytes one decoded token reads: every
// block's matrices and the output head (the embedding row is negligible).
// It is 0 for a classifier.
func (m *Model) WeightBytes() int64 {
	if m.lm == nil {
		return 0
	}
	return m.lm.weightBytes()
}

// Close stops the worker pool and unmaps the model. No call or session may
// use the model afterwards.
func (m *Model) Close() error {
	var err error
	m.closeOnce.Do(func() {
		m.closed = true
		m.pool.Close()
		if m.gpu != nil { // CUDA backend (gpu.go): sessions' device memory, weights
			err = m.gpu.close()
		}
		m.release()
		err = errors.Join(err, m.file.Close())
	})
	return err
}

func (m *Model) release() {
	for _, r := range m.releases {
		r()
	}
	m.releases = nil
}

// loader reads the tensors and parameters of one model, naming the file and
// the tensor in every error.
type loader struct {
	m *Model
	f *mmapmodel.Model
}

func (ld *loader) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", ld.f.Path(), fmt.Sprintf(format, args...), ErrModel)
}

func (ld *loader) has(name string) bool {
	_, err := ld.f.Tensor(name)
	return err == nil
}

func (ld *loader) tensor(name string) (*mmapmodel.Tensor, error) {
	t, err := ld.f.Tensor(name)
	if err != nil {
		return nil, ld.errorf("tensor %q missing", name)
	}
	return t, nil
}

func (ld *loader) intParam(key string, def int64, required bool) (int, error) {
	p, ok := ld.f.Param(key)
	if !ok {
		if required {
			return 0, ld.errorf("parameter %q missing", key)
		}
		return int(def), nil
	}
	if p.Type != mmapmodel.ParamInt {
		return 0, ld.errorf("parameter %q is %s, want int", key, p.Type)
	}
	if p.Int < 0 || p.Int > math.MaxInt32 {
		return 0, ld.errorf("parameter %q = %d out of range", key, p.Int)
	}
	return int(p.Int), nil
}

func (ld *loader) floatParam(key string, def float64) (float64, error) {
	p, ok := ld.f.Param(key)
	if !ok {
		return def, nil
	}
	switch p.Type {
	case mmapmodel.ParamFloat:
		return p.Float, nil
	case mmapmodel.ParamInt:
		return float64(p.Int), nil
	}
	return 0, ld.errorf("parameter %q is %s, want float", key, p.Type)
}

func (ld *loader) stringParam(key, def string) (string, error) {
	p, ok := ld.f.Param(key)
	if !ok {
		return def, nil
	}
	if p.Type != mmapmodel.ParamString {
		return "", ld.errorf("parameter %q is %s, want string", key, p.Type)
	}
	return p.String, nil
}

func shapeIs(t *mmapmodel.Tensor, dims ...int) bool {
	if len(t.Shape) != len(dims) {
		return false
	}
	for i, d := range dims {
		if int64(t.Shape[i]) != int64(d) {
			return false
		}
	}
	return true
}

// vector returns a float vector of n elements (norm weights, biases): an
// f32 tensor is viewed in place; f16 and bf16 are widened once into a new
// slice, which for a vector is small. Matrices are never widened: see
// loader.linear.
func (ld *loader) vector(name string, n int) ([]float32, error) {
	t, err := ld.tensor(name)
	if err != nil {
		return nil, err
	}
	if t.NumElems() != mmapmodel.Elems(n) {
		return nil, ld.errorf("tensor %q has shape %v, want %d elements", name, t.Shape, n)
	}
	return ld.floats(t)
}

// floats returns every element of a dense float tensor as float32: an f32
// tensor in place, f16 and bf16 widened into a new slice (vectors only).
func (ld *loader) floats(t *mmapmodel.Tensor) ([]float32, error) {
	switch t.DType {
	case mmapmodel.F32:
		v, err := mmapmodel.NewView[float32](t)
		if err != nil {
			return nil, err
		}
		ld.m.releases = append(ld.m.releases, v.Release)
		return v.Data(), nil
	case mmapmodel.F16:
		v, err := mmapmodel.NewView[mmapmodel.Float16](t)
		if err != nil {
			return nil, err
		}
		defer v.Release()
		out := make([]float32, len(v.Data()))
		for i, h := range v.Data() {
			out[i] = simd.F16ToF32(uint16(h))
		}
		return out, nil
	case mmapmodel.BF16:
		v, err := mmapmodel.NewView[mmapmodel.BFloat16](t)
		if err != nil {
			return nil, err
		}
		defer v.Release()
		out := make([]float32, len(v.Data()))
		for i, h := range v.Data() {
			out[i] = simd.BF16ToF32(uint16(h))
		}
		return out, nil
	}
	return nil, ld.errorf("tensor %q has dtype %s, want f32, f16 or bf16", t.Name, t.DType)
}

// loadTokenizer reads the "tokenizer" blob (tokenizer.Marshal) if the
// model has one; otherwise a model with at least 256 tokens gets a byte
// tokenizer.
func loadTokenizer(ld *loader, vocab int) (tokenizer.Tokenizer, error) {
	t, err := ld.f.Tensor(TensorTokenizer)
	if err != nil {
		if vocab >= 256 {
			return tokenizer.NewChar(tokenizer.CharConfig{})
		}
		return nil, nil
	}
	v, err := mmapmodel.NewView[uint8](t)
	if err != nil {
		return nil, err
	}
	defer v.Release()
	tk, err := tokenizer.Unmarshal(v.Data())
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %w", ld.f.Path(), TensorTokenizer, err)
	}
	if tk.VocabSize() > vocab {
		return nil, ld.errorf("tokenizer has %d tokens, model vocabulary %d", tk.VocabSize(), vocab)
	}
	return tk, nil
}

// TensorTokenizer is the u8 tensor holding a tokenizer.Marshal blob, in
// slot SlotTokenizer.
const (
	TensorTokenizer = "tokenizer"
	SlotTokenizer   = "tokenizer"
)

func (m *Model) check() error {
	if m.closed {
		return ErrClosed
	}
	return nil
}

func joinNames(names []string) string { return strings.Join(names, ", ") }

// KVBytesPerPosition is the number of KV-cache bytes one position adds
// (keys and values of every attention block, float32), and so what a
// decoded token reads per earlier position. It is 0 for recurrent and
// classifier models.
func (m *Model) KVBytesPerPosition() int64 {
	if m.lm == nil || !m.lm.hasKV {
		return 0
	}
	return int64(len(m.lm.blocks)) * int64(m.lm.kvWidth) * 2 * 4
}

// Vocab is a language model's vocabulary size (its logits width), 0 for a
// classifier.
func (m *Model) Vocab() int {
	if m.lm == nil {
		return 0
	}
	return m.lm.vocab
}
