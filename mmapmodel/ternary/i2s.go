package ternary

import (
	"encoding/binary"
	"fmt"
	"math"
)

// I2SLayout names the order in which bitnet.cpp's quantize_i2_s stores the
// 2-bit codes of an I2_S tensor. The file does not record it.
type I2SLayout uint8

const (
	// I2SLayoutUnknown means no layout was chosen.
	I2SLayoutUnknown I2SLayout = iota
	// I2SX86 is the 128-weight block layout (QK_I2_S = 128): the x86 build
	// with ACT_PARALLEL, the original Oct-2024 code and the Python converter
	// quantize_to_i2_s. Weight r of a block is in byte r%32 of the block's 32
	// bytes, at bit shift 6-2·(r/32) (the first 32 weights in the top bits).
	// It is the layout of the official microsoft/bitnet-b1.58-2B-4T-gguf file.
	I2SX86
	// I2SARM is the 64-weight block layout of the ARM NEON build
	// (QK_I2_S = 64): weight r of a block is in byte r%16 of the block's 16
	// bytes, at bit shift 6-2·(r/16).
	I2SARM
)

// String returns "x86", "arm" or "unknown".
func (l I2SLayout) String() string {
	switch l {
	case I2SX86:
		return "x86"
	case I2SARM:
		return "arm"
	}
	return "unknown"
}

// ParseI2SLayout parses the names printed by String ("x86", "arm"), for
// command-line flags.
func ParseI2SLayout(s string) (I2SLayout, error) {
	switch s {
	case "x86", "x86-128", "128":
		return I2SX86, nil
	case "arm", "arm-64", "64":
		return I2SARM, nil
	}
	return I2SLayoutUnknown, fmt.Errorf("ternary: unknown I2_S layout %q (want x86 or arm)", s)
}

// BlockWeights is the number of weights in one block of the layout
// (128 for x86, 64 for ARM, 0 when unknown).
func (l I2SLayout) BlockWeights() int {
	switch l {
	case I2SX86:
		return 128
	case I2SARM:
		return 64
	}
	return 0
}

// I2STailBytes is the size of the tail after the codes of an I2_S tensor;
// its first four bytes hold the per-tensor scale γ as a little-endian f32
// (MSB src/ggml-bitnet-mad.cpp quantize_i2_s; EWL ggml.c ggml_nbytes).
const I2STailBytes = 32

// I2SSize returns the byte size of an I2_S tensor of n weights: n/4 codes
// plus the 32-byte tail. It returns -1 if n is negative, not a multiple of 4,
// or the size overflows int.
func I2SSize(n int) int {
	if n < 0 || n%4 != 0 || n/4 > math.MaxInt-I2STailBytes {
		return -1
	}
	return n/4 + I2STailBytes
}

// I2S decodes one I2_S tensor of rows×cols weights, flattened row-major
// (row = output channel), in a known layout. It holds the caller's bytes
// without copying.
type I2S struct {
	data   []byte
	rows   int
	cols   int
	layout I2SLayout
	scale  float32
}

// checkI2S validates the geometry shared by NewI2S and DetectI2SLayout.
func checkI2S(data []byte, rows, cols int) (n int, err error) {
	if rows <= 0 || cols <= 0 {
		return 0, fmt.Errorf("%w: I2_S shape %d×%d must be positive", ErrFormat, rows, cols)
	}
	if rows > math.MaxInt/cols {
		return 0, fmt.Errorf("%w: I2_S shape %d×%d overflows", ErrFormat, rows, cols)
	}
	n = rows * cols
	if n%64 != 0 {
		return 0, fmt.Errorf("%w: I2_S element count %d is not a multiple of 64 (neither layout's block)", ErrFormat, n)
	}
	want := I2SSize(n)
	if want < 0 || len(data) != want {
		return 0, fmt.Errorf("%w: I2_S data is %d bytes, want %d (n/4 + %d for %d×%d)", ErrFormat, len(data), want, I2STailBytes, rows, cols)
	}
	return n, nil
}

