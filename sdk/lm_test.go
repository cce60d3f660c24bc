package sdk

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/sdk/internal/reference"
	"github.com/speakez/barewire/simd"
)

// lmRef is what the language-model tests need from a reference model.
type lmRef struct {
	name    string
	path    string
	forward func(tokens []int, tr *reference.Trace) [][]float64 // fresh Quantized session
	greedy  func(prompt []int, n int) []int
}

func bitnetRefs(t *testing.T) []lmRef {
	var out []lmRef
	for _, variant := range []string{"2B4T", "1bitLLM"} {
		cfg, err := reference.SmallBitNetConfig(variant)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := reference.RandomBitNet(cfg, 7)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, lmRef{
			name: "bitnet-" + variant,
			path: writeRefBitNet(t, ref, false),
			forward: func(tokens []int, tr *reference.Trace) [][]float64 {
				s := ref.NewSession(reference.Quantized)
				s.Trace = tr
				return s.Forward(tokens)
			},
			greedy: func(p []int, n int) []int { return ref.NewSession(reference.Quantized).Greedy(p, n) },
		})
	}
	return out
}

// bitnetNoSubNormRefs is the shape of the LLaMA-architecture 1.58-bit
// fine-tunes (architectures.md §1.1: Llama3-8B-1.58, Falcon3-1.58bit): no
// SubLN norms, SiLU, grouped KV heads, LLaMA-3's θ and an untied head.
func bitnetNoSubNormRefs(t *testing.T) []lmRef {
	cfg, err := reference.SmallBitNetConfig("1bitLLM")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Name, cfg.KVHeads, cfg.RopeTheta, cfg.SubNorms, cfg.TiedOutput = "small-llama-1.58", 2, 500000, false, false
	ref, err := reference.RandomBitNet(cfg, 9)
	if err != nil {
		t.Fatal(err)
	}
	return []lmRef{{
		name: "bitnet-no-sub-norms",
		path: writeRefBitNet(t, ref, false),
		forward: func(tokens []int, tr *reference.Trace) [][]float64 {
			s := ref.NewSession(reference.Quantized)
			s.Trace = tr
			return s.Forward(tokens)
		},
		greedy: func(p []int, n int) []int { return ref.NewSession(reference.Quantized).Greedy(p, n) },
	}}
}

func mmfreeRefs(t *testing.T) []lmRef {
	ref, err := reference.RandomMMFree(reference.SmallMMFreeConfig(), 11)
	if err != nil {
		t.Fatal(err)
	}
	return []lmRef{{
		name: "mmfree",
		path: writeRefMMFree(t, ref),
		forward: func(tokens []int, tr *reference.Trace) [][]float64 {
			s := ref.NewSession(reference.Quantized)
			s.Trace = tr
			return s.Forward(tokens)
		},
		greedy: func(p []int, n int) []int { return ref.NewSession(reference.Quantized).Greedy(p, n) },
	}}
}

func testPrompt(n, vocab int, seed uint64) []int {
	r := rand.New(rand.NewPCG(seed, 2))
	p := make([]int, n)
	for i := range p {
		p[i] = r.IntN(vocab)
	}
	return p
}

