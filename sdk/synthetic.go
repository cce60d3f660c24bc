package sdk

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/sdk/tokenizer"
	"github.com/speakez/barewire/simd"
)

// Synthetic models have random ternary weights at a published model's
// exact shapes, so that speed can be measured at real sizes without
// downloading a checkpoint. Their output is meaningless text.
const (
	SyntheticBitNet2B4T  = "bitnet-2b4t"  // microsoft/bitnet-b1.58-2B-4T (architectures.md §1.1)
	SyntheticBitNetLarge = "bitnet-large" // 1bitLLM/bitnet_b1_58-large (~700M, §1.1)
	SyntheticMMFree370M  = "mmfree-370m"  // ridger/MMfreeLM-370M (§2.1)
	SyntheticBitNetTiny  = "bitnet-tiny"  // 2B4T-shaped, tiny: for tests and demos
	SyntheticMMFreeTiny  = "mmfree-tiny"  // MMfreeLM-shaped, tiny
)

// SyntheticNames lists the names WriteSynthetic accepts.
func SyntheticNames() []string {
	return []string{SyntheticBitNet2B4T, SyntheticBitNetLarge, SyntheticMMFree370M, SyntheticBitNetTiny, SyntheticMMFreeTiny}
}

// SyntheticOptions controls WriteSynthetic.
type SyntheticOptions struct {
	// Head is the dtype of the output head (and the tied BitNet
	// embedding): "i8" (default, W8A8 with row scales), "f32", "f16" or
	// "bf16" (float heads read in place; values uniform in [-1, 1)).
	Head string
	// Seed of the random weights.
	Seed uint64
}

// WriteSynthetic writes the synthetic model name to path (atomically:
// a temporary file renamed into place). Its tokenizer is a byte tokenizer
// (ids 0..255, BOS 256); the rest of the vocabulary never appears in text.
func WriteSynthetic(path, name string, opts SyntheticOptions) error {
	if opts.Head == "" {
		opts.Head = "i8"
	}
	if _, ok := syntheticHeads[opts.Head]; !ok {
		return fmt.Errorf("synthetic head dtype %q, want i8, f32, f16 or bf16", opts.Head)
	}
	tk, err := tokenizer.NewChar(tokenizer.CharConfig{BOS: true})
	if err != nil {
		return err
	}
	blob, err := tokenizer.Marshal(tk)
	if err != nil {
		return err
	}
	src := &randomWeights{seed: opts.Seed, head: opts.Head}
	switch name {
	case SyntheticBitNet2B4T, SyntheticBitNetLarge, SyntheticBitNetTiny:
		c := Config2B4T()
		switch name {
		case SyntheticBitNetLarge:
			c = ConfigBitNetLarge()
		case SyntheticBitNetTiny:
			c = BitNetConfig{Vocab: 512, Dim: 128, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 32, FFN: 384,
				RopeTheta: 500000, Eps: 1e-5, Act: "relu2", ContextLength: 512}
		}
		return writeLayout(path, ArchBitNet, bitnetParams(c), bitnetLayout(c, false), src.spec, blob)
	case SyntheticMMFree370M, SyntheticMMFreeTiny:
		c := ConfigMMFree370M()
		if name == SyntheticMMFreeTiny {
			c = MMFreeConfig{Vocab: 512, Dim: 128, Layers: 2, FFN: 384, Eps: 1e-6}
		}
		return writeLayout(path, ArchMMFree, mmfreeParams(c), mmfreeLayout(c), src.spec, blob)
	}
	return fmt.Errorf("synthetic model %q unknown (want one of %v)", name, SyntheticNames())
}

// syntheticHeads maps SyntheticOptions.Head to the head's dtype.
var syntheticHeads = map[string]mmapmodel.DType{"i8": mmapmodel.I8, "f32": mmapmodel.F32, "f16": mmapmodel.F16, "bf16": mmapmodel.BF16}

// SyntheticPath returns the cached synthetic model name under dir
// (os.UserCacheDir()/barewire/synthetic when dir is ""), writing it first
// if it is not there yet.
func SyntheticPath(dir, name string, opts SyntheticOptions) (string, error) {
	if !slices.Contains(SyntheticNames(), name) {
		return "", fmt.Errorf("synthetic model %q unknown (want one of %v)", name, SyntheticNames())
	}
	if dir == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(c, "barewire", "synthetic")
	}
	if opts.Head == "" {
		opts.Head = "i8"
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%s-seed%d-v1.bwm", name, opts.Head, opts.Seed))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return path, WriteSynthetic(path, name, opts)
}

// randomWeights supplies every tensor of a layout from a seeded stream,
// generated while the writer copies it (a 2B-parameter model never sits
// in memory).
type randomWeights struct {
	seed uint64
	head string
	n    uint64
}

