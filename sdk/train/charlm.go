package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/speakez/barewire/simd"
)

// LMConfig is the shape of a MatMul-free language model (architecture
// "hgrn-bit", architectures.md §2).
type LMConfig struct {
	Vocab, Dim, Layers, FFN int
	Eps                     float32 // RMSNorm ε (1e-6, §2.4)
	Seed                    uint64
}

// LM is a character-level MatMul-free LM under training (HGRN-bit,
// architectures.md §2.2–2.5): per block an MLGRU token mixer and a ternary
// GLU channel mixer, every projection (the output head included) a
// FusedBitLinear. It computes exactly what sdk's "hgrn-bit" graph does:
//
//	h = E[token]
//	per block l:
//	  x = RMSNorm(h, attn_norm)
//	  f = σ(f_proj(x)); f = lb_l + (1−lb_l)·f (l > 0)
//	  c = silu(i_proj(x))·(1−f);  s_t = f⊙s_{t−1} + c
//	  h = h + o_proj(RMSNorm(g_proj(x), g_norm) ⊙ s⊙σ(s))
//	  x = RMSNorm(h, mlp_norm);  [a|b] = gate_proj(x)
//	  h = h + down_proj(silu(a)⊙b)
//	logits = lm_head(RMSNorm(h, model.norm))
//
// with lb = cumsum(softmax(lower_bounds over layers)) − softmax(...)[0]
// (§2.2). Training is back-propagation through time over chunks of T
// tokens per stream, the recurrent state s carried (without gradient)
// from one chunk to the next.
type LM struct {
	Config      LMConfig
	Embed       *Param // [Vocab×Dim]
	LowerBounds *Param // [Layers×Dim], raw (before the softmax)
	Blocks      []*lmBlock
	FinalNorm   *Param // model.norm [Dim]
	Head        *Linear

	lb    [][]float32 // per layer lower bound (layer 0: nil)
	lbP   [][]float64 // softmax over layers, per layer per channel
	state [][]float32 // per layer: [streams × Dim] carried recurrent state
	fw    lmForward
}

type lmBlock struct {
	AttnNorm, GNorm, MLPNorm *Param
	I, F, G, O               *Linear
	Gate, Down               *Linear
	buf                      blockBuf
}

// blockBuf holds one block's activations of a chunk for the backward pass.
type blockBuf struct {
	hIn, x1, inv1       []float32
	ip, fp, gp          []float32
	fs, f, s, gn, invg  []float32
	o, a, hMid          []float32
	x2, inv2, gy, z, mo []float32
	s0                  []float32 // state before the chunk [B×d]
}

type lmForward struct {
	B, T     int
	tokens   []int
	hOut     []float32 // final residual stream [N×d]
	hn, invF []float32
	logits   []float32
}

// NewLM makes a model with weights drawn from cfg.Seed.
func NewLM(cfg LMConfig) *LM {
	if cfg.Eps == 0 {
		cfg.Eps = 1e-6
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0x6c6d))
	d, I := cfg.Dim, cfg.FFN
	m := &LM{Config: cfg}
	m.Embed = newParam("model.embeddings.weight", false, cfg.Vocab, d).normal(r, 1)
	m.LowerBounds = newParam("model.lower_bounds", false, cfg.Layers, d)
	for l := range cfg.Layers {
		p := func(s string) string { return fmt.Sprintf("model.layers.%d.%s", l, s) }
		fl := func(name string, in, out int) *Linear {
			x := NewLinear(p(name), in, out, true, false, r)
			x.Eps = cfg.Eps
			return x
		}
		b := &lmBlock{
			AttnNorm: newParam(p("attn_norm.weight"), false, d).fill(1),
			GNorm:    newParam(p("attn.g_norm.weight"), false, d).fill(1),
			MLPNorm:  newParam(p("mlp_norm.weight"), false, d).fill(1),
			I:        fl("attn.i_proj", d, d), F: fl("attn.f_proj", d, d), G: fl("attn.g_proj", d, d), O: fl("attn.o_proj", d, d),
			Gate: fl("mlp.gate_proj", d, 2*I), Down: fl("mlp.down_proj", I, d),
		}
		m.Blocks = append(m.Blocks, b)
	}
	m.FinalNorm = newParam("model.norm.weight", false, d).fill(1)
	m.Head = NewLinear("lm_head", d, cfg.Vocab, true, false, r)
	m.Head.Eps = cfg.Eps
	return m
}

