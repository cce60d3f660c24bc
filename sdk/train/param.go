package train

import (
	"math"
	"math/rand/v2"
)

// Param is one trainable tensor: its fp32 master values, the gradient of
// the current step and AdamW's two moment estimates.
type Param struct {
	Name  string
	Shape []int
	W, G  []float32
	M, V  []float32
	// Decay says whether AdamW's weight decay applies (matrices yes;
	// norms, biases and gates no).
	Decay bool
}

func newParam(name string, decay bool, shape ...int) *Param {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return &Param{Name: name, Shape: shape, W: make([]float32, n), G: make([]float32, n),
		M: make([]float32, n), V: make([]float32, n), Decay: decay}
}

// fill sets every value to v.
func (p *Param) fill(v float32) *Param {
	for i := range p.W {
		p.W[i] = v
	}
	return p
}

// normal fills p with N(0, std²) values.
func (p *Param) normal(r *rand.Rand, std float64) *Param {
	for i := range p.W {
		p.W[i] = float32(r.NormFloat64() * std)
	}
	return p
}

// ZeroGrad clears the gradients of ps.
func ZeroGrad(ps []*Param) {
	for _, p := range ps {
		clear(p.G)
	}
}

// ClipGradNorm scales the gradients of ps so that their global L2 norm is
// at most maxNorm (Pascanu et al. 2013) and returns the norm before
// clipping. maxNorm ≤ 0 only measures.
func ClipGradNorm(ps []*Param, maxNorm float64) float64 {
	var ss float64
	for _, p := range ps {
		for _, g := range p.G {
			ss += float64(g) * float64(g)
		}
	}
	norm := math.Sqrt(ss)
	if maxNorm > 0 && norm > maxNorm {
		s := float32(maxNorm / (norm + 1e-12))
		for _, p := range ps {
			for i := range p.G {
				p.G[i] *= s
			}
		}
	}
	return norm
}

// CountParams is the number of values in ps.
func CountParams(ps []*Param) int {
	n := 0
	for _, p := range ps {
		n += len(p.W)
	}
	return n
}
