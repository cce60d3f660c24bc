package simd

import (
	"fmt"
	"math"
)

// Float helpers for the non-matrix parts of a layer. Each is a Go loop that
// defines its result; where the CPU has AVX-512 or NEON (normVec) the
// long ones run as vector loops that give the Go loop's bits (and
// QuantizeActivations and Dequantize also with AVX2, quantKernels in
// quant.go): a decode step spends its time
// streaming weights, but what runs between the kernel calls runs on one
// thread, once per token and layer, and a small model's token is short.
// All are allocation-free.

func checkLen(fn string, n int, lens ...int) {
	for _, l := range lens {
		if l < n {
			panic(fmt.Sprintf("simd: %s: slice of %d shorter than %d", fn, l, n))
		}
	}
}

// RMSNorm sets dst[i] = x[i] / sqrt(mean(x²) + eps) · weight[i] (Zhang &
// Sennrich 2019). weight may be nil for an unscaled norm. dst may alias x.
// The squares are summed in float64 in eight lanes (element i into lane
// i mod 8, in order; see sumSquares) added in a fixed tree, and dst[i] is
// (x[i]·inv)·weight[i] in float32, so the result is the same on every CPU
// and with or without the vector loops.
func RMSNorm(dst, x, weight []float32, eps float32) {
	checkLen("RMSNorm", len(x), len(dst))
	if weight != nil {
		checkLen("RMSNorm", len(x), len(weight))
	}
	s := sumSquares(x)
	ss := ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]))
	inv := float32(1 / math.Sqrt(ss/float64(max(len(x), 1))+float64(eps)))
	dst = dst[:len(x)]
	main := vecLen(len(x))
	if main > 0 {
		if weight == nil {
			scaleVec(&dst[0], &x[0], main, inv)
		} else {
			scaleWeightVec(&dst[0], &x[0], &weight[0], main, inv)
		}
	}
	if weight == nil {
		for i := main; i < len(x); i++ {
			dst[i] = x[i] * inv
		}
		return
	}
	weight = weight[:len(x)]
	for i := main; i < len(x); i++ {
		dst[i] = x[i] * inv * weight[i]
	}
}

// sumSquares returns s[l] = Σ x[i]² over i ≡ l (mod 8), each sum taken in
// order of i in float64 (a float32 squared is exact in float64: only the
// additions round).
func sumSquares(x []float32) (s [8]float64) {
	main := vecLen(len(x))
	if main > 0 {
		sumSquaresVec(&x[0], main, &s)
	}
	i := main
	for ; i+8 <= len(x); i += 8 {
		v := x[i : i+8 : i+8]
		for l, f := range v {
			a := float64(f)
			s[l] += a * a
		}
	}
	for ; i < len(x); i++ {
		a := float64(x[i])
		s[i&7] += a * a
	}
	return s
}

// normVec says whether the vector loops of RMSNorm, SoftmaxScaled,
// ReLUSquaredGate, SiLU, SiLUGate, MLGRUStep, AddTo, RoPERotateHalf and
// Argmax (sumSquaresVec, sumLanesVec, maxVec, expScaledVec, scaleVec,
// scaleWeightVec, reluSqGateVec, siluVec, siluGateVec, mlgruVec,
// mlgruLBVec, addToVec, ropeVec and argmaxVec in the architecture's file;
// each gives the Go loop's bits) run on this CPU (AVX-512 or NEON); the
// architecture file's init sets it. They are called directly, not through
// function values, so that their pointer arguments stay on the stack.
var normVec bool

// vecLen is how many of n elements the vector loops take: n rounded down
// to 16, or none without them.
func vecLen(n int) int {
	if normVec {
		return n &^ 15
	}
	return 0
}

// RoPETable fills cos and sin (each dim/2 long) for position pos with base
// theta: angle_i = pos · theta^(-2i/dim) (Su et al. 2021, RoFormer).
func RoPETable(cos, sin []float32, pos int, theta float64) {
	half := len(cos)
	checkLen("RoPETable", half, len(sin))
	for i := 0; i < half; i++ {
		a := float64(pos) * math.Pow(theta, -float64(2*i)/float64(2*half))
		s, c := math.Sincos(a)
		cos[i], sin[i] = float32(c), float32(s)
	}
}