func checkLMAgainstReference(t *testing.T, refs []lmRef) {
	ctx := context.Background()
	for _, ref := range refs {
		t.Run(ref.name, func(t *testing.T) {
			m, err := Open(ref.path, WithThreads(2))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			s, err := m.NewSession(WithPrefillChunk(5))
			if err != nil {
				t.Fatal(err)
			}
			prompt := testPrompt(12, m.lm.vocab, 3)
			tr := &reference.Trace{}
			want := ref.forward(prompt, tr)
			// Fast path, prefill in chunks of 5 (MatMulT2), with a trace
			// of its own int8 activations and dot products.
			mismatch, records := 0, 0
			type traced struct {
				xq  []int8
				dot []int32
			}
			own := map[string]traced{}
			key := func(name string, pos int) string { return fmt.Sprintf("%s@%d", name, pos) }
			s.trace = func(name string, pos int, xq []int8, dot []int32) {
				own[key(name, pos)] = traced{slices.Clone(xq), slices.Clone(dot)}
				rec, ok := tr.Get(name, pos)
				if !ok {
					t.Fatalf("no reference record for %s at %d", name, pos)
				}
				records++
				for i := range xq {
					if xq[i] != rec.Xq[i] {
						mismatch++
					}
				}
				if mismatch == 0 && !slices.Equal(dot, rec.Dot) {
					t.Fatalf("%s pos %d: equal int8 inputs, different dot products", name, pos)
				}
			}
			var prefill [][]float32
			if err := s.ForwardEach(ctx, prompt, func(pos int, l []float32) { prefill = append(prefill, slices.Clone(l)) }); err != nil {
				t.Fatal(err)
			}
			if records != len(tr.Records) {
				t.Fatalf("fast path evaluated %d projections, reference %d", records, len(tr.Records))
			}
			if mismatch > len(tr.Records) { // at most a stray code per projection on average
				t.Fatalf("%d int8 activation codes differ from the reference", mismatch)
			}
			t.Logf("%d projections, %d int8 codes differ by float32 rounding", records, mismatch)
			worst := 0.0
			for p := range prompt {
				diff, span := maxAbsDiff(prefill[p], want[p])
				// float32 against float64 with identical int8 codes: the
				// logits agree to float32 rounding.
				if diff > 1e-5*span {
					t.Fatalf("pos %d: logits differ by %g (range %g)", p, diff, span)
				}
				worst = max(worst, diff/span)
			}
			t.Logf("largest logit difference %.2g of the logit range", worst)
			// Every reference dot product through the mapped weights and
			// this build's kernels: identical integers.
			if n := checkTraceIntegers(t, m, tr, nil); n != len(tr.Records) {
				t.Fatal(n)
			}
			// Decode token by token (MatVecT2) gives the same logits as the
			// prefill, bit for bit, through the same int8 activations and
			// dot products.
			decoded := 0
			s.trace = func(name string, pos int, xq []int8, dot []int32) {
				decoded++
				if w := own[key(name, pos)]; !slices.Equal(xq, w.xq) || !slices.Equal(dot, w.dot) {
					t.Fatalf("decode: %s at %d: int8 inputs or dot products differ from the prefill's", name, pos)
				}
			}
			s.Reset()
			for p, tok := range prompt {
				l, err := s.Forward(ctx, []int{tok})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(l, prefill[p]) {
					t.Fatalf("pos %d: decode logits differ from prefill logits", p)
				}
			}
			if decoded != records {
				t.Fatalf("decode traced %d projections, prefill %d", decoded, records)
			}
			s.trace = nil
			// Greedy decoding: 64 tokens equal to the reference's.
			wantTok := ref.greedy(prompt, 64)
			s.Reset()
			var got []int
			for tok, err := range s.Generate(ctx, prompt, GenerateOptions{MaxTokens: 64, IgnoreEOS: true}) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, tok.ID)
			}
			if !slices.Equal(got, wantTok) {
				t.Fatalf("greedy tokens\n got %v\nwant %v", got, wantTok)
			}
			// One thread gives the same logits as two.
			m1, err := Open(ref.path, WithThreads(1))
			if err != nil {
				t.Fatal(err)
			}
			defer m1.Close()
			s1, _ := m1.NewSession()
			l1, err := s1.Forward(ctx, prompt)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(l1, prefill[len(prompt)-1]) {
				t.Fatal("1 thread and 2 threads disagree")
			}
		})
	}
}

func TestBitNetMatchesReference(t *testing.T) { checkLMAgainstReference(t, bitnetRefs(t)) }
func TestMMFreeMatchesReference(t *testing.T) { checkLMAgainstReference(t, mmfreeRefs(t)) }

// TestBitNetNoSubNormsMatchesReference: the BitNet graph without SubLN
// norms (parameter sub_norms = 0) against the reference without them.
func TestBitNetNoSubNormsMatchesReference(t *testing.T) {
	checkLMAgainstReference(t, bitnetNoSubNormRefs(t))
}