// NewI2S checks data (codes plus tail) against the shape and layout and
// reads the scale. It refuses a length other than rows·cols/4+32, an element
// count that is not a whole number of the layout's blocks, and a scale that
// is negative, NaN or infinite.
func NewI2S(data []byte, rows, cols int, layout I2SLayout) (*I2S, error) {
	n, err := checkI2S(data, rows, cols)
	if err != nil {
		return nil, err
	}
	bw := layout.BlockWeights()
	if bw == 0 {
		return nil, fmt.Errorf("ternary: I2_S layout not given: %w", ErrAmbiguousLayout)
	}
	if n%bw != 0 {
		return nil, fmt.Errorf("%w: I2_S element count %d is not a multiple of the %s layout's block of %d", ErrFormat, n, layout, bw)
	}
	s := math.Float32frombits(binary.LittleEndian.Uint32(data[n/4:]))
	if !(s >= 0) || math.IsInf(float64(s), 0) {
		return nil, fmt.Errorf("%w: I2_S scale %v must be finite and non-negative", ErrFormat, s)
	}
	return &I2S{data: data, rows: rows, cols: cols, layout: layout, scale: s}, nil
}

// Rows returns the number of rows (output channels).
func (t *I2S) Rows() int { return t.rows }

// Cols returns the number of weights in a row.
func (t *I2S) Cols() int { return t.cols }

// Layout returns the layout the tensor is read with.
func (t *I2S) Layout() I2SLayout { return t.layout }

// Scale returns the per-tensor γ: weight = value·γ.
func (t *I2S) Scale() float32 { return t.scale }

// i2sCode returns the 2-bit code of flat element e (≥ 0) in layout l. The
// block sizes are powers of two, so the divisions are shifts.
func i2sCode(data []byte, e int, l I2SLayout) byte {
	if l == I2SX86 {
		// byte 32·(e/128) + e%32, shift 6 − 2·((e%128)/32)
		return data[(e>>7)<<5|e&31] >> (6 - 2*((e&127)>>5)) & 3
	}
	// byte 16·(e/64) + e%16, shift 6 − 2·((e%64)/16)
	return data[(e>>6)<<4|e&15] >> (6 - 2*((e&63)>>4)) & 3
}

// Row writes row r's values (code-1, in {-1,0,1}) into dst, which must hold
// Cols values. Code 3 is not produced by quantize_i2_s and is an error.
func (t *I2S) Row(r int, dst []int8) error {
	if r < 0 || r >= t.rows {
		return fmt.Errorf("ternary: I2_S row %d out of range [0,%d)", r, t.rows)
	}
	if len(dst) != t.cols {
		return fmt.Errorf("ternary: I2_S row buffer holds %d values, want %d", len(dst), t.cols)
	}
	base := r * t.cols
	for c := range dst {
		code := i2sCode(t.data, base+c, t.layout)
		if code == 3 {
			return fmt.Errorf("%w: I2_S row %d column %d has code 3", ErrFormat, r, c)
		}
		dst[c] = int8(code) - 1
	}
	return nil
}

// I2SEvidence is what DetectI2SLayout may use besides the tensor itself.
type I2SEvidence struct {
	// Reference maps row indices to the ternary values those rows are known
	// to hold, taken from another copy of the same weights (for example the
	// Hugging Face packed checkpoint of the same model, decoded with
	// HFPacked). Each slice must hold Cols values.
	Reference map[int][]int8
}

// I2SLayoutReport says which layout DetectI2SLayout chose and why.
type I2SLayoutReport struct {
	// Layout is the chosen layout; I2SLayoutUnknown with ErrAmbiguousLayout.
	Layout I2SLayout
	// Indifferent is true when both layouts decode to the same values, so
	// either is correct (Layout is then I2SX86).
	Indifferent bool
	// MismatchX86 and MismatchARM count reference values that each layout
	// decodes differently (only when references were given).
	MismatchX86, MismatchARM int
	// Reason is a sentence for logs and errors.
	Reason string
}

