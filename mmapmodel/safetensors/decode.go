package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
)

// F16ToF32 converts IEEE binary16 bits to float32 (exact).
func F16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
	case frac == 0:
		return math.Float32frombits(sign)
	}
	e := uint32(113)
	for frac&0x400 == 0 {
		frac <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (frac&0x3ff)<<13)
}

// BF16ToF32 converts bfloat16 bits to float32 (exact).
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// ToFloat32 decodes len(dst) elements of dtype dt from b, which need not be
// aligned, into dst. Float types convert exactly except F64 (rounded to
// float32); integer types convert to the nearest float32.
func ToFloat32(dt DType, b []byte, dst []float32) error {
	bits := dt.Bits()
	if bits == 0 || bits%8 != 0 || dt == C64 || dt == BOOL || len(dt) > 3 && dt[:3] == "F8_" {
		return fmt.Errorf("%w: cannot convert %s to float32", ErrUnsupported, dt)
	}
	es := int(bits / 8)
	if len(b) != es*len(dst) {
		return fmt.Errorf("%w: %d bytes of %s do not hold %d elements", ErrFormat, len(b), dt, len(dst))
	}
	le := binary.LittleEndian
	for i := range dst {
		p := b[i*es:]
		switch dt {
		case F32:
			dst[i] = math.Float32frombits(le.Uint32(p))
		case F16:
			dst[i] = F16ToF32(le.Uint16(p))
		case BF16:
			dst[i] = BF16ToF32(le.Uint16(p))
		case F64:
			dst[i] = float32(math.Float64frombits(le.Uint64(p)))
		case U8:
			dst[i] = float32(p[0])
		case I8:
			dst[i] = float32(int8(p[0]))
		case U16:
			dst[i] = float32(le.Uint16(p))
		case I16:
			dst[i] = float32(int16(le.Uint16(p)))
		case U32:
			dst[i] = float32(le.Uint32(p))
		case I32:
			dst[i] = float32(int32(le.Uint32(p)))
		case U64:
			dst[i] = float32(le.Uint64(p))
		case I64:
			dst[i] = float32(int64(le.Uint64(p)))
		}
	}
	return nil
}

// Float32s decodes the named tensor into a new []float32.
func (f *File) Float32s(name string) ([]float32, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("safetensors: tensor %q: %w", name, ErrNotFound)
	}
	b, err := f.TensorData(name)
	if err != nil {
		return nil, err
	}
	n := t.Elements()
	if n > uint64(len(b)) { // cannot happen for byte-sized dtypes
		return nil, fmt.Errorf("%w: tensor %q: %d elements in %d bytes", ErrFormat, name, n, len(b))
	}
	out := make([]float32, n)
	if err := ToFloat32(t.DType, b, out); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", name, err)
	}
	return out, nil
}

// Scalar returns the value of a one-element float or integer tensor (shape
// [] or [1]), such as a BitNet weight_scale.
func (f *File) Scalar(name string) (float32, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return 0, fmt.Errorf("safetensors: tensor %q: %w", name, ErrNotFound)
	}
	if t.Elements() != 1 {
		return 0, fmt.Errorf("%w: tensor %q: shape %v is not a single value", ErrFormat, name, t.Shape)
	}
	v, err := f.Float32s(name)
	if err != nil {
		return 0, err
	}
	return v[0], nil
}