// Linears lists every projection, block by block, then the head.
func (m *LM) Linears() []*Linear {
	var ls []*Linear
	for _, b := range m.Blocks {
		ls = append(ls, b.I, b.F, b.G, b.O, b.Gate, b.Down)
	}
	return append(ls, m.Head)
}

// Params lists every trainable parameter.
func (m *LM) Params() []*Param {
	ps := []*Param{m.Embed, m.LowerBounds}
	for _, b := range m.Blocks {
		ps = append(ps, b.AttnNorm, b.GNorm, b.MLPNorm)
		for _, l := range []*Linear{b.I, b.F, b.G, b.O, b.Gate, b.Down} {
			ps = append(ps, l.Params()...)
		}
	}
	ps = append(ps, m.FinalNorm)
	return append(ps, m.Head.Params()...)
}

// SetQuant sets the quantization blend λ of every projection.
func (m *LM) SetQuant(lam float32) {
	for _, l := range m.Linears() {
		l.Quant = lam
	}
}

// lowerBounds computes lb from the raw parameter (§2.2): p = softmax over
// layers per channel, lb_l = Σ_{j≤l} p_j − p_0, rounded to float32 as the
// model file stores it.
func (m *LM) lowerBounds() {
	L, d := m.Config.Layers, m.Config.Dim
	m.lb = make([][]float32, L)
	m.lbP = make([][]float64, L)
	for l := range L {
		m.lbP[l] = make([]float64, d)
		if l > 0 {
			m.lb[l] = make([]float32, d)
		}
	}
	raw := m.LowerBounds.W
	for c := range d {
		mx := math.Inf(-1)
		for l := range L {
			mx = max(mx, float64(raw[l*d+c]))
		}
		var z float64
		for l := range L {
			m.lbP[l][c] = math.Exp(float64(raw[l*d+c]) - mx)
			z += m.lbP[l][c]
		}
		cum := 0.0
		for l := range L {
			m.lbP[l][c] /= z
			cum += m.lbP[l][c]
			if l > 0 {
				m.lb[l][c] = float32(cum - m.lbP[0][c])
			}
		}
	}
}

// ResetState zeroes the carried recurrent state of B streams.
func (m *LM) ResetState(B int) {
	m.state = make([][]float32, m.Config.Layers)
	for l := range m.state {
		m.state[l] = make([]float32, B*m.Config.Dim)
	}
}

