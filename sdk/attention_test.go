package sdk

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/speakez/barewire/simd"
)

// attnCase is a KV cache filled at positions 0..ctxLen-1 with random keys
// and values, and the queries of n tokens starting at pos0.
type attnCase struct {
	a       *attention
	kv      *kvCache
	ctxLen  int
	q       []float32 // [n × heads·headDim]
	keys    []float32 // [ctxLen × kvHeads·headDim], as stored
	values  []float32 // [ctxLen × kvHeads·headDim], untransposed
	pos0, n int
}

func newAttnCase(seed uint64, heads, kvHeads, headDim, ctxLen, pos0, n int) *attnCase {
	r := rand.New(rand.NewPCG(seed, 1))
	c := &attnCase{a: &attention{heads: heads, kvHeads: kvHeads, headDim: headDim},
		kv: newKVCache(ctxLen, kvHeads, headDim, false), ctxLen: ctxLen, pos0: pos0, n: n}
	kvd := kvHeads * headDim
	rnd := func(n int, s float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * s)
		}
		return v
	}
	c.keys, c.values = rnd(ctxLen*kvd, 1), rnd(ctxLen*kvd, 1)
	c.q = rnd(n*heads*headDim, 2) // peaked enough that the softmax is not flat
	for p := range ctxLen {
		c.kv.store(p, c.keys[p*kvd:(p+1)*kvd], c.values[p*kvd:(p+1)*kvd])
	}
	return c
}

// run computes items [lo, hi) with the given kernel as worker w of workers.
func (c *attnCase) run(impl simd.Impl, att []float32, workers, w, lo, hi int) {
	scores := make([]float32, workers*attnQueries*c.ctxLen)
	for i := range scores {
		scores[i] = float32(math.NaN()) // what an earlier item left: never read
	}
	j := attnJob{a: c.a, kv: c.kv, q: c.q, att: att, pos0: c.pos0, scores: scores, row: c.ctxLen, impl: impl}
	j.heads(w, lo, hi)
}

// runDecode computes a decoded token (n = 1) with scoreRange and
// valueRange split at the given fractions of their items, each part as
// its own worker, with NaN wherever an earlier token left scores.
func (c *attnCase) runDecode(impl simd.Impl, att []float32, cuts []float64) {
	workers := len(cuts) + 1
	scores := make([]float32, workers*attnQueries*c.ctxLen)
	shared := make([]float32, c.a.heads*c.ctxLen)
	for _, s := range [][]float32{scores, shared} {
		for i := range s {
			s[i] = float32(math.NaN())
		}
	}
	j := attnJob{a: c.a, kv: c.kv, q: c.q, att: att, pos0: c.pos0, scores: scores, row: c.ctxLen, impl: impl, shared: shared}
	for _, job := range []struct {
		items int
		fn    func(worker, lo, hi int)
	}{{c.a.kvHeads * j.scoreItems(), j.scoreRange}, {c.a.kvHeads * j.valueItems(), j.valueRange}} {
		lo := 0
		for w := range workers {
			hi := job.items
			if w < len(cuts) {
				hi = max(lo, int(cuts[w]*float64(job.items)))
			}
			job.fn(w, lo, hi)
			lo = hi
		}
	}
}

// want is the attention of token t, head h in float64 by the textbook
// formula: softmax(q·kᵀ/√d)·V over positions 0..pos0+t.
func (c *attnCase) want(t, h int) []float64 {
	a := c.a
	hd, kvd, qd := a.headDim, a.kvHeads*a.headDim, a.heads*a.headDim
	kvh := h / (a.heads / a.kvHeads)
	pos := c.pos0 + t
	sc := make([]float64, pos+1)
	mx := math.Inf(-1)
	for p := range sc {
		for i := range hd {
			sc[p] += float64(c.q[t*qd+h*hd+i]) * float64(c.keys[p*kvd+kvh*hd+i])
		}
		sc[p] /= math.Sqrt(float64(hd))
		mx = max(mx, sc[p])
	}
	sum := 0.0
	for p := range sc {
		sc[p] = math.Exp(sc[p] - mx)
		sum += sc[p]
	}
	out := make([]float64, hd)
	for p, e := range sc {
		for i := range out {
			out[i] += e / sum * float64(c.values[p*kvd+kvh*hd+i])
		}
	}
	return out
}