// RoPERotateHalf rotates one head vector x (even length d) in place in the
// "rotate half" convention of GPT-NeoX and LLaMA in Hugging Face: element i
// pairs with i+d/2. cos and sin come from RoPETable and are d/2 long.
func RoPERotateHalf(x, cos, sin []float32) {
	h := len(x) / 2
	if len(x)%2 != 0 {
		panic(fmt.Sprintf("simd: RoPERotateHalf: odd head size %d", len(x)))
	}
	checkLen("RoPERotateHalf", h, len(cos), len(sin))
	main := vecLen(h)
	if main > 0 {
		ropeVec(&x[0], &cos[0], &sin[0], h, main)
	}
	// Each product rounded on its own (the conversions keep a compiler
	// from fusing them into the add), as in the vector loop.
	for i := main; i < h; i++ {
		a, b := x[i], x[i+h]
		x[i] = float32(a*cos[i]) - float32(b*sin[i])
		x[i+h] = float32(b*cos[i]) + float32(a*sin[i])
	}
}

// Softmax replaces x with exp(x - max x) / Σ exp(x - max x). An empty x is
// left alone.
func Softmax(x []float32) { SoftmaxScaled(x, 1) }

// SoftmaxScaled replaces x with softmax(scale·x) (attention scores with
// their 1/sqrt(head_dim), in one pass): exp(scale·(x - max x)) normalized,
// with scale > 0. The exponentials are those of Exp32 (within 2 ulp of
// exp) and the sum is accumulated in float64 in eight lanes (as RMSNorm's),
// so for x without NaN the result is the same on every CPU, with or
// without the vector loops.
func SoftmaxScaled(x []float32, scale float32) {
	if len(x) == 0 {
		return
	}
	main := vecLen(len(x))
	m := x[0]
	if main > 0 {
		m = maxVec(&x[0], main)
	}
	for _, v := range x[main:] {
		if v > m {
			m = v
		}
	}
	if main > 0 {
		expScaledVec(&x[0], &x[0], main, m, scale)
	}
	for i := main; i < len(x); i++ {
		x[i] = Exp32(float32(x[i]-m) * scale)
	}
	l := sumLanes(x)
	s := ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))
	inv := float32(1 / s)
	if main > 0 {
		scaleVec(&x[0], &x[0], main, inv)
	}
	for i := main; i < len(x); i++ {
		x[i] *= inv
	}
}

// sumLanes returns s[l] = Σ x[i] over i ≡ l (mod 8), each sum taken in
// order of i in float64 (as sumSquares, without the squares).
func sumLanes(x []float32) (s [8]float64) {
	main := vecLen(len(x))
	if main > 0 {
		sumLanesVec(&x[0], main, &s)
	}
	i := main
	for ; i+8 <= len(x); i += 8 {
		v := x[i : i+8 : i+8]
		for l, f := range v {
			s[l] += float64(f)
		}
	}
	for ; i < len(x); i++ {
		s[i&7] += float64(x[i])
	}
	return s
}

// Exp32 returns e^x for x ≤ 0 (the arguments of a softmax), within 2 ulp of
// the exact value; x below -87.3 (where e^x leaves the normal float32
// range) gives 0, and NaN gives NaN. It is Cephes' expf: x = n·ln2 + r with
// |r| ≤ ln2/2, a degree-6 polynomial for e^r, and 2^n put in the exponent
// bits. Every operation is rounded to float32 on its own (explicit
// conversions keep the compiler from fusing a multiply and an add), so the
// bits are the same on amd64 and arm64. Positive x is not supported: the
// result is then only defined to be finite for x < 0.5.
func Exp32(x float32) float32 {
	if !(x >= -87.3) { // also NaN
		if x != x {
			return x
		}
		return 0
	}
	const (
		log2e = 1.44269504088896341
		c1    = 0.693359375
		c2    = -2.12194440e-4
	)
	// n = round(x·log2e); x·log2e is in [-126, 0.8], so truncating t-0.5
	// toward zero rounds half away from zero below 0.5.
	t := float32(x*log2e) - 0.5
	n := int32(t)
	if t < 0 && float32(n) != t {
		n-- // truncation went toward zero: floor
	}
	n++ // floor(x·log2e - 0.5) + 1 = round(x·log2e) (ties up)
	fn := float32(n)
	r := float32(x - float32(fn*c1))
	r = float32(r - float32(fn*c2))
	z := float32(r * r)
	p := float32(float32(1.9875691500e-4*r) + 1.3981999507e-3)
	p = float32(float32(p*r) + 8.3334519073e-3)
	p = float32(float32(p*r) + 4.1665795894e-2)
	p = float32(float32(p*r) + 1.6666665459e-1)
	p = float32(float32(p*r) + 5.0000001201e-1)
	p = float32(float32(p*z) + r)
	p = p + 1
	return p * math.Float32frombits(uint32(n+127)<<23)
}

