package convert

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/speakez/barewire/mmapmodel/ternary"
)

// rowDecoder yields a ternary matrix one row at a time ({-1, 0, +1}).
type rowDecoder interface {
	Row(r int, dst []int8) error
}

// zeroRows decodes an all-zero matrix.
type zeroRows struct{}

func (zeroRows) Row(_ int, dst []int8) error { clear(dst); return nil }

// prepare resolves t against the source: it checks the source tensor's
// type and shape, builds its decoder and computes every scale, so that
// nothing is left to fail for a reason of the input once the output file is
// being written (apart from I/O).
func (t *outTensor) prepare(c *container, o *resolved) error {
	if t.role == roleVector {
		return nil
	}
	s, ok := c.lookup(t.src)
	if !ok {
		return fmt.Errorf("tensor %q (for %q) is missing from the %s input", t.src, t.name, c.kind)
	}
	t.srcT = s
	switch t.role {
	case roleNorm:
		if !slices.Equal(s.shape, []int{t.cols}) {
			return fmt.Errorf("tensor %s: want shape [%d]", s, t.cols)
		}
		v, err := floats(s, t.cols)
		if err != nil {
			return err
		}
		t.vec = v
		return nil
	case roleEmbed, roleHead:
		return t.prepareDense(s, o)
	}
	return t.prepareTernary(c, s, o)
}

func (t *outTensor) prepareDense(s srcTensor, o *resolved) error {
	if !slices.Equal(s.shape, []int{t.rows, t.cols}) {
		return fmt.Errorf("tensor %s: want shape [%d %d]", s, t.rows, t.cols)
	}
	if denseType(s.enc) == 0 {
		return fmt.Errorf("tensor %s: type %s is not supported for %s (want F32, F16 or BF16): %w", s, s.typ, t.name, ErrUnsupported)
	}
	b, err := s.data()
	if err != nil {
		return err
	}
	defer dropPages(b)
	es := denseType(s.enc).Size()
	if len(b) != t.rows*t.cols*es {
		return fmt.Errorf("tensor %s: %d bytes, want %d", s, len(b), t.rows*t.cols*es)
	}
	// One pass: every value finite, and the row scales of the int8 form
	// (max|w|/127 per row, so the largest weight of a row maps to ±127).
	if o.head == HeadInt8 {
		t.rowScales = make([]float32, t.rows)
	}
	for r := range t.rows {
		var m float32
		for i := r * t.cols; i < (r+1)*t.cols; i++ {
			f := floatAt(s.enc, b, i)
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return fmt.Errorf("tensor %s: row %d column %d is %v", s, r, i-r*t.cols, f)
			}
			m = max(m, float32(math.Abs(float64(f))))
		}
		if o.head == HeadF16 && m > maxF16 {
			return fmt.Errorf("tensor %s: row %d holds %v, beyond binary16's largest finite value %v (use the int8 head)", s, r, m, maxF16)
		}
		if t.rowScales != nil {
			t.rowScales[r] = m / 127
		}
	}
	t.how = fmt.Sprintf("%s → %s", s.typ, o.head)
	return nil
}

// maxF16 is binary16's largest finite value: an f16 head would store
// anything larger as infinity.
const maxF16 = 65504

