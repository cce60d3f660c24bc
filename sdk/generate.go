package sdk

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/speakez/barewire/sdk/tokenizer"
	"github.com/speakez/barewire/simd"
)

// GenerateOptions controls sampling and stopping. The zero value decodes
// greedily (argmax, ties to the lowest id) for DefaultMaxTokens tokens.
type GenerateOptions struct {
	// MaxTokens is the most tokens generated; 0 means DefaultMaxTokens.
	MaxTokens int
	// Temperature divides the logits before the softmax; 0 (or less)
	// means greedy decoding.
	Temperature float32
	// TopK keeps the K most likely tokens (0: all).
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probability
	// reaches P (nucleus sampling; 0 or ≥ 1: all).
	TopP float32
	// Seed seeds the sampler (PCG): equal seeds give equal outputs.
	Seed uint64
	// StopTokens end generation; so do the tokenizer's stop tokens (EOS,
	// end of turn) and the model's eos_token_id unless IgnoreEOS is set.
	// A stop token is not yielded.
	StopTokens []int
	IgnoreEOS  bool
	// StopStrings end generation before the token whose text completes one
	// of them; that token is not yielded. They need the model's tokenizer.
	StopStrings []string
	// PromptLogits, when set, receives the logits of every prompt position
	// (the prompt is then run with ForwardEach); the slice is reused.
	PromptLogits func(pos int, logits []float32)
}

// DefaultMaxTokens is the number of tokens generated when
// GenerateOptions.MaxTokens is 0.
const DefaultMaxTokens = 128

// Token is one generated token.
type Token struct {
	ID  int
	Pos int // its position in the session
	// Logits are the scores it was drawn from; the slice belongs to the
	// session and is valid until the iteration continues.
	Logits []float32
}

// generator is the sampler's state, allocated once per session.
type generator struct {
	probs   []float32
	idx     []int32
	mass    []float64 // nucleus: probability mass per bucket of probBucket
	blocks  []float64 // blockSums: probability mass per block of sumBlock ids
	pcg     rand.PCG
	rng     *rand.Rand
	one     [1]int
	dec     *tokenizer.StreamDecoder
	tail    []byte
	stops   [][]byte // this call's non-empty stop strings, in stopBuf
	stopBuf []byte
}

func (g *generator) init(vocab int) {
	g.probs = make([]float32, vocab)
	g.idx = make([]int32, vocab)
	g.mass = make([]float64, probBuckets)
	g.blocks = make([]float64, 0, (vocab+sumBlock-1)/sumBlock)
	g.rng = rand.New(&g.pcg)
}

// sample draws a token from logits (not modified). The probabilities are
// simd.SoftmaxScaled of the logits at 1/Temperature (float32, the same
// bits on every tier); top-k and top-p keep the most likely ids in the
// order of sortByProbability, and the draw walks the kept ids in that order (all
// ids in id order without either).
func (g *generator) sample(logits []float32, o *GenerateOptions) int {
	inv := 1 / o.Temperature
	if o.Temperature <= 0 || inv > math.MaxFloat32 {
		// Greedy, and its limit: a temperature so small that 1/T is not a
		// float32 would turn the softmax into NaNs.
		return Argmax(logits)
	}
	p := g.probs[:len(logits)]
	copy(p, logits)
	simd.SoftmaxScaled(p, inv)
	// Logits that are not finite (an overflowing model, a hostile file)
	// leave NaNs in p, which no draw can use: their mass then is not a
	// positive finite number, and the token is the greedy one.
	unusable := func(total float64) bool { return !(total > 0) || math.IsInf(total, 1) }
	topP := o.TopP > 0 && o.TopP < 1
	var cand []int32
	var total float64
	switch {
	case o.TopK > 0 && o.TopK < len(p):
		cand = g.topK(p, o.TopK)
		for _, id := range cand {
			total += float64(p[id])
		}
		if unusable(total) { // a NaN anywhere makes every probability NaN (the softmax's sum)
			return Argmax(logits)
		}
	case topP:
		if total = g.blockSums(p); unusable(total) {
			return Argmax(logits)
		}
		cand = g.nucleus(p, float64(o.TopP)*total)
	default:
		// All tokens, in id order: the block holding the draw, then the
		// id within it.
		total = g.blockSums(p)
		if unusable(total) {
			return Argmax(logits)
		}
		u := g.rng.Float64() * total
		for b, m := range g.blocks {
			if u >= m && b < len(g.blocks)-1 {
				u -= m
				continue
			}
			lo, hi := b*sumBlock, min((b+1)*sumBlock, len(p))
			for i := lo; i < hi; i++ {
				u -= float64(p[i])
				if u < 0 {
					return i
				}
			}
			// Rounding left u at the block's end: its last id that
			// can be drawn.
			i := hi - 1
			for i > lo && p[i] == 0 {
				i--
			}
			return i
		}
		return len(p) - 1
	}
	if topP {
		keep, cum := 0, 0.0
		for keep < len(cand) {
			cum += float64(p[cand[keep]])
			keep++
			if cum >= float64(o.TopP)*total {
				break
			}
		}
		cand, total = cand[:keep], cum
	}
	u := g.rng.Float64() * total
	for _, id := range cand {
		u -= float64(p[id])
		if u < 0 {
			return int(id)
		}
	}
	return int(cand[len(cand)-1])
}