func TestKVCacheLayout(t *testing.T) {
	c := newAttnCase(1, 4, 2, 24, 21, 0, 1)
	kvd := 2 * 24
	// Values in blocks of 16 columns: 24 columns are two blocks, the
	// second half used.
	if len(c.kv.k) != 21*kvd || len(c.kv.v) != 2*2*16*21 || c.kv.k16 != nil || c.kv.v16 != nil {
		t.Fatalf("%d keys, %d values, %d and %d f16", len(c.kv.k), len(c.kv.v), len(c.kv.k16), len(c.kv.v16))
	}
	for p := range 21 {
		for i := range kvd {
			h, d := i/24, i%24
			if c.kv.k[(h*21+p)*24+d] != c.keys[p*kvd+i] || c.kv.v[h*2*16*21+d/16*16*21+p*16+d%16] != c.values[p*kvd+i] {
				t.Fatalf("position %d, element %d stored wrong", p, i)
			}
		}
	}
}

// TestAttentionMatchesFloat64 checks every item of a batch on every kernel
// tier against the float64 formula. The float32 error is a few roundings of
// the scores (each within headDim·2⁻²⁴·Σ|q·k|, see simd.FloatLanes), of the
// softmax and of the weighted sum of at most ctxLen values: 1e-5 of the
// largest value bounds it with a wide margin for these sizes, and a wrong
// position, head or weight misses it by orders of magnitude.
func TestAttentionMatchesFloat64(t *testing.T) {
	for _, sh := range []struct{ heads, kvHeads, headDim, ctxLen, pos0, n int }{
		{4, 2, 32, 40, 0, 40},    // prefill from 0, every span from 16 to 48
		{6, 3, 24, 19, 11, 8},    // a head narrower than 32, columns not a multiple of 16
		{2, 2, 128, 300, 270, 3}, // the 2B4T head size at decode positions
		{5, 1, 40, 17, 16, 1},    // one KV head for all, the last position
		{8, 2, 128, 300, 270, 3}, // four query heads per KV head (2B4T's GQA): read together
	} {
		c := newAttnCase(uint64(sh.headDim), sh.heads, sh.kvHeads, sh.headDim, sh.ctxLen, sh.pos0, sh.n)
		qd := sh.heads * sh.headDim
		maxV := 0.0
		for _, v := range c.values {
			maxV = max(maxV, math.Abs(float64(v)))
		}
		for _, tier := range simd.Tiers() {
			impl, _ := simd.ImplFor(tier)
			att := make([]float32, sh.n*qd)
			c.run(impl, att, 1, 0, 0, sh.n*sh.heads)
			worst := 0.0
			for tk := range sh.n {
				for h := range sh.heads {
					for i, w := range c.want(tk, h) {
						worst = max(worst, math.Abs(float64(att[tk*qd+h*sh.headDim+i])-w))
					}
				}
			}
			t.Logf("%s %+v: largest difference %.2g of the largest value", tier, sh, worst/maxV)
			if worst > 1e-5*maxV {
				t.Errorf("%s %+v: largest difference %g from float64 (values up to %g)", tier, sh, worst, maxV)
			}
		}
	}
}

// TestAttentionItemsIndependent checks the properties prefill, decode and
// the thread count rely on: an item gives the same bits whichever worker
// computes it and in whatever range, whatever the cache holds past its
// position, and whether the tokens after it are in the same batch.
func TestAttentionItemsIndependent(t *testing.T) {
	const hd, ctxLen = 48, 45
	for _, g := range []struct{ heads, kvHeads int }{{4, 2}, {8, 2}, {12, 3}, {16, 2}} {
		heads, kvHeads := g.heads, g.kvHeads
		for _, tier := range simd.Tiers() {
			impl, _ := simd.ImplFor(tier)
			// The whole context as one batch, one worker.
			batch := newAttnCase(7, heads, kvHeads, hd, ctxLen, 0, ctxLen)
			qd := heads * hd
			want := make([]float32, ctxLen*qd)
			batch.run(impl, want, 1, 0, 0, ctxLen*heads)
			// Split between three workers, each with its own row of weights.
			got := make([]float32, ctxLen*qd)
			// Split points off the groups of four query heads, so that the
			// heads of one KV head go through the cache together in one range
			// and one by one in another.
			bounds := []int{0, ctxLen*heads/3 + 1, 2*ctxLen*heads/3 + 2, ctxLen * heads}
			for w := range 3 {
				batch.run(impl, got, 3, w, bounds[w], bounds[w+1])
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s, %d heads over %d: split between workers, different results", tier, heads, kvHeads)
			}
			// Decode: each token alone, in a new sequence stored up to it, the
			// cache past it holding an earlier sequence's values (large, of
			// either sign) instead of the batch's later tokens.
			kvd := kvHeads * hd
			stale := make([]float32, kvd)
			for p := range ctxLen {
				for s := range ctxLen {
					for i := range stale {
						stale[i] = float32((s+i)%7-3) * 1e30
					}
					batch.kv.store(s, stale, stale)
				}
				for s := 0; s <= p; s++ {
					batch.kv.store(s, batch.keys[s*kvd:(s+1)*kvd], batch.values[s*kvd:(s+1)*kvd])
				}
				dec := &attnCase{a: batch.a, kv: batch.kv, ctxLen: ctxLen, q: batch.q[p*qd : (p+1)*qd], pos0: p, n: 1}
				att := make([]float32, qd)
				dec.run(impl, att, 2, 1, 0, heads)
				if !slices.Equal(att, want[p*qd:(p+1)*qd]) {
					t.Fatalf("%s, %d heads over %d: position %d alone differs from the batch", tier, heads, kvHeads, p)
				}
				// The two-job form of a decoded token: positions, then
				// column blocks, split between one to three workers at
				// points inside KV heads and spans.
				for _, cuts := range [][]float64{nil, {0.5}, {0.3, 0.71}, {0, 0.99}} {
					clear(att)
					dec.runDecode(impl, att, cuts)
					if !slices.Equal(att, want[p*qd:(p+1)*qd]) {
						t.Fatalf("%s, %d heads over %d: position %d by positions and column blocks (cuts %v) differs from the batch", tier, heads, kvHeads, p, cuts)
					}
				}
			}
		}
	}
}

