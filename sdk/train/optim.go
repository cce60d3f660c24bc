package train

import "math"

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter 2019):
//
//	m = β1·m + (1−β1)·g,  v = β2·v + (1−β2)·g²
//	w = w − lr·( m̂/(√v̂ + ε) + λ·w )   with m̂ = m/(1−β1^t), v̂ = v/(1−β2^t)
//
// λ applies only to parameters with Decay set.
type AdamW struct {
	Beta1, Beta2, Eps, WeightDecay float64
	// Step counts the updates done (t above); saved in checkpoints.
	Step int
}

// NewAdamW returns AdamW with β1 = 0.9, β2 = 0.95, ε = 1e-8 and the given
// weight decay.
func NewAdamW(weightDecay float64) *AdamW {
	return &AdamW{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: weightDecay}
}

// Update applies one step at learning rate lr to ps.
func (o *AdamW) Update(ps []*Param, lr float64) {
	o.Step++
	b1, b2 := o.Beta1, o.Beta2
	c1 := 1 - math.Pow(b1, float64(o.Step))
	c2 := 1 - math.Pow(b2, float64(o.Step))
	for _, p := range ps {
		decay := 0.0
		if p.Decay {
			decay = o.WeightDecay
		}
		for i, g64 := range p.G {
			g := float64(g64)
			m := b1*float64(p.M[i]) + (1-b1)*g
			v := b2*float64(p.V[i]) + (1-b2)*g*g
			p.M[i], p.V[i] = float32(m), float32(v)
			w := float64(p.W[i])
			w -= lr * (m/c1/(math.Sqrt(v/c2)+o.Eps) + decay*w)
			p.W[i] = float32(w)
		}
	}
}

// Schedule is a learning rate with linear warm-up and cosine decay
// (Loshchilov & Hutter 2017, without restarts):
//
//	lr(s) = Peak·(s+1)/Warmup                                   s < Warmup
//	lr(s) = Min + (Peak−Min)·(1 + cos(π·(s−Warmup)/(Total−Warmup)))/2   after
type Schedule struct {
	Peak, Min     float64
	Warmup, Total int
}

// At returns the learning rate of step s (0-based).
func (c Schedule) At(s int) float64 {
	if s < c.Warmup {
		return c.Peak * float64(s+1) / float64(c.Warmup)
	}
	span := max(c.Total-c.Warmup, 1)
	p := min(float64(s-c.Warmup)/float64(span), 1)
	return c.Min + (c.Peak-c.Min)*(1+math.Cos(math.Pi*p))/2
}

// Ramp is the progressive-quantization schedule: the blend λ of every
// quantized layer is 0 (float) before Start, rises linearly to 1 (ternary
// weights, int8 activations) at End, and stays 1. Start = End = 0 is
// direct quantization-aware training from the first step.
type Ramp struct{ Start, End int }

// At returns λ at step s.
func (r Ramp) At(s int) float32 {
	switch {
	case s >= r.End:
		return 1
	case s < r.Start:
		return 0
	}
	return float32(s-r.Start) / float32(r.End-r.Start)
}

// Component returns the ramp of component k of n when components are
// converted one after another: [Start, End] is cut into n equal windows
// and component k blends into ternary during window k (earlier components
// first), so that the model is converted piece by piece.
func (r Ramp) Component(k, n int) Ramp {
	span := r.End - r.Start
	return Ramp{Start: r.Start + k*span/n, End: r.Start + (k+1)*span/n}
}