// sumBlock is the number of ids of one of blockSums' blocks.
const sumBlock = 256

// blockSums sets g.blocks to the probability mass of each block of
// sumBlock ids and returns their total: four running sums a block and the
// blocks independent, instead of one chain of additions through the whole
// vocabulary.
func (g *generator) blockSums(p []float32) float64 {
	g.blocks = g.blocks[:0]
	total := 0.0
	for lo := 0; lo < len(p); lo += sumBlock {
		q := p[lo:min(lo+sumBlock, len(p))]
		var s [4]float64
		i := 0
		for ; i+4 <= len(q); i += 4 {
			s[0] += float64(q[i])
			s[1] += float64(q[i+1])
			s[2] += float64(q[i+2])
			s[3] += float64(q[i+3])
		}
		for ; i < len(q); i++ {
			s[0] += float64(q[i])
		}
		m := (s[0] + s[1]) + (s[2] + s[3])
		g.blocks = append(g.blocks, m)
		total += m
	}
	return total
}

// probBuckets is the number of buckets nucleus sorts probabilities into:
// the float32 exponent and the top four bits of the mantissa, so a bucket
// spans at most a factor of 2^(1/16).
const probBuckets = 1 << 12

// probBucket is p's bucket (p ≥ 0: the order of the float's bits is the
// order of the values).
func probBucket(p float32) int { return int(math.Float32bits(p) >> 19) }

// nucleus returns the ids of the most likely tokens in the order of
// sortByProbability, at least as many as make up mass (nucleus sampling's cut),
// without sorting the whole vocabulary: the probability mass of each
// bucket of probBucket is summed, the buckets from the top down until they
// hold mass, and only their ids are sorted. Every id outside those buckets
// is less likely than every id inside, so the ids returned are a prefix of
// the order of the whole vocabulary; where float rounding leaves that
// prefix a little short of mass, the whole vocabulary is sorted.
func (g *generator) nucleus(p []float32, mass float64) []int32 {
	clear(g.mass)
	for _, v := range p {
		g.mass[probBucket(v)] += float64(v)
	}
	cut, cum := 0, 0.0
	for b := len(g.mass) - 1; b >= 0; b-- {
		cum += g.mass[b]
		if cum >= mass {
			cut = b
			break
		}
	}
	cand := g.idx[:0]
	for i, v := range p {
		if probBucket(v) >= cut {
			cand = append(cand, int32(i))
		}
	}
	g.sortByProbability(cand, p)
	cum = 0
	for _, id := range cand {
		cum += float64(p[id])
	}
	if cum < mass && len(cand) < len(p) {
		cand = g.idx[:len(p)]
		for i := range cand {
			cand[i] = int32(i)
		}
		g.sortByProbability(cand, p)
	}
	return cand
}

// sortByProbability sorts ids by decreasing probability, then by
// increasing id, so that the order (and the sample) is deterministic.
func (g *generator) sortByProbability(ids []int32, p []float32) {
	slices.SortFunc(ids, func(a, b int32) int {
		switch {
		case p[a] > p[b]:
			return -1
		case p[a] < p[b]:
			return 1
		}
		return cmp.Compare(a, b)
	})
}