// BenchmarkAttention measures one decoded token's attention over the 30
// layers of a 2B4T-shaped model (20 query heads, 5 KV heads of 128) at
// position 256 on one thread: each layer's cache is a different 2048-position
// block, as in a session, so the keys and values come from memory. Bytes
// are the keys and values read.
func BenchmarkAttention(b *testing.B) {
	const layers, heads, kvHeads, hd, ctxLen, pos = 30, 20, 5, 128, 2048, 256
	cs := make([]*attnCase, layers)
	for l := range cs {
		cs[l] = newAttnCase(uint64(l), heads, kvHeads, hd, pos+1, pos, 1)
		big := newKVCache(ctxLen, kvHeads, hd, false)
		kvd := kvHeads * hd
		for p := 0; p <= pos; p++ {
			big.store(p, cs[l].keys[p*kvd:(p+1)*kvd], cs[l].values[p*kvd:(p+1)*kvd])
		}
		cs[l].kv, cs[l].ctxLen = big, ctxLen
	}
	scores := make([]float32, attnQueries*ctxLen)
	att := make([]float32, heads*hd)
	impl := simd.Active()
	b.SetBytes(int64(layers * 2 * (pos + 1) * kvHeads * hd * 4))
	for b.Loop() {
		for _, c := range cs {
			j := attnJob{a: c.a, kv: c.kv, q: c.q, att: att, pos0: pos, scores: scores, row: ctxLen, impl: impl}
			j.heads(0, 0, heads)
		}
	}
}

// BenchmarkAttentionDecode measures a decoded token's attention on a pool
// of two threads with 2B4T's heads (20 query heads, 5 KV heads of 128) at
// positions 256 and 1024, computed by query heads (heads) and in the two
// jobs of scoreRange and valueRange (split). It goes through enough layers'
// caches (over 400 MiB) that they come from memory, as they do in a model
// whose weights pass through the caches between layers; ms/token is the
// time of 30 layers. Bytes are the keys and values up to the position.
func BenchmarkAttentionDecode(b *testing.B) {
	const heads, kvHeads, hd = 20, 5, 128
	pool := simd.NewPool(2)
	defer pool.Close()
	for _, pos := range []int{256, 1024} {
		perLayer := 2 * (pos + 1) * kvHeads * hd * 4
		cs := make([]*attnCase, (400<<20)/perLayer+1)
		for l := range cs {
			cs[l] = newAttnCase(uint64(l), heads, kvHeads, hd, pos+1, pos, 1)
		}
		var j attnJob
		headsFn, scoreFn, valueFn := j.heads, j.scoreRange, j.valueRange
		scores := make([]float32, 2*attnQueries*(pos+1))
		shared := make([]float32, heads*(pos+1))
		att := make([]float32, heads*hd)
		for _, split := range []bool{false, true} {
			name := fmt.Sprintf("pos%d/heads", pos)
			if split {
				name = fmt.Sprintf("pos%d/split", pos)
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(len(cs) * perLayer))
				for b.Loop() {
					for _, c := range cs {
						j = attnJob{a: c.a, kv: c.kv, q: c.q, att: att, pos0: pos, scores: scores, row: pos + 1, impl: simd.Active(), shared: shared}
						if split {
							pool.Run(kvHeads*j.scoreItems(), scoreFn)
							pool.Run(kvHeads*j.valueItems(), valueFn)
						} else {
							pool.Run(heads, headsFn)
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(cs))*30/1e6, "ms/token")
			})
		}
	}
}