// DetectI2SLayout decides which layout an I2_S tensor was written with, from
// evidence that actually distinguishes them, and otherwise returns
// ErrAmbiguousLayout so that the caller asks the user for the layout.
//
// What cannot work: both layouts read the same bytes, so code counts
// (including the invalid code 3) are identical under both; and one x86 block
// of 32 bytes is exactly two ARM blocks, so whenever a row is a whole number
// of 128-weight blocks every row reads the same bytes under both layouts and
// the wrong layout is a fixed permutation of the columns inside each
// 128-column window. Row statistics (sparsity, balance of signs, sums) are
// therefore identical, and no statistic of the tensor alone can tell them
// apart. The evidence used, in order:
//
//  1. Validity: any code 3 means the bytes are not I2_S at all (ErrFormat).
//  2. Geometry: quantize_i2_s writes whole blocks, so an element count that
//     is a multiple of 64 but not of 128 can only be the ARM layout.
//  3. Invariance: if both layouts decode to the same values (an all-zero
//     tensor, or one constant inside every window), the choice does not
//     matter; Indifferent is set.
//  4. Reference rows (I2SEvidence.Reference): the layout that reproduces every
//     reference value wins, provided the other one fails on at least one.
//
// Anything else is ErrAmbiguousLayout.
func DetectI2SLayout(data []byte, rows, cols int, ev I2SEvidence) (I2SLayoutReport, error) {
	n, err := checkI2S(data, rows, cols)
	if err != nil {
		return I2SLayoutReport{}, err
	}
	codes := data[:n/4]
	for i, b := range codes {
		if b&0x03 == 3 || b&0x0c == 0x0c || b&0x30 == 0x30 || b&0xc0 == 0xc0 {
			return I2SLayoutReport{}, fmt.Errorf("%w: I2_S byte %d (%#02x) holds code 3, which quantize_i2_s never writes", ErrFormat, i, b)
		}
	}
	if n%128 != 0 {
		return I2SLayoutReport{Layout: I2SARM,
			Reason: fmt.Sprintf("element count %d is a multiple of 64 but not of 128, so only the ARM layout can have written it", n)}, nil
	}
	same := true
	for e := 0; e < n && same; e++ {
		same = i2sCode(data, e, I2SX86) == i2sCode(data, e, I2SARM)
	}
	if same {
		return I2SLayoutReport{Layout: I2SX86, Indifferent: true,
			Reason: "both layouts decode to the same values"}, nil
	}
	rep := I2SLayoutReport{}
	if len(ev.Reference) == 0 {
		rep.Reason = "the two layouts differ only by a column permutation inside each 128-weight block, which the tensor alone cannot reveal; no reference rows were given"
		return rep, fmt.Errorf("%w: %s", ErrAmbiguousLayout, rep.Reason)
	}
	for r, want := range ev.Reference {
		if r < 0 || r >= rows {
			return I2SLayoutReport{}, fmt.Errorf("ternary: I2_S reference row %d out of range [0,%d)", r, rows)
		}
		if len(want) != cols {
			return I2SLayoutReport{}, fmt.Errorf("ternary: I2_S reference row %d holds %d values, want %d", r, len(want), cols)
		}
		for c, w := range want {
			e := r*cols + c
			if int8(i2sCode(data, e, I2SX86))-1 != w {
				rep.MismatchX86++
			}
			if int8(i2sCode(data, e, I2SARM))-1 != w {
				rep.MismatchARM++
			}
		}
	}
	switch {
	case rep.MismatchX86 == 0 && rep.MismatchARM > 0:
		rep.Layout = I2SX86
		rep.Reason = fmt.Sprintf("reference rows match the x86 layout exactly and the ARM layout in all but %d values", rep.MismatchARM)
		return rep, nil
	case rep.MismatchARM == 0 && rep.MismatchX86 > 0:
		rep.Layout = I2SARM
		rep.Reason = fmt.Sprintf("reference rows match the ARM layout exactly and the x86 layout in all but %d values", rep.MismatchX86)
		return rep, nil
	case rep.MismatchARM == 0 && rep.MismatchX86 == 0:
		rep.Reason = "reference rows decode the same under both layouts"
	default:
		rep.Reason = fmt.Sprintf("reference rows match neither layout (%d mismatches as x86, %d as ARM)", rep.MismatchX86, rep.MismatchARM)
	}
	return rep, fmt.Errorf("%w: %s", ErrAmbiguousLayout, rep.Reason)
}