// topK returns the k most likely ids, most likely first: a min-heap of k
// over all ids, then a sort of the k.
func (g *generator) topK(p []float32, k int) []int32 {
	h := g.idx[:k]
	worse := func(a, b int32) bool { return p[a] < p[b] || (p[a] == p[b] && a > b) }
	down := func(i int) {
		for {
			l, m := 2*i+1, i
			if l < k && worse(h[l], h[m]) {
				m = l
			}
			if l+1 < k && worse(h[l+1], h[m]) {
				m = l + 1
			}
			if m == i {
				return
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	for i := range h {
		h[i] = int32(i)
	}
	for i := k/2 - 1; i >= 0; i-- {
		down(i)
	}
	for i := k; i < len(p); i++ {
		if worse(h[0], int32(i)) {
			h[0] = int32(i)
			down(0)
		}
	}
	g.sortByProbability(h, p)
	return h
}

func (s *Session) isStop(id int, o *GenerateOptions) bool {
	for _, t := range o.StopTokens {
		if t == id {
			return true
		}
	}
	if o.IgnoreEOS {
		return false
	}
	if id == s.g.eos {
		return true
	}
	tk := s.m.tok
	return tk != nil && tk.IsStop(id)
}

// Generate appends prompt to the session and then generates tokens one at
// a time, yielding each with a nil error; it yields one non-nil error and
// stops if the context is cancelled (checked between layers, so within one
// token), the context length is reached (ErrContextFull) or an input is
// bad. Breaking out of the loop stops generation. The session keeps the
// prompt and the generated tokens (except the last, which has not been fed
// back), so a later call continues the conversation; call Reset to start
// over.
//
// Generation is a range-over-func iterator rather than a callback so that
// callers stop it with break and read tokens in a plain for loop. After
// the prompt, a token costs no allocation.
func (s *Session) Generate(ctx context.Context, prompt []int, opts GenerateOptions) iter.Seq2[Token, error] {
	return func(yield func(Token, error) bool) {
		if len(prompt) == 0 {
			yield(Token{}, fmt.Errorf("Generate with an empty prompt: %w", ErrInput))
			return
		}
		if len(opts.StopStrings) > 0 && s.m.tok == nil {
			yield(Token{}, fmt.Errorf("stop strings need a tokenizer, and the model has none: %w", ErrInput))
			return
		}
		max := opts.MaxTokens
		if max <= 0 {
			max = DefaultMaxTokens
		}
		g := &s.gen
		g.pcg.Seed(opts.Seed, 0x9e3779b97f4a7c15)
		maxStop := 0
		if len(opts.StopStrings) > 0 {
			if g.dec == nil {
				g.dec = tokenizer.NewStreamDecoder(s.m.tok)
			}
			g.dec.Reset()
			// The stop strings as bytes, copied once a call (into buffers
			// the session keeps), not once a token.
			g.stopBuf, g.stops = g.stopBuf[:0], g.stops[:0]
			for _, st := range opts.StopStrings {
				maxStop = maxInt(maxStop, len(st))
				g.stopBuf = append(g.stopBuf, st...)
			}
			off := 0
			for _, st := range opts.StopStrings {
				if st != "" {
					g.stops = append(g.stops, g.stopBuf[off:off+len(st)])
				}
				off += len(st)
			}
			if cap(g.tail) < 2*maxStop+64 {
				g.tail = make([]byte, 0, 2*maxStop+64)
			}
			g.tail = g.tail[:0]
		}
		if err := s.forward(ctx, prompt, opts.PromptLogits); err != nil {
			yield(Token{}, err)
			return
		}
		for n := 0; ; n++ {
			id := g.sample(s.logits, &opts)
			if s.isStop(id, &opts) {
				return
			}
			if maxStop > 0 && s.completesStop(id, maxStop) {
				return
			}
			if !yield(Token{ID: id, Pos: s.pos, Logits: s.logits}, nil) {
				return
			}
			if n+1 >= max {
				return
			}
			g.one[0] = id
			if err := s.forward(ctx, g.one[:], nil); err != nil {
				yield(Token{}, err)
				return
			}
		}
	}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// completesStop feeds id's text to the rolling tail and reports whether a
// stop string now appears in it.
func (s *Session) completesStop(id int, maxStop int) bool {
	g := &s.gen
	g.tail = append(g.tail, g.dec.Next(id)...)
	for _, st := range g.stops {
		if bytes.Contains(g.tail, st) {
			return true
		}
	}
	if keep := maxStop - 1; len(g.tail) > keep {
		n := copy(g.tail, g.tail[len(g.tail)-keep:])
		g.tail = g.tail[:n]
	}
	return false
}

// GenerateText encodes prompt with the model's tokenizer (adding BOS when
// the tokenizer asks for it) and yields the generated text piece by piece,
// always valid UTF-8 (control tokens are not printed). Unlike Generate it
// allocates a string per piece.
func (s *Session) GenerateText(ctx context.Context, prompt string, opts GenerateOptions) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		tk := s.m.tok
		if tk == nil {
			yield("", fmt.Errorf("model has no tokenizer: %w", ErrInput))
			return
		}
		ids := tk.Encode(prompt, tokenizer.EncodeOptions{AddBOS: tk.AddsBOSByDefault()})
		if len(ids) == 0 && tk.BOS() >= 0 {
			ids = []int{tk.BOS()}
		}
		dec := tokenizer.NewStreamDecoder(tk)
		dec.SkipSpecial = true
		for t, err := range s.Generate(ctx, ids, opts) {
			if err != nil {
				yield("", err)
				return
			}
			if piece := dec.Next(t.ID); len(piece) > 0 && !yield(string(piece), nil) {
				return
			}
		}
		if rest := dec.Flush(); len(rest) > 0 {
			yield(string(rest), nil)
		}
	}
}