// Sigmoid32 returns 1/(1+e^-x) in float32: with e = Exp32(-|x|) and
// d = 1+e, 1/d for x ≥ 0 and e/d below (so that no argument of Exp32 is
// positive and a small σ keeps its relative precision). Where σ(x) ≥
// 2^-125 it is within 2 ulp of the exact value (SiLU32 within 3; measured
// over [-100, 100]); below -87.3 Exp32 flushes e to 0, so σ is 0. NaN
// gives x itself. Every operation is rounded to float32 on its own, so
// the bits are the same on every CPU and in the vector loops (SiLU,
// SiLUGate, MLGRUStep).
func Sigmoid32(x float32) float32 {
	if x != x {
		return x
	}
	e := Exp32(math.Float32frombits(math.Float32bits(x) | 1<<31))
	d := float32(1 + e)
	if x >= 0 {
		return float32(1 / d)
	}
	return float32(e / d)
}

// SiLU32 is x·σ(x) as x/d for x ≥ 0 and (x·e)/d below, e and d as in
// Sigmoid32: one division, and no σ rounded on its own. SiLU32(-Inf) is
// NaN (-Inf·0); NaN gives x itself.
func SiLU32(x float32) float32 {
	if x != x {
		return x
	}
	e := Exp32(math.Float32frombits(math.Float32bits(x) | 1<<31))
	d := float32(1 + e)
	n := x
	if !(x >= 0) {
		n = float32(x * e)
	}
	return float32(n / d)
}

// SiLU sets dst[i] = x[i]·σ(x[i]) (SiLU32: Exp32-based, the same bits on
// every CPU). dst may alias x.
func SiLU(dst, x []float32) {
	checkLen("SiLU", len(x), len(dst))
	dst = dst[:len(x)]
	main := vecLen(len(x))
	if main > 0 {
		siluVec(&dst[0], &x[0], main)
	}
	for i := main; i < len(x); i++ {
		dst[i] = SiLU32(x[i])
	}
}

// ReLUSquared sets dst[i] = max(x[i],0)² (the BitNet b1.58 2B4T FFN
// activation). dst may alias x.
func ReLUSquared(dst, x []float32) {
	checkLen("ReLUSquared", len(x), len(dst))
	for i, v := range x {
		if v < 0 {
			v = 0
		}
		dst[i] = v * v
	}
}

// Mul sets dst[i] = a[i]·b[i]. dst may alias a or b.
func Mul(dst, a, b []float32) {
	checkLen("Mul", len(a), len(dst), len(b))
	for i, v := range a {
		dst[i] = v * b[i]
	}
}

// SiLUGate sets dst[i] = silu(gate[i])·up[i] (SwiGLU, LLaMA-style FFN;
// silu as in SiLU). dst may alias gate or up.
func SiLUGate(dst, gate, up []float32) {
	checkLen("SiLUGate", len(gate), len(dst), len(up))
	dst, up = dst[:len(gate)], up[:len(gate)]
	main := vecLen(len(gate))
	if main > 0 {
		siluGateVec(&dst[0], &gate[0], &up[0], main)
	}
	for i := main; i < len(gate); i++ {
		dst[i] = SiLU32(gate[i]) * up[i]
	}
}

