package sdk

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/speakez/barewire/simd"
)

// TestAttentionF16MatchesFloat64 checks the f16 cache against the float64
// formula on the keys and values it holds (each rounded to binary16): what
// remains is the float32 arithmetic of the scores, softmax and sums.
func TestAttentionF16MatchesFloat64(t *testing.T) {
	for _, sh := range []struct{ heads, kvHeads, headDim, ctxLen, pos0, n int }{
		{4, 2, 32, 40, 0, 40}, {8, 2, 128, 300, 270, 3}, {5, 1, 40, 17, 16, 1},
	} {
		c := newAttnCase(uint64(sh.headDim), sh.heads, sh.kvHeads, sh.headDim, sh.ctxLen, sh.pos0, sh.n)
		// The same keys and values, through an f16 cache; the reference
		// sees them rounded.
		c.kv = newKVCache(sh.ctxLen, sh.kvHeads, sh.headDim, true)
		kvd := sh.kvHeads * sh.headDim
		for p := range sh.ctxLen {
			c.kv.store(p, c.keys[p*kvd:(p+1)*kvd], c.values[p*kvd:(p+1)*kvd])
		}
		for i := range c.keys {
			c.keys[i] = simd.F16ToF32(narrowKV(c.keys[i]))
			c.values[i] = simd.F16ToF32(narrowKV(c.values[i]))
		}
		if c.kv.k != nil || c.kv.v != nil || len(c.kv.k16) != sh.ctxLen*kvd || len(c.kv.v16) != sh.kvHeads*((sh.headDim+15)/16*16)*sh.ctxLen {
			t.Fatalf("f16 cache: %d f32 keys, %d f16 keys, %d f16 values", len(c.kv.k), len(c.kv.k16), len(c.kv.v16))
		}
		maxV := 0.0
		for _, v := range c.values {
			maxV = max(maxV, math.Abs(float64(v)))
		}
		qd := sh.heads * sh.headDim
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
			if worst > 1e-5*maxV {
				t.Errorf("%s %+v: largest difference %g from float64 (values up to %g)", tier, sh, worst, maxV)
			}
		}
	}
}

// TestNarrowKVSaturates: a key or value beyond binary16's range is stored
// as ±65504, never as an infinity (which would turn a zero weight into NaN).
func TestNarrowKVSaturates(t *testing.T) {
	for _, c := range []struct {
		x    float32
		want uint16
	}{{1e6, 0x7bff}, {-1e6, 0xfbff}, {float32(math.Inf(1)), 0x7bff}, {65504, 0x7bff}, {1, 0x3c00}} {
		if got := narrowKV(c.x); got != c.want {
			t.Errorf("narrowKV(%g) = %#04x, want %#04x", c.x, got, c.want)
		}
	}
}

// TestKVCacheF16Session runs a BitNet model with an f16 cache: its logits
// stay close to the f32 cache's, prefill in chunks gives the bits of
// token-by-token decoding, the thread count does not change a bit, decoding
// allocates nothing, and unknown types are refused.
func TestKVCacheF16Session(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiny.bwm")
	if err := WriteSynthetic(path, SyntheticBitNetTiny, SyntheticOptions{Seed: 3}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	prompt := []int{5, 17, 3, 250, 9, 44, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
	logits := func(m *Model, kv string, chunk int) [][]float32 {
		s, err := m.NewSession(WithKVCache(kv), WithPrefillChunk(chunk), WithContextLength(64))
		if err != nil {
			t.Fatal(err)
		}
		var out [][]float32
		if err := s.ForwardEach(ctx, prompt, func(_ int, l []float32) { out = append(out, slices.Clone(l)) }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	m1, err := Open(path, WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	defer m1.Close()
	m2, err := Open(path, WithThreads(2))
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	f32 := logits(m2, KVFloat32, 64)
	f16 := logits(m2, KVFloat16, 64)
	f16one := logits(m2, KVFloat16, 1)
	f16t1 := logits(m1, KVFloat16, 7)
	worst := 0.0
	for p := range f32 {
		lo, hi := slices.Min(f32[p]), slices.Max(f32[p])
		for i := range f32[p] {
			worst = max(worst, math.Abs(float64(f16[p][i]-f32[p][i]))/float64(hi-lo))
		}
		if !slices.Equal(f16[p], f16one[p]) || !slices.Equal(f16[p], f16t1[p]) {
			t.Fatalf("position %d: f16 logits differ between prefill chunks or thread counts", p)
		}
	}
	// Every projection re-quantizes its input to int8, so a key rounded to
	// binary16 can move an activation across a rounding boundary and the
	// difference grows through the layers (1.2% of the range on this random
	// model); a wrong position or head differs by the order of the range.
	t.Logf("f16 against f32 cache: largest logit difference %.2g of the logits' range", worst)
	if worst == 0 || worst > 5e-2 {
		t.Errorf("f16 against f32 cache: largest logit difference %g of the range (want > 0, ≤ 5e-2)", worst)
	}
	if !raceEnabled {
		s, _ := m2.NewSession(WithKVCache(KVFloat16))
		tok := []int{1}
		if a := testing.AllocsPerRun(50, func() {
			if _, err := s.Forward(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("f16 cache: Forward of one token allocates %v times", a)
		}
	}
	if _, err := m2.NewSession(WithKVCache("int4")); !errors.Is(err, ErrInput) {
		t.Errorf("KV cache int4: %v, want ErrInput", err)
	}
}