// TestBitNetSubNormsParameter: sub_norms defaults to 1, and a file whose
// tensors disagree with it, or with another value, is refused.
func TestBitNetSubNormsParameter(t *testing.T) {
	cfg, err := reference.SmallBitNetConfig("2B4T")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := reference.RandomBitNet(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SubNorms = false
	none, err := reference.RandomBitNet(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	logits := func(path string) []float32 {
		t.Helper()
		m, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		s, _ := m.NewSession()
		l, err := s.Forward(context.Background(), testPrompt(6, 64, 2))
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(l)
	}
	// Absent and 1 are the same SubLN model.
	if !slices.Equal(logits(writeRefBitNet(t, sub, false)), logits(writeRefBitNet(t, sub, false, mmapmodel.IntParam("sub_norms", 1)))) {
		t.Fatal("sub_norms = 1 and no sub_norms parameter give different logits")
	}
	for _, c := range []struct {
		name   string
		path   string
		substr string
	}{
		{"sub-norm tensors with sub_norms 0", writeRefBitNet(t, sub, false, mmapmodel.IntParam("sub_norms", 0)), `"model.layers.0.self_attn.attn_sub_norm.weight" present`},
		{"no sub-norm tensors with sub_norms 1", writeRefBitNet(t, none, false, mmapmodel.IntParam("sub_norms", 1)), `"model.layers.0.self_attn.attn_sub_norm.weight" missing`},
		{"sub_norms 2", writeRefBitNet(t, none, false, mmapmodel.IntParam("sub_norms", 2)), "sub_norms = 2"},
		{"sub_norms a string", writeRefBitNet(t, none, false, mmapmodel.StringParam("sub_norms", "false")), `"sub_norms" is string`},
	} {
		m, err := Open(c.path)
		if err == nil {
			m.Close()
		}
		if !errors.Is(err, ErrModel) || !strings.Contains(err.Error(), c.substr) {
			t.Errorf("%s: err = %v, want ErrModel naming %s", c.name, err, c.substr)
		}
	}
}

func TestDecodeNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	type variant struct {
		ref     lmRef
		threads int
		kv      string
	}
	var vs []variant
	for i, ref := range slices.Concat(bitnetRefs(t), bitnetNoSubNormRefs(t), mmfreeRefs(t)) {
		vs = append(vs, variant{ref, 2, KVFloat32}, variant{ref, 1 + 2*(i%2), KVFloat32})
		if strings.HasPrefix(ref.name, "bitnet") {
			vs = append(vs, variant{ref, 2, KVFloat16})
		}
	}
	for _, v := range vs {
		ref := v.ref
		m, err := Open(ref.path, WithThreads(v.threads))
		if err != nil {
			t.Fatal(err)
		}
		s, err := m.NewSession(WithKVCache(v.kv))
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("%s/t%d/%s", ref.name, v.threads, v.kv)
		ctx := context.Background()
		tok := []int{1}
		if a := testing.AllocsPerRun(50, func() {
			if _, err := s.Forward(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("%s: Forward of one token allocates %v times", name, a)
		}
		// Generation: 40 tokens allocate what 1 token does (the
		// iterator's own setup is per call, not per token), for every
		// sampling mode.
		for _, o := range []GenerateOptions{
			{Temperature: 0.8, TopK: 10, TopP: 0.9},
			{Temperature: 0.8, TopP: 0.9},
			{Temperature: 0.8, TopK: 5},
			{Temperature: 1.2, StopTokens: []int{63, 62}},
			{},
		} {
			gen := func(n int) func() {
				return func() {
					s.Reset()
					o := o
					o.MaxTokens, o.Seed, o.IgnoreEOS = n, 1, true
					for _, err := range s.Generate(ctx, []int{1, 2}, o) {
						if err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			a1 := testing.AllocsPerRun(10, gen(1))
			a40 := testing.AllocsPerRun(10, gen(40))
			if a40 != a1 {
				t.Errorf("%s %+v: 1 token allocates %v times, 40 tokens %v: allocation per token", name, o, a1, a40)
			}
		}
		m.Close()
	}
}

func TestSessionCancelAndErrors(t *testing.T) {
	ref := bitnetRefs(t)[0]
	m, err := Open(ref.path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := m.NewSession(WithContextLength(16))
	if err != nil {
		t.Fatal(err)
	}
	if s.ContextLength() != 16 {
		t.Fatal(s.ContextLength())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	var last error
	for _, err := range s.Generate(ctx, []int{1, 2, 3}, GenerateOptions{MaxTokens: 10, IgnoreEOS: true}) {
		if err != nil {
			last = err
			break
		}
		n++
		if n == 2 {
			cancel()
		}
	}
	if n != 2 || !errors.Is(last, context.Canceled) {
		t.Fatalf("after cancel: %d tokens, error %v", n, last)
	}
	// Cancellation in the middle of a token: the next layer boundary.
	s.Reset()
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	calls := 0
	s.trace = func(string, int, []int8, []int32) {
		if calls++; calls == 2 {
			cancel2()
		}
	}
	if _, err := s.Forward(ctx2, []int{5}); !errors.Is(err, context.Canceled) {
		t.Fatalf("mid-token cancel: %v", err)
	}
	if calls > 7 { // one block's mixer and channel: 4 + 3 projections
		t.Fatalf("%d projections ran after cancellation", calls)
	}
	if _, err := s.Forward(context.Background(), []int{5}); !errors.Is(err, ErrSessionInterrupted) {
		t.Fatalf("after an interrupted call: %v", err)
	}
	s.trace = nil
	// Cancellation between two prefill chunks: the first chunk is in the
	// state, so the session is interrupted too, not silently shorter.
	s2, err := m.NewSession(WithContextLength(16), WithPrefillChunk(2))
	if err != nil {
		t.Fatal(err)
	}
	ctx3, cancel3 := context.WithCancel(context.Background())
	defer cancel3()
	if err := s2.ForwardEach(ctx3, []int{1, 2, 3, 4}, func(pos int, _ []float32) {
		if pos == 1 { // the end of the first chunk
			cancel3()
		}
	}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel between chunks: %v", err)
	}
	if _, err := s2.Forward(context.Background(), []int{5}); !errors.Is(err, ErrSessionInterrupted) {
		t.Fatalf("after a call cancelled between chunks: %v (position %d)", err, s2.Pos())
	}
	s2.Reset()
	if _, err := s2.Forward(context.Background(), []int{1, 2, 3, 4}); err != nil || s2.Pos() != 4 {
		t.Fatalf("after Reset: %v at position %d", err, s2.Pos())
	}
	s.Reset()
	if _, err := s.Forward(context.Background(), make([]int, 17)); !errors.Is(err, ErrContextFull) {
		t.Fatalf("overflow: %v", err)
	}
	if _, err := s.Forward(context.Background(), []int{64}); !errors.Is(err, ErrInput) {
		t.Fatalf("token outside vocabulary: %v", err)
	}
	if _, _, err := m.Classify(context.Background(), nil); !errors.Is(err, ErrArch) {
		t.Fatalf("Classify on an LM: %v", err)
	}
}

// Logits that are not finite, or a temperature so small that 1/T
// overflows, fall back to the greedy token in every sampling mode instead
// of drawing from NaN probabilities (top-p indexed past its buckets then).
func TestSamplingNonFinite(t *testing.T) {
	var g generator
	g.init(600)
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	for _, c := range []struct {
		name string
		set  func(l []float32)
		want int
	}{
		{"+Inf", func(l []float32) { l[7] = inf }, 7},
		{"two +Inf", func(l []float32) { l[9], l[300] = inf, inf }, 9},
		{"NaN", func(l []float32) { l[5] = nan }, -1},
		{"-Inf", func(l []float32) { l[2] = -inf }, -2},
		{"tiny temperature", func([]float32) {}, 123},
	} {
		logits := make([]float32, 600)
		for i := range logits {
			logits[i] = float32(i%17) * 0.1
		}
		logits[123] = 5
		c.set(logits)
		for _, o := range []GenerateOptions{{Temperature: 1, TopP: 0.9}, {Temperature: 1, TopK: 20}, {Temperature: 1}, {Temperature: 0.5, TopK: 20, TopP: 0.9}} {
			if c.name == "tiny temperature" {
				o.Temperature = 1e-45
			}
			id := g.sample(logits, &o)
			switch {
			case id < 0 || id >= len(logits):
				t.Fatalf("%s %+v: id %d", c.name, o, id)
			case c.want >= 0 && id != c.want:
				t.Errorf("%s %+v: id %d, want %d (greedy)", c.name, o, id, c.want)
			case c.want == -1 && id != Argmax(logits):
				t.Errorf("%s %+v: id %d, want the greedy %d", c.name, o, id, Argmax(logits))
			case c.want == -2 && id == 2:
				t.Errorf("%s %+v: drew the -Inf logit", c.name, o)
			}
		}
	}
}

func TestSampling(t *testing.T) {
	var g generator
	g.init(6)
	logits := []float32{1, 3, 2, 3, -1, 0}
	o := GenerateOptions{}
	if id := g.sample(logits, &o); id != 1 {
		t.Fatalf("greedy %d, want 1 (first of the tie)", id)
	}
	// Top-k 2 never picks outside {1, 3}; top-p 0.5 after the top-1 tie
	// keeps {1, 3} as well; equal seeds give equal draws.
	for _, o := range []GenerateOptions{{Temperature: 1, TopK: 2}, {Temperature: 1, TopP: 0.5}} {
		g.pcg.Seed(42, 0)
		counts := map[int]int{}
		var seq []int
		for range 400 {
			id := g.sample(logits, &o)
			counts[id]++
			seq = append(seq, id)
		}
		if len(counts) != 2 || counts[1] < 150 || counts[3] < 150 {
			t.Fatalf("%+v: counts %v", o, counts)
		}
		g.pcg.Seed(42, 0)
		for i := range 50 {
			if id := g.sample(logits, &o); id != seq[i] {
				t.Fatalf("%+v: draw %d differs with the same seed", o, i)
			}
		}
	}
	// Full softmax at temperature 1: frequencies near exp(l)/Σexp(l).
	g.pcg.Seed(1, 0)
	o = GenerateOptions{Temperature: 1}
	n3 := 0
	for range 4000 {
		if g.sample(logits, &o) == 4 {
			n3++
		}
	}
	// p(4) = e^-1/(e+e^3+e^2+e^3+e^-1+1) ≈ 0.0073: 29 of 4000 expected.
	if n3 < 10 || n3 > 60 {
		t.Fatalf("token 4 drawn %d times in 4000, want about 29", n3)
	}
	// A vocabulary of several sum blocks (the last one short): three
	// likely ids in different blocks, one of them the very last, share
	// nearly all the mass and are drawn about equally often.
	const vocab = 3*sumBlock + 17
	var gb generator
	gb.init(vocab)
	gb.pcg.Seed(5, 0)
	big := make([]float32, vocab)
	hot := []int{3, sumBlock + 100, vocab - 1}
	for _, id := range hot {
		big[id] = 30
	}
	counts := map[int]int{}
	for range 3000 {
		counts[gb.sample(big, &o)]++
	}
	for _, id := range hot {
		if counts[id] < 850 || counts[id] > 1150 {
			t.Fatalf("blocks: counts %v, want about 1000 for each of %v", counts, hot)
		}
	}
	if len(counts) != 3 {
		t.Fatalf("blocks: drew %v, want only %v", counts, hot)
	}
}

// TestNucleus checks top-p's candidates against sorting the whole
// vocabulary: the kept ids, in order, are the same for flat and peaked
// distributions and every cut, and a mass above the total falls back to
// every id in order. Sampling allocates nothing.
func TestNucleus(t *testing.T) {
	const vocab = 5000
	var g generator
	g.init(vocab)
	rng := rand.New(rand.NewPCG(9, 9))
	logits := make([]float32, vocab)
	for _, spread := range []float64{0.01, 1, 4, 30} {
		for i := range logits {
			logits[i] = float32(rng.NormFloat64() * spread)
			if i%97 == 0 {
				logits[i] = logits[i/2] // ties
			}
		}
		for _, temp := range []float32{0.5, 1} {
			p := make([]float32, vocab)
			copy(p, logits)
			simd.SoftmaxScaled(p, 1/temp)
			all := make([]int32, vocab)
			for i := range all {
				all[i] = int32(i)
			}
			sort.Slice(all, func(i, j int) bool { // the order of sortByProbability, written again
				a, b := all[i], all[j]
				return p[a] > p[b] || p[a] == p[b] && a < b
			})
			var total float64
			for _, v := range p {
				total += float64(v)
			}
			for _, topP := range []float64{0.01, 0.3, 0.9, 0.999} {
				cut := func(ids []int32) []int32 {
					cum := 0.0
					for k, id := range ids {
						cum += float64(p[id])
						if cum >= topP*total {
							return ids[:k+1]
						}
					}
					return ids
				}
				want := slices.Clone(cut(all))
				cand := g.nucleus(p, topP*total)
				if spread >= 1 && len(cand) == vocab && len(want) < vocab*9/10 {
					t.Errorf("spread %g, temperature %g, top-p %g: the whole vocabulary sorted for %d kept", spread, temp, topP, len(want))
				}
				got := cut(cand)
				if !slices.Equal(got, want) {
					t.Fatalf("spread %g, temperature %g, top-p %g: kept %d ids, want %d (or a different order)", spread, temp, topP, len(got), len(want))
				}
			}
			if got := g.nucleus(p, 2*total); !slices.Equal(got, all) {
				t.Fatalf("spread %g: a mass above the total did not give every id in order", spread)
			}
		}
	}
	if !raceEnabled {
		for _, o := range []GenerateOptions{{Temperature: 0.7}, {Temperature: 0.7, TopK: 40}, {Temperature: 0.7, TopP: 0.9}, {Temperature: 0.7, TopK: 100, TopP: 0.5}} {
			if a := testing.AllocsPerRun(20, func() { g.sample(logits, &o) }); a != 0 {
				t.Errorf("%+v: sample allocates %v times", o, a)
			}
		}
	}
}

// The session's RoPE table holds exactly simd.RoPETable's values.
func TestRoPETable(t *testing.T) {
	ref := bitnetRefs(t)[0]
	m, err := Open(ref.path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, _ := m.NewSession(WithContextLength(300))
	half := m.lm.ropeDim / 2
	cos, sin := make([]float32, half), make([]float32, half)
	for _, p := range []int{0, 1, 7, 255, 299} {
		simd.RoPETable(cos, sin, p, m.lm.theta)
		if !slices.Equal(cos, s.ropeCos[p*half:(p+1)*half]) || !slices.Equal(sin, s.ropeSin[p*half:(p+1)*half]) {
			t.Fatalf("position %d: table differs from simd.RoPETable", p)
		}
	}
}

// Ternary weights stored 5 trits per byte (t1.6) give exactly the logits
// of the same weights stored 2 bits each.
func TestT16MatchesT2(t *testing.T) {
	ref, err := reference.RandomMMFree(reference.SmallMMFreeConfig(), 12)
	if err != nil {
		t.Fatal(err)
	}
	p2 := writeRefMMFree(t, ref)
	packT16 = true
	p16 := writeRefMMFree(t, ref)
	packT16 = false
	var logits [][]float32
	for _, p := range []string{p2, p16} {
		m, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := m.NewSession()
		l, err := s.Forward(context.Background(), testPrompt(9, 64, 1))
		if err != nil {
			t.Fatal(err)
		}
		logits = append(logits, slices.Clone(l))
		if p == p16 && m.lm.blocks[0].mixer.linears()[0].kind != linT16 {
			t.Fatal("not a t1.6 model")
		}
		m.Close()
	}
	if !slices.Equal(logits[0], logits[1]) {
		t.Fatal("t1.6 and t2 storage give different logits")
	}
}

func TestMMFreeLowerBounds(t *testing.T) {
	ref, _ := reference.RandomMMFree(reference.SmallMMFreeConfig(), 3)
	raw := make([][]float64, ref.Config.Layers)
	for l := range raw {
		raw[l] = ref.LowerBounds.Row(l)
	}
	got, want := MMFreeLowerBounds(raw), ref.LayerLowerBounds()
	for l := range want {
		for c := range want[l] {
			if d := got[l][c] - want[l][c]; d > 1e-15 || d < -1e-15 || (l == 0 && got[l][c] != 0) {
				t.Fatalf("layer %d channel %d: %v, reference %v", l, c, got[l][c], want[l][c])
			}
		}
	}
}

// tierModel is a model of TestKernelTiersAgree and TestGenericLogitsGolden,
// with the KV cache to run it with ("" for no attention).
type tierModel struct {
	ref lmRef
	kv  string
}

// tierModels are the MatMul-free reference model and a 2B4T-like shape wide
// enough for every float kernel's vector part: heads of 32 (two steps of
// 16 lanes, two value blocks), four query heads per KV head
// (MatVecF32x4), an f32 head and an int8 one, f32 and f16 KV caches.
func tierModels(t *testing.T) []tierModel {
	models := []tierModel{{ref: mmfreeRefs(t)[0]}}
	cfg := reference.BitNetConfig{Name: "tiers-2B4T", Vocab: 80, Dim: 256, Layers: 2, Heads: 8, KVHeads: 2, HeadDim: 32,
		FFN: 320, Eps: 1e-5, SubNorms: true, TiedOutput: true, RopeTheta: 500000, Act: reference.ActReLU2}
	ref, err := reference.RandomBitNet(cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, int8Head := range []bool{false, true} {
		r := lmRef{name: fmt.Sprintf("%s int8 head %v", cfg.Name, int8Head), path: writeRefBitNet(t, ref, int8Head)}
		models = append(models, tierModel{r, KVFloat32}, tierModel{r, KVFloat16})
	}
	return models
}

// tierLogits returns the logits of a 40-token prefill and four decoded
// tokens after it, with impl's kernels.
func tierLogits(t *testing.T, md tierModel, impl simd.Impl) []float32 {
	m, err := Open(md.ref.path, WithKernels(impl))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Tier() != impl.Tier {
		t.Fatalf("model runs %s, asked for %s", m.Tier(), impl.Tier)
	}
	var opts []SessionOption
	if md.kv != "" {
		opts = append(opts, WithKVCache(md.kv))
	}
	s, err := m.NewSession(opts...)
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Forward(context.Background(), testPrompt(40, 64, 4))
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Clone(l)
	for tok := range 4 {
		l, err := s.Forward(context.Background(), []int{3 + tok})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, l...)
	}
	return got
}

// Every kernel tier of this machine gives the generic tier's logits, in
// prefill and in decode: for the MatMul-free LM on every CPU, and for the
// BitNet shape (attention over f32 and f16 KV caches) where the tiers'
// float kernels round each product as the generic ones do, which is every
// arm64 tier (scripts/test-arm64.sh runs this test under qemu). The amd64
// tiers fuse the float kernels' multiply-adds (simd/float16.go), so there
// attention's logits differ from generic's in the last bits and only the
// MatMul-free LM is compared.
func TestKernelTiersAgree(t *testing.T) {
	compared := 0
	for _, md := range tierModels(t) {
		want := tierLogits(t, md, simd.Generic)
		for _, tier := range simd.Tiers() {
			impl, ok := simd.ImplFor(tier)
			if !ok || tier == simd.TierGeneric || md.kv != "" && runtime.GOARCH == "amd64" {
				continue
			}
			if !slices.Equal(tierLogits(t, md, impl), want) {
				t.Fatalf("%s kv %q, tier %s: logits differ from the generic tier's", md.ref.name, md.kv, tier)
			}
			compared++
		}
	}
	t.Logf("%d model × tier pairs equal to the generic tier's logits", compared)
}

// The generic tier's logits are the same bits on every CPU and build: its
// kernels are Go, every float helper's vector loop (AVX-512, NEON) gives
// its Go loop's bits, and the Go loops round every operation explicitly, so
// amd64, amd64 with purego and arm64 under qemu (scripts/test-arm64.sh)
// must all hash to these values. A change of the arithmetic changes them
// on purpose; anything else that does is a bug of one architecture's loops.
func TestGenericLogitsGolden(t *testing.T) {
	golden := map[string]string{
		"mmfree kv ":                        "13ec473dba0bce39",
		"tiers-2B4T int8 head false kv f32": "3d525ccdf704419b",
		"tiers-2B4T int8 head false kv f16": "7f6b627cf5824245",
		"tiers-2B4T int8 head true kv f32":  "951f2ff0311ad2a7",
		"tiers-2B4T int8 head true kv f16":  "a0f32fe188c86069",
	}
	for _, md := range tierModels(t) {
		h := sha256.New()
		for _, v := range tierLogits(t, md, simd.Generic) {
			binary.Write(h, binary.LittleEndian, math.Float32bits(v))
		}
		key := md.ref.name + " kv " + md.kv
		got := hex.EncodeToString(h.Sum(nil))[:16]
		if want, ok := golden[key]; !ok || got != want {
			t.Errorf("%s: generic logits hash to %s, want %s", key, got, want)
		}
	}
}