func (t *outTensor) prepareTernary(c *container, s srcTensor, o *resolved) error {
	b, err := s.data()
	if err != nil {
		return err
	}
	defer dropPages(b)
	want := []int{t.rows, t.cols}
	switch s.enc {
	case encI2S:
		if !slices.Equal(s.shape, want) {
			return fmt.Errorf("tensor %s: want shape [%d %d]", s, t.rows, t.cols)
		}
		d, err := ternary.NewI2S(b, t.rows, t.cols, o.i2s)
		if err != nil {
			return fmt.Errorf("tensor %s: %w", s, err)
		}
		if i := code3(b[:t.rows*t.cols/4]); i >= 0 {
			return fmt.Errorf("tensor %s: byte %d (%#02x) holds the 2-bit code 3, which quantize_i2_s never writes: %w", s, i, b[i], ternary.ErrFormat)
		}
		t.dec, t.gamma, t.how = d, d.Scale(), "I2_S ("+o.i2s.String()+" layout)"
	case encTQ1, encTQ2:
		if !slices.Equal(s.shape, want) {
			return fmt.Errorf("tensor %s: want shape [%d %d]", s, t.rows, t.cols)
		}
		kind := ternary.TQ1
		if s.enc == encTQ2 {
			kind = ternary.TQ2
		}
		d, err := ternary.NewTQ(kind, b, t.rows, t.cols)
		if err != nil {
			return fmt.Errorf("tensor %s: %w", s, err)
		}
		g, err := d.TensorScale()
		if errors.Is(err, ternary.ErrNonUniformScale) {
			return fmt.Errorf("tensor %s: %w; a BitNet b1.58 tensor has one scale γ (per-tensor absmean), and this file's block scales disagree, so it was not quantized from one", s, err)
		}
		if err != nil {
			return fmt.Errorf("tensor %s: %w", s, err)
		}
		t.dec, t.gamma, t.how = d, g, kind.String()
	case encU8:
		if t.rows%4 != 0 || !slices.Equal(s.shape, []int{t.rows / 4, t.cols}) {
			return fmt.Errorf("tensor %s: a packed ternary weight of %d×%d wants shape [%d %d] (four rows per byte)", s, t.rows, t.cols, t.rows/4, t.cols)
		}
		if t.scaleSrc == "" {
			return fmt.Errorf("tensor %s: packed uint8 weights need a weight_scale", s)
		}
		ss, ok := c.lookup(t.scaleSrc)
		if !ok {
			return fmt.Errorf("tensor %q (the scale of packed %q) is missing", t.scaleSrc, s.name)
		}
		ws, err := scalar(ss)
		if err != nil {
			return err
		}
		if i := code3(b); i >= 0 {
			return fmt.Errorf("tensor %s: byte %d (%#02x) holds the 2-bit code 3, which pack_weights never writes: %w", s, i, b[i], ternary.ErrFormat)
		}
		d, err := ternary.NewHFPacked(b, t.rows/4, t.cols, ws, o.hfScale)
		if err != nil {
			return fmt.Errorf("tensor %s with %s = %v: %w", s, t.scaleSrc, ws, err)
		}
		t.dec, t.gamma, t.how = d, d.Scale(), "HF packed uint8"
		t.scaleSrc = "" // consumed here
		o.consumed[ss.name] = true
	case encF32, encF16, encBF16:
		if !slices.Equal(s.shape, want) {
			return fmt.Errorf("tensor %s: want shape [%d %d]", s, t.rows, t.cols)
		}
		d, err := ternary.Ternarize(b, denseType(s.enc), t.rows, t.cols)
		if err != nil {
			return fmt.Errorf("tensor %s: %w", s, err)
		}
		t.dec, t.gamma = d, d.Scale()
		t.how = s.typ + " absmean"
		if d.AlreadyTernary() {
			t.how = s.typ + " already ternary (kept)"
		}
	default:
		return fmt.Errorf("tensor %s: type %s is not a ternary encoding the importer reads (I2_S, TQ1_0, TQ2_0, packed U8 with weight_scale, F32, F16, BF16)", s, s.typ)
	}
	if t.scaleSrc != "" {
		// GGUF blk.N.<w>.scale multiplies the matmul output (architectures.md
		// §1.5: LCP build_lora_mm(w, cur, w_s)), so it folds into γ.
		if ss, ok := c.lookup(t.scaleSrc); ok {
			f, err := scalar(ss)
			if err != nil {
				return err
			}
			if !(f > 0) || math.IsInf(float64(f), 0) {
				return fmt.Errorf("tensor %s: output scale %v must be finite and positive", ss, f)
			}
			t.gamma *= f
			o.consumed[ss.name] = true
		}
	}
	if math.IsNaN(float64(t.gamma)) || math.IsInf(float64(t.gamma), 0) || t.gamma < 0 {
		return fmt.Errorf("tensor %s: scale %v is not a finite non-negative number", s, t.gamma)
	}
	if t.gamma == 0 {
		// Every weight is zero, so any scale gives the same output; the
		// runtime wants a positive one.
		t.dec, t.gamma = zeroRows{}, 1
		t.how += ", all zero"
	}
	return nil
}

// scalar reads a one-element float tensor (a weight_scale of shape [1] or
// [], or a GGUF .scale).
func scalar(s srcTensor) (float32, error) {
	n := 1
	for _, d := range s.shape {
		n *= d
	}
	if n != 1 {
		return 0, fmt.Errorf("tensor %s: want one element", s)
	}
	v, err := floats(s, 1)
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

// code3 returns the index of the first byte holding the 2-bit field 11
// (no ternary value), or -1. The whole tensor is checked before the output
// exists, so that a corrupt input is refused rather than found mid-write.
func code3(b []byte) int {
	for i, c := range b {
		if c&(c>>1)&0x55 != 0 {
			return i
		}
	}
	return -1
}
