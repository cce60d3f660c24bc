package reference

import (
	"fmt"
	"math"
)

// WeightScaleFloor is the lower clamp of the absmean weight scale γ
// (architectures.md §1.3: "γ = mean(|W|) over all elements, clamped to ≥ 1e-5").
const WeightScaleFloor = 1e-5

// ActivationMaxFloor is the lower clamp of max|x| in per-token activation
// quantization (architectures.md §1.3: "s_x = 127 / max(|x|) over the row,
// with max clamped to ≥ 1e-5"). An all-zero row therefore gets the finite
// scale 127/1e-5 = 1.27e7, quantizes to all zeros and yields a zero output.
const ActivationMaxFloor = 1e-5

// AbsmeanTernarize quantizes a whole weight tensor with one scale
// (architectures.md §1.3, "absmean", per tensor):
//
//	γ  = max(mean|W|, 1e-5)
//	Wq = clip(round(W/γ), -1, +1)
//
// round is round-half-to-even (torch.round). The mean is the left-to-right
// sum of |W| divided by the element count. An empty tensor has γ = 1e-5.
func AbsmeanTernarize(w []float64) (q []int8, gamma float64) {
	sum := 0.0
	for _, v := range w {
		sum += math.Abs(v)
	}
	gamma = WeightScaleFloor
	if len(w) > 0 {
		gamma = max(sum/float64(len(w)), WeightScaleFloor)
	}
	q = make([]int8, len(w))
	for i, v := range w {
		r := math.RoundToEven(v / gamma)
		q[i] = int8(max(-1, min(1, r)))
	}
	return q, gamma
}

// ActivationScale returns the per-token int8 scale s_x = 127 / max(max|x|, 1e-5)
// (architectures.md §1.3).
func ActivationScale(x []float64) float64 {
	m := 0.0
	for _, v := range x {
		m = max(m, math.Abs(v))
	}
	return 127 / max(m, ActivationMaxFloor)
}

// QuantizeInt8 returns clip(round(x·scale), -128, 127) with round-half-to-even
// (architectures.md §1.3; torch.round in HF, nearest_int in bitnet.cpp's
// quantize_row_i8_s, both multiply x by the scale before rounding).
func QuantizeInt8(x []float64, scale float64) []int8 {
	q := make([]int8, len(x))
	for i, v := range x {
		r := math.RoundToEven(v * scale)
		q[i] = int8(max(-128, min(127, r)))
	}
	return q
}

// QuantizeActivations quantizes one token's activation vector to int8 with
// the absmax scale of [ActivationScale] (architectures.md §1.3). The
// dequantized value of q[i] is q[i]/scale.
func QuantizeActivations(x []float64) (q []int8, scale float64) {
	scale = ActivationScale(x)
	return QuantizeInt8(x, scale), scale
}

// RMSNorm returns x · 1/sqrt(mean(x²) + eps) · w (architectures.md §1.2
// "RMSNorm = x * rsqrt(mean(x²)+eps) * w", HFT BitNetRMSNorm). A nil w means a
// weight of ones.
func RMSNorm(x, w []float64, eps float64) []float64 {
	if w != nil && len(w) != len(x) {
		panic(fmt.Sprintf("reference: RMSNorm weight has %d elements, input %d", len(w), len(x)))
	}
	ms := 0.0
	for _, v := range x {
		ms += v * v
	}
	ms /= float64(len(x))
	r := 1 / math.Sqrt(ms+eps)
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = v * r
		if w != nil {
			y[i] *= w[i]
		}
	}
	return y
}

// Softmax returns exp(x_i − max x) / Σ_j exp(x_j − max x). Subtracting the
// maximum keeps every exponent ≤ 0, so large logits cannot overflow; −Inf
// entries (masked positions) get probability 0.
func Softmax(x []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = max(m, v)
	}
	p := make([]float64, len(x))
	sum := 0.0
	for i, v := range x {
		p[i] = math.Exp(v - m)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// Sigmoid is 1/(1+e^−x).
func Sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// SiLU is x·sigmoid(x) (also called swish; the 1bitLLM FFN activation and the
// MatMul-free GLU/MLGRU activation, architectures.md §1.1, §2.2, §2.3).
func SiLU(x float64) float64 { return x * Sigmoid(x) }

// ReLU2 is max(x, 0)² (HF hidden_act "relu2", the 2B4T FFN activation,
// architectures.md §1.2, §7 BitNet item 5).
func ReLU2(x float64) float64 {
	if x <= 0 {
		return 0
	}
	return x * x
}

// Argmax returns the index of the largest element; ties go to the lowest
// index, which is what greedy decoding uses.
func Argmax(x []float64) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// RopeRotateHalf rotates one head vector x (length D, even) in place for
// position pos with the rotate-half ("NEOX") pairing (architectures.md §1.2,
// §7 BitNet item 6): with inv_freq[i] = θ^(−2i/D) and a = pos·inv_freq[i],
//
//	x'[i]       = x[i]·cos a − x[i+D/2]·sin a
//	x'[i+D/2]   = x[i+D/2]·cos a + x[i]·sin a     for i < D/2.
//
// This is HF's q·cos + rotate_half(q)·sin. Angles are computed in float64
// (HF computes them in float32; the difference is a tolerance matter).
func RopeRotateHalf(x []float64, pos int, theta float64) {
	d := len(x)
	if d%2 != 0 {
		panic(fmt.Sprintf("reference: RoPE on odd head dimension %d", d))
	}
	half := d / 2
	for i := range half {
		invFreq := 1 / math.Pow(theta, float64(2*i)/float64(d))
		a := float64(pos) * invFreq
		c, s := math.Cos(a), math.Sin(a)
		x0, x1 := x[i], x[i+half]
		x[i] = x0*c - x1*s
		x[i+half] = x1*c + x0*s
	}
}

// Matrix is a dense row-major float64 matrix (embeddings, untied output
// heads, lower bounds).
type Matrix struct {
	Rows, Cols int
	Data       []float64 // len Rows*Cols, element (r, c) at r*Cols+c
}

// NewMatrix returns a zero Rows×Cols matrix.
func NewMatrix(rows, cols int) Matrix {
	return Matrix{Rows: rows, Cols: cols, Data: make([]float64, rows*cols)}
}

// Row returns row r as a slice of the matrix's storage.
func (m Matrix) Row(r int) []float64 { return m.Data[r*m.Cols : (r+1)*m.Cols] }

// MulVec returns m·x in full precision (no quantization).
func (m Matrix) MulVec(x []float64) []float64 {
	if len(x) != m.Cols {
		panic(fmt.Sprintf("reference: matrix %dx%d times vector of %d", m.Rows, m.Cols, len(x)))
	}
	y := make([]float64, m.Rows)
	for r := range m.Rows {
		y[r] = dot(m.Row(r), x)
	}
	return y
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func (m Matrix) check(name string, rows, cols int) error {
	if m.Rows != rows || m.Cols != cols || len(m.Data) != rows*cols {
		return fmt.Errorf("reference: %s is %dx%d (%d values), want %dx%d", name, m.Rows, m.Cols, len(m.Data), rows, cols)
	}
	return nil
}

func checkVec(name string, v []float64, n int) error {
	if len(v) != n {
		return fmt.Errorf("reference: %s has %d elements, want %d", name, len(v), n)
	}
	return nil
}
