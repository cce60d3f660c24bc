package train

import (
	"math/rand/v2"

	"github.com/speakez/barewire/sdk/train/internal/sgemm"
	"github.com/speakez/barewire/simd"
)

// Linear is a BitLinear layer y = W·x (+ b) trained with fp32 master
// weights, optionally preceded by its own RMSNorm (the FusedBitLinear of
// architectures.md §2.4: x̂ = x/sqrt(mean(x²)+ε)·w_norm).
//
// Quant is the blend λ between the float layer (0) and the quantized one
// (1). At λ = 1 the forward pass is what inference computes (§1.3):
//
//	γ = max(mean|W|, 1e-5),  Wq = clamp(round(W/γ), −1, 1)
//	s = 127/max|x̂| per token,  xq = clamp(round(x̂·s), −128, 127)
//	y = float32(Σ Wq·xq) · γ · (1/s)
//
// with the same roundings (half to even) and the same float32 operations
// as package simd, so that an exported model reproduces it exactly. In
// between, weights and activations are (1−λ)·float + λ·dequantized. The
// backward pass is the straight-through estimator (Bengio et al. 2013):
// the quantizers' gradient is taken as the identity, so the master
// weights receive dL/dW of the weights actually used.
type Linear struct {
	Name    string
	In, Out int
	W       *Param // [Out×In]
	Norm    *Param // [In] or nil
	Bias    *Param // [Out] or nil
	Eps     float32
	Quant   float32

	// forward caches, reused across steps
	x, xn, xu, inv []float32
	wu, xbuf, wbuf []float32
	gamma          float32
	xs             []float32
	wq             []int8
	dxu            []float32
	n              int
}

// NewLinear makes an out×in layer with weights drawn from N(0, 1/in)
// (LeCun normal), a norm weight of ones when norm is set, and a zero bias
// when bias is set.
func NewLinear(name string, in, out int, norm, bias bool, r *rand.Rand) *Linear {
	l := &Linear{Name: name, In: in, Out: out, Eps: 1e-6}
	l.W = newParam(name+".weight", true, out, in).normal(r, 1/sqrtf(in))
	if norm {
		l.Norm = newParam(name+".norm.weight", false, in).fill(1)
	}
	if bias {
		l.Bias = newParam(name+".bias", false, out)
	}
	return l
}

// Params lists the layer's parameters.
func (l *Linear) Params() []*Param {
	ps := []*Param{l.W}
	if l.Norm != nil {
		ps = append(ps, l.Norm)
	}
	if l.Bias != nil {
		ps = append(ps, l.Bias)
	}
	return ps
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// QuantizedWeights returns the ternary codes and γ of the current master
// weights (what Export writes).
func (l *Linear) QuantizedWeights() ([]int8, float32) {
	q := make([]int8, len(l.W.W))
	g := Ternarize(q, l.W.W)
	return q, g
}

// Forward computes y (n×Out, overwritten) from x (n×In). x must stay
// unchanged until Backward.
func (l *Linear) Forward(y, x []float32, n int) {
	in, out := l.In, l.Out
	l.n, l.x = n, x
	xn := x
	if l.Norm != nil {
		l.xn = grow(l.xn, n*in)
		l.inv = grow(l.inv, n)
		rmsNormForward(l.xn, x, l.Norm.W, l.Eps, n, in, l.inv)
		xn = l.xn
	}
	lam := l.Quant
	if lam <= 0 {
		l.xu, l.wu = xn, l.W.W
		sgemm.MulABt(y, xn, l.W.W, n, out, in)
	} else {
		if len(l.wq) != len(l.W.W) {
			l.wq = make([]int8, len(l.W.W))
		}
		l.gamma = Ternarize(l.wq, l.W.W)
		l.xs = grow(l.xs, n)
		l.xbuf = grow(l.xbuf, n*in)
		xq := l.xbuf
		quantizeRows(xq, l.xs, xn, n, in)
		l.wbuf = grow(l.wbuf, len(l.W.W))
		wq := l.wbuf
		for i, q := range l.wq {
			wq[i] = float32(q)
		}
		if lam >= 1 {
			// Exact integer dot products (every partial sum is below 2^24
			// while In·128 < 2^24, i.e. In < 131072), then
			// simd.Dequantize: y = float32(acc)·γ·(1/s).
			sgemm.MulABt(y, xq, wq, n, out, in)
			g := []float32{l.gamma}
			parallelFor(n, func(t0, t1 int) {
				acc := make([]int32, out)
				for t := t0; t < t1; t++ {
					row := y[t*out : (t+1)*out]
					for o, v := range row {
						acc[o] = int32(v)
					}
					simd.Dequantize(row, acc, g, l.xs[t])
					// Values the gradient flows through: x̃ = xq/s, W̃ = γ·Wq.
					inv := 1 / l.xs[t]
					for i := t * in; i < (t+1)*in; i++ {
						xq[i] *= inv
					}
				}
			})
			for i := range wq {
				wq[i] *= l.gamma
			}
		} else {
			one := 1 - lam
			parallelFor(n, func(t0, t1 int) {
				for t := t0; t < t1; t++ {
					inv := 1 / l.xs[t]
					for i := t * in; i < (t+1)*in; i++ {
						xq[i] = one*xn[i] + lam*xq[i]*inv
					}
				}
			})
			for i, w := range l.W.W {
				wq[i] = one*w + lam*l.gamma*wq[i]
			}
			sgemm.MulABt(y, xq, wq, n, out, in)
		}
		l.xu, l.wu = xq, wq
	}
	if l.Bias != nil {
		for t := range n {
			row := y[t*out : (t+1)*out]
			for o := range row {
				row[o] += l.Bias.W[o]
			}
		}
	}
}

// Backward accumulates the parameter gradients from dy (n×Out) and adds
// dL/dx to dx (n×In); dx may be nil for the first layer.
func (l *Linear) Backward(dx, dy []float32) {
	n, in, out := l.n, l.In, l.Out
	if l.Bias != nil {
		for t := range n {
			for o, g := range dy[t*out : (t+1)*out] {
				l.Bias.G[o] += g
			}
		}
	}
	sgemm.MulAtBAdd(l.W.G, dy, l.xu, out, in, n)
	if dx == nil {
		return
	}
	if l.Norm == nil {
		sgemm.MulAdd(dx, dy, l.wu, n, in, out)
		return
	}
	l.dxu = grow(l.dxu, n*in)
	clear(l.dxu)
	sgemm.MulAdd(l.dxu, dy, l.wu, n, in, out)
	rmsNormBackward(dx, l.dxu, l.x, l.Norm.W, l.Norm.G, n, in, l.inv)
}
