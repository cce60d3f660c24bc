package reference

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Mode selects how every BitLinear of a session is evaluated.
type Mode int

const (
	// Float evaluates y = γ·(Wq·x) with full-precision activations: the
	// ternary weights times their scale, no activation quantization.
	Float Mode = iota
	// Quantized evaluates the exact integer BitLinear (architectures.md §1.3):
	// xq = clip(round(x·s_x), −128, 127) with s_x = 127/max(max|x|, 1e-5),
	// dot = Σ Wq·xq computed exactly in int64, y = dot·γ/s_x.
	Quantized
)

func (m Mode) String() string {
	switch m {
	case Float:
		return "float"
	case Quantized:
		return "quantized"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ErrShape is returned (wrapped) when weights do not have the shape their
// configuration asks for.
var ErrShape = errors.New("reference: shape mismatch")

// BitLinear is one ternary projection y = BitLinear(x) with Out×In weights in
// {−1, 0, +1}, one per-tensor scale γ and no bias (architectures.md §1.2 "No
// biases anywhere", §1.3). Each projection has its own γ, also where a
// checkpoint fuses them (q/k/v and gate/up in 2B4T, §1.3). When Norm is set
// it is a FusedBitLinear
// (architectures.md §2.4): the input is first RMS-normalized with its own
// weight Norm and NormEps, then quantized.
type BitLinear struct {
	Name    string // tensor name without ".weight", e.g. "model.layers.0.self_attn.q_proj"
	Out, In int
	W       []int8  // row-major [Out][In], every value −1, 0 or +1
	Gamma   float64 // γ: W_eff = γ·W
	Norm    []float64
	NormEps float64
}

// NewBitLinearTernary builds a BitLinear from ternary weights (row-major
// [out][in]) and their scale γ, as stored in a ternary container (I2_S tail,
// TQ d, or the reciprocal of an HF "bitlinear" weight_scale, architectures.md
// §1.4, §7 BitNet item 2). The weights are copied.
func NewBitLinearTernary(name string, out, in int, w []int8, gamma float64) (*BitLinear, error) {
	if len(w) != out*in {
		return nil, fmt.Errorf("%w: %s has %d weights, want %d×%d", ErrShape, name, len(w), out, in)
	}
	for i, v := range w {
		if v < -1 || v > 1 {
			return nil, fmt.Errorf("reference: %s weight %d is %d, not ternary", name, i, v)
		}
	}
	if !(gamma > 0) || math.IsInf(gamma, 0) {
		return nil, fmt.Errorf("reference: %s scale γ = %v, want a finite positive number", name, gamma)
	}
	return &BitLinear{Name: name, Out: out, In: in, W: append([]int8(nil), w...), Gamma: gamma}, nil
}

// NewBitLinearLatent builds a BitLinear from latent full-precision weights
// (row-major [out][in]) by per-tensor absmean ternarization
// ([AbsmeanTernarize], architectures.md §1.3), as the 1bitLLM and MMfreeLM
// checkpoints require at load time (§1.4 item 1, §2.1). Never pass weights
// that are already ternary×γ: re-ternarizing shrinks them (§1.4 pitfall).
func NewBitLinearLatent(name string, out, in int, latent []float64) (*BitLinear, error) {
	if len(latent) != out*in {
		return nil, fmt.Errorf("%w: %s has %d weights, want %d×%d", ErrShape, name, len(latent), out, in)
	}
	q, g := AbsmeanTernarize(latent)
	return &BitLinear{Name: name, Out: out, In: in, W: q, Gamma: g}, nil
}

// WithNorm returns b made into a FusedBitLinear with RMSNorm weight w and
// epsilon eps (architectures.md §2.4). It modifies and returns b.
func (b *BitLinear) WithNorm(w []float64, eps float64) *BitLinear {
	b.Norm, b.NormEps = w, eps
	return b
}

// Row returns the ternary weights of output row o.
func (b *BitLinear) Row(o int) []int8 { return b.W[o*b.In : (o+1)*b.In] }

func (b *BitLinear) check(out, in int, fused bool) error {
	if b == nil {
		return fmt.Errorf("reference: missing BitLinear (%d×%d)", out, in)
	}
	if b.Out != out || b.In != in || len(b.W) != out*in {
		return fmt.Errorf("%w: %s is %d×%d (%d weights), want %d×%d", ErrShape, b.Name, b.Out, b.In, len(b.W), out, in)
	}
	if fused && len(b.Norm) != in {
		return fmt.Errorf("%w: %s norm has %d elements, want %d", ErrShape, b.Name, len(b.Norm), in)
	}
	if !fused && b.Norm != nil && len(b.Norm) != in {
		return fmt.Errorf("%w: %s norm has %d elements, want %d", ErrShape, b.Name, len(b.Norm), in)
	}
	return nil
}

// Record is what one BitLinear evaluation saw and produced.
type Record struct {
	Name string
	Pos  int // token position (language models) or input index (classifier)
	Mode Mode
	// Input is the vector that was quantized (Quantized) or multiplied
	// (Float): for a FusedBitLinear it is the output of the BitLinear's own
	// RMSNorm.
	Input []float64
	// ScaleX, Xq and Dot are set in Quantized mode only: the activation scale
	// s_x, the int8 activations and the exact integer dot products
	// Σ_i Wq[o,i]·xq[i], one per output row.
	ScaleX float64
	Xq     []int8
	Dot    []int32
	Output []float64
}

// Trace collects the [Record] of every BitLinear evaluated by a session that
// holds it. The order of Records follows evaluation order, which differs
// between Forward (layer by layer) and Step (token by token); look records
// up by name and position.
type Trace struct {
	Records []Record
}

// Add appends r.
func (t *Trace) Add(r Record) { t.Records = append(t.Records, r) }

// Get returns the record of the BitLinear name at position pos (the last one
// if there are several, e.g. after a Reset).
func (t *Trace) Get(name string, pos int) (Record, bool) {
	for i := len(t.Records) - 1; i >= 0; i-- {
		if r := t.Records[i]; r.Name == name && r.Pos == pos {
			return r, true
		}
	}
	return Record{}, false
}

// Apply evaluates the BitLinear on x in the given mode and returns y and the
// record of what was computed.
func (b *BitLinear) Apply(x []float64, mode Mode, pos int) ([]float64, Record) {
	if len(x) != b.In {
		panic(fmt.Sprintf("reference: %s takes %d inputs, got %d", b.Name, b.In, len(x)))
	}
	if b.Norm != nil {
		// architectures.md §2.4: x̂ = x / sqrt(mean(x²) + eps) * w_norm.
		x = RMSNorm(x, b.Norm, b.NormEps)
	}
	// The record keeps its own copies so that later in-place updates by the
	// caller (residual adds, RoPE, activations) cannot alter it.
	rec := Record{Name: b.Name, Pos: pos, Mode: mode, Input: slices.Clone(x)}
	y := make([]float64, b.Out)
	switch mode {
	case Float:
		// W_eff = γ·Wq (architectures.md §1.3) times full-precision x.
		for o := range b.Out {
			s := 0.0
			for i, w := range b.Row(o) {
				s += float64(w) * x[i]
			}
			y[o] = s * b.Gamma
		}
	case Quantized:
		// architectures.md §1.3: s_x = 127/max(|x|), xq = clip(round(x·s_x)),
		// y[o] = (Σ_i Wq[o,i]·xq[i])·γ/s_x with the sum exact in integers.
		xq, sx := QuantizeActivations(x)
		dots := make([]int32, b.Out)
		for o := range b.Out {
			var acc int64
			for i, w := range b.Row(o) {
				acc += int64(w) * int64(xq[i])
			}
			if acc > math.MaxInt32 || acc < math.MinInt32 {
				panic(fmt.Sprintf("reference: %s row %d dot %d overflows int32", b.Name, o, acc))
			}
			dots[o] = int32(acc)
			y[o] = float64(acc) * b.Gamma / sx
		}
		rec.ScaleX, rec.Xq, rec.Dot = sx, xq, dots
	default:
		panic(fmt.Sprintf("reference: unknown mode %d", int(mode)))
	}
	rec.Output = slices.Clone(y)
	return y, rec
}

// eval runs b and hands the record to tr when tr is not nil.
func eval(b *BitLinear, x []float64, mode Mode, pos int, tr *Trace) []float64 {
	y, rec := b.Apply(x, mode, pos)
	if tr != nil {
		tr.Add(rec)
	}
	return y
}

// greedy decodes n tokens after prompt: the prompt is run through forward,
// then each argmax token is fed back through step (ties to the lowest id).
func greedy(forward func([]int) [][]float64, step func(int) []float64, prompt []int, n int) []int {
	if len(prompt) == 0 {
		panic("reference: Greedy needs a non-empty prompt")
	}
	out := make([]int, 0, n)
	if n <= 0 {
		return out
	}
	logits := forward(prompt)
	next := Argmax(logits[len(logits)-1])
	out = append(out, next)
	for len(out) < n {
		next = Argmax(step(next))
		out = append(out, next)
	}
	return out
}
