package ternary

import (
	"fmt"
	"math"
)

// HFScaleKind says how a Hugging Face BitNet weight_scale is applied.
type HFScaleKind uint8

const (
	// HFScaleReciprocal: weight_scale = 1/γ, the layer output is divided by
	// it. This is quantization_config.linear_class "bitlinear", the packed
	// microsoft/bitnet-b1.58-2B-4T release (HFT integrations/bitnet.py
	// BitLinear.post_quant_process; LCP conversion dequant_bitnet, "The scale
	// is inverted").
	HFScaleReciprocal HFScaleKind = iota + 1
	// HFScaleDirect: weight_scale = γ, the output is multiplied by it
	// (linear_class "autobitlinear").
	HFScaleDirect
)

// HFPacked decodes a Hugging Face BitNet packed weight: a uint8 tensor of
// shape [out/4, in] whose byte (r, i) holds four 2-bit codes, field c (bits
// 2c..2c+1, low bits first) belonging to unpacked row c·(out/4)+r — the four
// fields are four chunks of rows, not four adjacent rows (HFT
// integrations/bitnet.py pack_weights/unpack_weights). Value = code − 1.
type HFPacked struct {
	data       []byte
	packedRows int
	cols       int
	gamma      float32
}

// NewHFPacked checks packed (packedRows×cols bytes) and converts
// weightScale to γ according to kind. weightScale must be finite and
// positive.
func NewHFPacked(packed []byte, packedRows, cols int, weightScale float32, kind HFScaleKind) (*HFPacked, error) {
	if packedRows <= 0 || cols <= 0 {
		return nil, fmt.Errorf("%w: packed shape %d×%d must be positive", ErrFormat, packedRows, cols)
	}
	if packedRows > math.MaxInt/4/cols {
		return nil, fmt.Errorf("%w: packed shape %d×%d overflows", ErrFormat, packedRows, cols)
	}
	if len(packed) != packedRows*cols {
		return nil, fmt.Errorf("%w: packed weight is %d bytes, want %d for %d×%d", ErrFormat, len(packed), packedRows*cols, packedRows, cols)
	}
	if !(weightScale > 0) || math.IsInf(float64(weightScale), 0) {
		return nil, fmt.Errorf("%w: weight_scale %v must be finite and positive", ErrFormat, weightScale)
	}
	var g float32
	switch kind {
	case HFScaleReciprocal:
		g = float32(1 / float64(weightScale))
	case HFScaleDirect:
		g = weightScale
	default:
		return nil, fmt.Errorf("ternary: unknown weight_scale kind %d", kind)
	}
	return &HFPacked{data: packed, packedRows: packedRows, cols: cols, gamma: g}, nil
}

// Rows returns the unpacked row count, 4·packedRows.
func (h *HFPacked) Rows() int { return 4 * h.packedRows }

// Cols returns the number of weights in a row.
func (h *HFPacked) Cols() int { return h.cols }

// Scale returns γ: weight = value·γ.
func (h *HFPacked) Scale() float32 { return h.gamma }

// Row writes unpacked row r into dst (Cols values). Code 3 is an error.
func (h *HFPacked) Row(r int, dst []int8) error {
	if r < 0 || r >= 4*h.packedRows {
		return fmt.Errorf("ternary: packed row %d out of range [0,%d)", r, 4*h.packedRows)
	}
	if len(dst) != h.cols {
		return fmt.Errorf("ternary: packed row buffer holds %d values, want %d", len(dst), h.cols)
	}
	field, pr := r/h.packedRows, r%h.packedRows
	src := h.data[pr*h.cols : (pr+1)*h.cols]
	shift := 2 * field
	for i, b := range src {
		code := b >> shift & 3
		if code == 3 {
			return fmt.Errorf("%w: packed row %d column %d (byte %d, field %d) has code 3", ErrFormat, r, i, pr*h.cols+i, field)
		}
		dst[i] = int8(code) - 1
	}
	return nil
}
