package ternary

import (
	"encoding/binary"
	"fmt"
	"math"
)

// DenseDType is the element type of dense master weights.
type DenseDType uint8

const (
	// F32 is IEEE binary32, little-endian.
	F32 DenseDType = iota + 1
	// F16 is IEEE binary16, little-endian.
	F16
	// BF16 is bfloat16, little-endian.
	BF16
)

// String returns the safetensors dtype name.
func (d DenseDType) String() string {
	switch d {
	case F32:
		return "F32"
	case F16:
		return "F16"
	case BF16:
		return "BF16"
	}
	return "?"
}

// Size returns the element size in bytes.
func (d DenseDType) Size() int {
	switch d {
	case F32:
		return 4
	case F16, BF16:
		return 2
	}
	return 0
}

// AbsmeanEpsilon is the lower clamp of γ in the BitNet weight quantizer
// (HFT WeightQuant, 1bitLLM weight_quant: mean|W| clamped to ≥ 1e-5).
const AbsmeanEpsilon = 1e-5

// Ternarized reads dense weights (bytes need no alignment) and yields their
// ternary form one row at a time.
type Ternarized struct {
	data  []byte
	dtype DenseDType
	rows  int
	cols  int
	gamma float32
	// already is true when the weights were already ternary×γ.
	already bool
}

func (t *Ternarized) at(e int) float32 {
	switch t.dtype {
	case F32:
		return math.Float32frombits(binary.LittleEndian.Uint32(t.data[4*e:]))
	case F16:
		return F16ToF32(binary.LittleEndian.Uint16(t.data[2*e:]))
	default:
		return BF16ToF32(binary.LittleEndian.Uint16(t.data[2*e:]))
	}
}

// Ternarize makes one pass over dense weights (rows×cols, row-major) and
// decides how to ternarize them:
//
//   - If every nonzero weight has the same magnitude a, the tensor is already
//     ternary (a 2B4T weight unpacked to {−γ,0,+γ}, say): γ = a and the values
//     are the signs. Re-running absmean on such a tensor would give
//     γ' = p·γ (p the nonzero fraction) and shrink every weight by p
//     (architectures.md §1.4, "Pitfall"). An all-zero tensor is reported as
//     already ternary with γ = 0.
//   - Otherwise the BitNet b1.58 absmean rule (arXiv 2402.17764; HFT
//     WeightQuant; MMF weight_quant), per tensor: γ = max(mean|W|, 1e-5),
//     value = clamp(round(W/γ), −1, 1) with round half to even, as
//     torch.round does.
//
// γ is accumulated in float64 and rounded once to float32; W·(1/γ) is then
// computed in float32. The reference implementations compute in the weight's
// own dtype (γ itself rounded to bf16 for a bf16 model), so the two can
// differ on weights within one ulp of ±γ/2. NaN or infinite weights are an
// error naming the element.
func Ternarize(data []byte, dtype DenseDType, rows, cols int) (*Ternarized, error) {
	es := dtype.Size()
	if es == 0 {
		return nil, fmt.Errorf("ternary: unknown dense dtype %d", dtype)
	}
	if rows <= 0 || cols <= 0 {
		return nil, fmt.Errorf("%w: dense shape %d×%d must be positive", ErrFormat, rows, cols)
	}
	if rows > math.MaxInt/es/cols {
		return nil, fmt.Errorf("%w: dense shape %d×%d overflows", ErrFormat, rows, cols)
	}
	n := rows * cols
	if len(data) != n*es {
		return nil, fmt.Errorf("%w: %s weights are %d bytes, want %d for %d×%d", ErrFormat, dtype, len(data), n*es, rows, cols)
	}
	t := &Ternarized{data: data, dtype: dtype, rows: rows, cols: cols}
	var sum float64
	var mag float32
	uniform := true
	for e := 0; e < n; e++ {
		w := t.at(e)
		if math.IsNaN(float64(w)) || math.IsInf(float64(w), 0) {
			return nil, fmt.Errorf("%w: %s weight at row %d column %d is %v", ErrFormat, dtype, e/cols, e%cols, w)
		}
		a := float32(math.Abs(float64(w)))
		sum += float64(a)
		if a == 0 {
			continue
		}
		if mag == 0 {
			mag = a
		} else if a != mag {
			uniform = false
		}
	}
	if uniform {
		t.already, t.gamma = true, mag
		return t, nil
	}
	g := float32(sum / float64(n))
	if g < AbsmeanEpsilon {
		g = AbsmeanEpsilon
	}
	t.gamma = g
	return t, nil
}

// AlreadyTernary reports whether the weights were already ternary×γ and were
// kept as they are.
func (t *Ternarized) AlreadyTernary() bool { return t.already }

// Scale returns γ: weight ≈ value·γ (exactly, when AlreadyTernary).
func (t *Ternarized) Scale() float32 { return t.gamma }

// Rows returns the number of rows.
func (t *Ternarized) Rows() int { return t.rows }

// Cols returns the number of weights in a row.
func (t *Ternarized) Cols() int { return t.cols }

// Row writes row r's ternary values into dst (Cols values).
func (t *Ternarized) Row(r int, dst []int8) error {
	if r < 0 || r >= t.rows {
		return fmt.Errorf("ternary: dense row %d out of range [0,%d)", r, t.rows)
	}
	if len(dst) != t.cols {
		return fmt.Errorf("ternary: dense row buffer holds %d values, want %d", len(dst), t.cols)
	}
	base := r * t.cols
	if t.already {
		for c := range dst {
			w := t.at(base + c)
			switch {
			case w > 0:
				dst[c] = 1
			case w < 0:
				dst[c] = -1
			default:
				dst[c] = 0
			}
		}
		return nil
	}
	inv := 1 / t.gamma
	for c := range dst {
		q := math.RoundToEven(float64(t.at(base+c) * inv))
		dst[c] = int8(max(-1, min(1, q)))
	}
	return nil
}