func (r *randomWeights) spec(d tensorDesc) (mmapmodel.TensorSpec, error) {
	r.n++
	seed := r.seed*0x9e3779b97f4a7c15 + r.n
	shape := []mmapmodel.Elems{mmapmodel.Elems(d.rows), mmapmodel.Elems(d.cols)}
	switch d.role {
	case roleTernary:
		// γ = 1/sqrt(in) keeps the output of a uniform ternary row near
		// unit scale for unit-scale inputs.
		return mmapmodel.TensorSpec{DType: mmapmodel.T2, Shape: shape, Scale: float32(1 / math.Sqrt(float64(d.cols))),
			Data: &ternaryStream{rows: d.rows, cols: d.cols, seed: seed}}, nil
	case roleNorm, roleVector:
		v := make([]byte, 4*d.cols)
		rng := rand.New(rand.NewPCG(seed, 3))
		for i := 0; i < d.cols; i++ {
			f := float32(0.9 + 0.2*rng.Float64()) // norm weights near 1
			if d.role == roleVector {
				f = float32(0.5 * rng.Float64()) // forget-gate lower bounds in [0, 0.5)
			}
			binary.LittleEndian.PutUint32(v[4*i:], math.Float32bits(f))
		}
		return mmapmodel.TensorSpec{DType: mmapmodel.F32, Shape: []mmapmodel.Elems{mmapmodel.Elems(d.cols)}, Data: bytesReader(v)}, nil
	case roleEmbed, roleHead:
		switch dt := syntheticHeads[r.head]; dt {
		case mmapmodel.F32, mmapmodel.F16, mmapmodel.BF16:
			size := int64(4)
			if dt != mmapmodel.F32 {
				size = 2
			}
			return mmapmodel.TensorSpec{DType: dt, Shape: shape, Data: &byteStream{n: int64(d.rows) * int64(d.cols) * size, seed: seed, float: dt}}, nil
		}
		scales := make([]float32, d.rows)
		for i := range scales {
			scales[i] = 1.0 / 127
		}
		return mmapmodel.TensorSpec{DType: mmapmodel.I8, Shape: shape, Scales: scales, Data: &byteStream{n: int64(d.rows) * int64(d.cols), seed: seed}}, nil
	}
	return mmapmodel.TensorSpec{}, fmt.Errorf("role %d", d.role)
}

// ternaryStream yields rows of uniformly random ternary weights packed in
// i2b128, with zero (code 01) padding.
type ternaryStream struct {
	rows, cols int
	seed       uint64
	row        int
	buf        []byte
	w          []int8
	rng        *rand.Rand
}

func (s *ternaryStream) Read(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if len(s.buf) == 0 {
			if s.row == s.rows {
				if n == 0 {
					return 0, io.EOF
				}
				return n, nil
			}
			s.fill()
		}
		c := copy(p, s.buf)
		s.buf, p, n = s.buf[c:], p[c:], n+c
	}
	return n, nil
}

func (s *ternaryStream) fill() {
	rb := simd.RowBytesI2B128(s.cols)
	rows := max(1, min(s.rows-s.row, (1<<20)/rb))
	buf := make([]byte, rows*rb)
	if s.cols%simd.BlockI2B128 == 0 {
		// No padding: every byte is any valid code.
		simd.FillRandom(buf, simd.LayoutI2B128, s.seed+uint64(s.row))
	} else {
		if s.rng == nil {
			s.rng = rand.New(rand.NewPCG(s.seed, 5))
			s.w = make([]int8, s.cols)
		}
		for r := range rows {
			for i := range s.w {
				s.w[i] = int8(s.rng.IntN(3) - 1)
			}
			simd.PackI2B128(buf[r*rb:(r+1)*rb], s.w)
		}
	}
	s.row += rows
	s.buf = buf
}

// byteStream yields n bytes of random int8 values in [-127, 127], or,
// when float is F32, F16 or BF16, of random values in [-1, 1) in that
// dtype.
type byteStream struct {
	n     int64
	seed  uint64
	float mmapmodel.DType
	rng   *rand.Rand
}

func (s *byteStream) Read(p []byte) (int, error) {
	if s.n == 0 {
		return 0, io.EOF
	}
	if s.rng == nil {
		s.rng = rand.New(rand.NewPCG(s.seed, 7))
	}
	k := int(min(int64(len(p)), s.n))
	switch s.float {
	case mmapmodel.F32:
		k &^= 3
		for i := 0; i < k; i += 4 {
			binary.LittleEndian.PutUint32(p[i:], math.Float32bits(float32(2*s.rng.Float64()-1)))
		}
	case mmapmodel.F16, mmapmodel.BF16:
		k &^= 1
		for i := 0; i < k; i += 2 {
			v := 2*s.rng.Float64() - 1
			h := bf16Bits(v)
			if s.float == mmapmodel.F16 {
				h = f16Bits(v)
			}
			binary.LittleEndian.PutUint16(p[i:], h)
		}
	default:
		for i := 0; i < k; i++ {
			p[i] = byte(int8(s.rng.IntN(255) - 127))
		}
	}
	s.n -= int64(k)
	return k, nil
}

// f16Bits rounds v (|v| < 1) to the nearest binary16 value, ties to even,
// and returns its bits.
func f16Bits(v float64) uint16 {
	var sign uint16
	if math.Signbit(v) {
		sign, v = 0x8000, -v
	}
	if v < 0x1p-14 { // subnormal: multiples of 2⁻²⁴ (2⁻¹⁴ itself encodes as 0x0400)
		return sign | uint16(math.RoundToEven(v*0x1p24))
	}
	fr, e := math.Frexp(v) // v = fr·2^e, fr in [0.5, 1)
	m := uint16(math.RoundToEven(fr * 2048))
	// A mantissa rounded up to 2048 carries into the exponent.
	return sign | (uint16(e+14)<<10 + m - 1024)
}

// bf16Bits rounds v to the nearest bfloat16 value, ties to even.
func bf16Bits(v float64) uint16 {
	b := math.Float32bits(float32(v))
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}