// Forward runs B streams of T tokens (tokens[b·T+t]) from the carried
// state, updates the state and returns the logits [B·T × Vocab] (valid
// until the next call).
func (m *LM) Forward(tokens []int, B, T int) []float32 {
	c := m.Config
	d, I, N := c.Dim, c.FFN, B*T
	if len(m.state) != c.Layers || len(m.state[0]) != B*d {
		m.ResetState(B)
	}
	m.lowerBounds()
	fw := &m.fw
	fw.B, fw.T, fw.tokens = B, T, tokens
	h := grow(nil, N*d)
	for i, tok := range tokens {
		copy(h[i*d:(i+1)*d], m.Embed.W[tok*d:(tok+1)*d])
	}
	for l, b := range m.Blocks {
		z := &b.buf
		z.hIn = h
		z.x1, z.inv1 = grow(z.x1, N*d), grow(z.inv1, N)
		rmsNormForward(z.x1, h, b.AttnNorm.W, c.Eps, N, d, z.inv1)
		z.ip, z.fp, z.gp = grow(z.ip, N*d), grow(z.fp, N*d), grow(z.gp, N*d)
		b.I.Forward(z.ip, z.x1, N)
		b.F.Forward(z.fp, z.x1, N)
		b.G.Forward(z.gp, z.x1, N)
		z.fs, z.f, z.s = grow(z.fs, N*d), grow(z.f, N*d), grow(z.s, N*d)
		z.gn, z.invg, z.o = grow(z.gn, N*d), grow(z.invg, N), grow(z.o, N*d)
		rmsNormForward(z.gn, z.gp, b.GNorm.W, c.Eps, N, d, z.invg)
		z.s0 = append(z.s0[:0], m.state[l]...)
		lb := m.lb[l]
		parallelFor(B, func(b0, b1 int) {
			for bs := b0; bs < b1; bs++ {
				st := m.state[l][bs*d : (bs+1)*d]
				for t := range T {
					row := (bs*T + t) * d
					for k := range d {
						// The float32 operations of simd.MLGRUStep and of
						// sdk's output gate, each rounded on its own.
						fs := sigmoid(z.fp[row+k])
						f := fs
						if lb != nil {
							f = float32(lb[k] + float32(float32(1-lb[k])*f))
						}
						i := float32(silu(z.ip[row+k]) * float32(1-f))
						st[k] = float32(float32(f*st[k]) + i)
						z.fs[row+k], z.f[row+k], z.s[row+k] = fs, f, st[k]
						z.o[row+k] = silu(st[k]) * z.gn[row+k]
					}
				}
			}
		})
		z.a = grow(z.a, N*d)
		b.O.Forward(z.a, z.o, N)
		z.hMid = grow(z.hMid, N*d)
		for i := range z.hMid {
			z.hMid[i] = h[i] + z.a[i]
		}
		z.x2, z.inv2 = grow(z.x2, N*d), grow(z.inv2, N)
		rmsNormForward(z.x2, z.hMid, b.MLPNorm.W, c.Eps, N, d, z.inv2)
		z.gy, z.z, z.mo = grow(z.gy, N*2*I), grow(z.z, N*I), grow(z.mo, N*d)
		b.Gate.Forward(z.gy, z.x2, N)
		parallelFor(N, func(t0, t1 int) {
			for t := t0; t < t1; t++ {
				simd.SiLUGate(z.z[t*I:(t+1)*I], z.gy[t*2*I:t*2*I+I], z.gy[t*2*I+I:(t+1)*2*I])
			}
		})
		b.Down.Forward(z.mo, z.z, N)
		hNext := make([]float32, N*d)
		for i := range hNext {
			hNext[i] = z.hMid[i] + z.mo[i]
		}
		h = hNext
	}
	fw.hOut = h
	fw.hn, fw.invF = grow(fw.hn, N*d), grow(fw.invF, N)
	rmsNormForward(fw.hn, h, m.FinalNorm.W, c.Eps, N, d, fw.invF)
	fw.logits = grow(fw.logits, N*c.Vocab)
	m.Head.Forward(fw.logits, fw.hn, N)
	return fw.logits
}

// Loss runs a forward and backward pass: tokens[b·T+t] predict
// targets[b·T+t]. It returns the mean cross-entropy in nats.
func (m *LM) Loss(tokens, targets []int, B, T int) float64 {
	logits := m.Forward(tokens, B, T)
	N := B * T
	loss := softmaxXent(logits, targets, m.Config.Vocab, 1/float32(N))
	m.Backward(logits)
	return loss / float64(N)
}

func dsilu(x float32) float32 {
	s := sigmoid(x)
	return s * (1 + x*(1-s))
}