// MLGRUStep advances the hidden state h of a MatMul-free LM's token
// mixer (HGRN-bit's MLGRU) by one token, given the token's input and
// forget-gate pre-activations ig and fg: for each k
//
//	f = σ(fg[k]), raised to lb[k] + (1-lb[k])·f when lb is not nil,
//	h[k] = f·h[k] + silu(ig[k])·(1-f),
//
// σ and silu as in Sigmoid32 and SiLU, each operation rounded to float32
// in the order written, so the bits are the same on every CPU (a NaN
// input gives NaN; where two NaNs meet, which payload is kept is not
// specified).
func MLGRUStep(h, ig, fg, lb []float32) {
	checkLen("MLGRUStep", len(h), len(ig), len(fg))
	if lb != nil {
		checkLen("MLGRUStep", len(h), len(lb))
		lb = lb[:len(h)]
	}
	ig, fg = ig[:len(h)], fg[:len(h)]
	main := vecLen(len(h))
	if main > 0 {
		if lb != nil {
			mlgruLBVec(&h[0], &ig[0], &fg[0], &lb[0], main)
		} else {
			mlgruVec(&h[0], &ig[0], &fg[0], main)
		}
	}
	for k := main; k < len(h); k++ {
		f := Sigmoid32(fg[k])
		if lb != nil {
			f = float32(lb[k] + float32(float32(1-lb[k])*f))
		}
		c := float32(SiLU32(ig[k]) * float32(1-f))
		h[k] = float32(float32(f*h[k]) + c)
	}
}

// ReLUSquaredGate sets dst[i] = relu(gate[i])²·up[i] (BitNet b1.58 2B4T FFN).
// The ReLU clears the bits of a negative gate without a branch (the signs
// of a layer's gates are as good as random); a NaN gate with the sign bit
// set gives 0, one without gives NaN.
func ReLUSquaredGate(dst, gate, up []float32) {
	checkLen("ReLUSquaredGate", len(gate), len(dst), len(up))
	dst, up = dst[:len(gate)], up[:len(gate)]
	main := vecLen(len(gate))
	if main > 0 {
		reluSqGateVec(&dst[0], &gate[0], &up[0], main)
	}
	for i := main; i < len(gate); i++ {
		b := math.Float32bits(gate[i])
		g := math.Float32frombits(b &^ uint32(int32(b)>>31))
		dst[i] = g * g * up[i]
	}
}

// AddTo sets dst[i] += x[i] (a residual connection).
func AddTo(dst, x []float32) {
	checkLen("AddTo", len(x), len(dst))
	dst = dst[:len(x)]
	main := vecLen(len(x))
	if main > 0 {
		addToVec(&dst[0], &x[0], main)
	}
	for i := main; i < len(x); i++ {
		dst[i] += x[i]
	}
}

// Dequantize turns exact kernel results into floats:
// dst[r] = float32(acc[r]) · rowScale[r] / xscale, where xscale is the
// activation scale from QuantizeActivations. A rowScale of length 1 is one
// scale for the whole tensor (BitNet b1.58's per-tensor absmean β).
func Dequantize(dst []float32, acc []int32, rowScale []float32, xscale float32) {
	checkLen("Dequantize", len(acc), len(dst))
	if len(rowScale) != 1 {
		checkLen("Dequantize", len(acc), len(rowScale))
	}
	inv := 1 / xscale
	main := 0
	// With a NaN inv a NaN row scale would make a product of two NaNs, whose
	// payload depends on the operand order; leave that to the Go loop.
	if k := quantVec.Load(); k != nil && inv == inv {
		main = len(acc) &^ (quantVecStep - 1)
		if main > 0 {
			if len(rowScale) == 1 {
				k.dequantOne(&dst[0], &acc[0], main, rowScale[0], inv)
			} else {
				k.dequantRows(&dst[0], &acc[0], &rowScale[0], main, inv)
			}
		}
	}
	dequantizeRange(dst, acc, rowScale, inv, main)
}

// dequantizeGeneric is Dequantize in Go alone, the reference the vector
// kernels are tested against.
func dequantizeGeneric(dst []float32, acc []int32, rowScale []float32, xscale float32) {
	checkLen("Dequantize", len(acc), len(dst))
	if len(rowScale) != 1 {
		checkLen("Dequantize", len(acc), len(rowScale))
	}
	dequantizeRange(dst, acc, rowScale, 1/xscale, 0)
}

// dequantizeRange is the loop of Dequantize from element from on.
func dequantizeRange(dst []float32, acc []int32, rowScale []float32, inv float32, from int) {
	for r := from; r < len(acc); r++ {
		s := rowScale[0]
		if len(rowScale) != 1 {
			s = rowScale[r]
		}
		dst[r] = float32(acc[r]) * s * inv
	}
}

// DequantizeInt8 sets dst[i] = float32(q[i])·scale, for example an int8
// embedding row with its row scale.
func DequantizeInt8(dst []float32, q []int8, scale float32) {
	checkLen("DequantizeInt8", len(q), len(dst))
	for i, v := range q {
		dst[i] = float32(v) * scale
	}
}