// Backward propagates dlogits through the last Forward.
func (m *LM) Backward(dlogits []float32) {
	c := m.Config
	fw := &m.fw
	B, T := fw.B, fw.T
	d, I, N := c.Dim, c.FFN, B*T
	dhn := make([]float32, N*d)
	m.Head.Backward(dhn, dlogits)
	dh := make([]float32, N*d)
	rmsNormBackward(dh, dhn, fw.hOut, m.FinalNorm.W, m.FinalNorm.G, N, d, fw.invF)
	dlb := make([][]float64, c.Layers)
	for l := len(m.Blocks) - 1; l >= 0; l-- {
		b := m.Blocks[l]
		z := &b.buf
		// Channel mixer: h = hMid + down(silu(a)·b).
		dz := make([]float32, N*I)
		b.Down.Backward(dz, dh)
		dgy := make([]float32, N*2*I)
		parallelFor(N, func(t0, t1 int) {
			for t := t0; t < t1; t++ {
				ga, gb := z.gy[t*2*I:t*2*I+I], z.gy[t*2*I+I:(t+1)*2*I]
				da, db := dgy[t*2*I:t*2*I+I], dgy[t*2*I+I:(t+1)*2*I]
				for k := range I {
					g := dz[t*I+k]
					da[k] = g * gb[k] * dsilu(ga[k])
					db[k] = g * silu(ga[k])
				}
			}
		})
		dx2 := make([]float32, N*d)
		b.Gate.Backward(dx2, dgy)
		dhMid := append([]float32(nil), dh...)
		rmsNormBackward(dhMid, dx2, z.hMid, b.MLPNorm.W, b.MLPNorm.G, N, d, z.inv2)
		// Mixer: hMid = hIn + o_proj(o).
		do := make([]float32, N*d)
		b.O.Backward(do, dhMid)
		dgn := make([]float32, N*d)
		dip := make([]float32, N*d)
		dfp := make([]float32, N*d)
		lb := m.lb[l]
		if lb != nil {
			dlb[l] = make([]float64, d)
		}
		// Per-token contributions to dL/dlb, summed below in the order
		// (stream, then time backwards) whatever the goroutine count.
		var dlbTerm []float32
		if lb != nil {
			dlbTerm = make([]float32, N*d)
		}
		parallelFor(B, func(b0, b1 int) {
			carry := make([]float32, d)
			for bs := b0; bs < b1; bs++ {
				clear(carry)
				for t := T - 1; t >= 0; t-- {
					row := (bs*T + t) * d
					for k := range d {
						s := z.s[row+k]
						ss := sigmoid(s)
						q := s * ss
						g := do[row+k]
						dgn[row+k] = g * q
						ds := g*z.gn[row+k]*(ss+s*ss*(1-ss)) + carry[k]
						f := z.f[row+k]
						var prev float32
						if t > 0 {
							prev = z.s[row-d+k]
						} else {
							prev = z.s0[bs*d+k]
						}
						carry[k] = ds * f
						it := z.ip[row+k]
						df := ds*prev - ds*silu(it)
						dip[row+k] = ds * (1 - f) * dsilu(it)
						fs := z.fs[row+k]
						dfs := df
						if lb != nil {
							dfs = df * (1 - lb[k])
							dlbTerm[row+k] = df * (1 - fs)
						}
						dfp[row+k] = dfs * fs * (1 - fs)
					}
				}
			}
		})
		if lb != nil {
			for bs := range B {
				for t := T - 1; t >= 0; t-- {
					row := (bs*T + t) * d
					for k := range d {
						dlb[l][k] += float64(dlbTerm[row+k])
					}
				}
			}
		}
		dgp := make([]float32, N*d)
		rmsNormBackward(dgp, dgn, z.gp, b.GNorm.W, b.GNorm.G, N, d, z.invg)
		dx1 := make([]float32, N*d)
		b.I.Backward(dx1, dip)
		b.F.Backward(dx1, dfp)
		b.G.Backward(dx1, dgp)
		rmsNormBackward(dhMid, dx1, z.hIn, b.AttnNorm.W, b.AttnNorm.G, N, d, z.inv1)
		dh = dhMid
	}
	for i, tok := range fw.tokens {
		g := m.Embed.G[tok*d : (tok+1)*d]
		for k, v := range dh[i*d : (i+1)*d] {
			g[k] += v
		}
	}
	// lb_l = Σ_{1≤j≤l} p_j: dL/dp_j = Σ_{l≥j} dL/dlb_l (j ≥ 1); then the
	// softmax: dL/draw_j = p_j·(dp_j − Σ_k p_k·dp_k).
	L := c.Layers
	for k := range d {
		dp := make([]float64, L)
		acc := 0.0
		for l := L - 1; l >= 1; l-- {
			if dlb[l] != nil {
				acc += dlb[l][k]
			}
			dp[l] = acc
		}
		var dot float64
		for l := range L {
			dot += m.lbP[l][k] * dp[l]
		}
		for l := range L {
			m.LowerBounds.G[l*d+k] += float32(m.lbP[l][k] * (dp[l] - dot))
		}
	}
}
