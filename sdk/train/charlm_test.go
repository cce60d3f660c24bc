package train

import (
	"context"
	"path/filepath"

	"github.com/speakez/barewire/sdk"
	"github.com/speakez/barewire/sdk/tokenizer"
	"math/rand/v2"
	"testing"
)

func tinyLM() *LM {
	return NewLM(LMConfig{Vocab: 11, Dim: 8, Layers: 2, FFN: 6, Seed: 4})
}

func randTokens(r *rand.Rand, n, vocab int) []int {
	t := make([]int, n)
	for i := range t {
		t[i] = r.IntN(vocab)
	}
	return t
}

// The float model's gradients must match finite differences: this checks
// back-propagation through time in the MLGRU, the lower bounds' softmax,
// the GLU, every RMSNorm and the embedding.
func TestLMGradient(t *testing.T) {
	m := tinyLM()
	m.SetQuant(0)
	r := rand.New(rand.NewPCG(2, 3))
	for i := range m.LowerBounds.W {
		m.LowerBounds.W[i] = float32(r.NormFloat64())
	}
	for _, b := range m.Blocks {
		for _, p := range []*Param{b.AttnNorm, b.GNorm, b.MLPNorm} {
			for i := range p.W {
				p.W[i] = 1 + 0.3*float32(r.NormFloat64())
			}
		}
	}
	const B, T = 2, 5
	tok := randTokens(r, B*T, 11)
	tgt := randTokens(r, B*T, 11)
	ps := m.Params()
	ZeroGrad(ps)
	m.ResetState(B)
	// A non-zero carried state exercises the gradient through s_{-1}.
	for _, s := range m.state {
		for i := range s {
			s[i] = 0.5
		}
	}
	m.Loss(tok, tgt, B, T)
	lossWith := func() float64 {
		m.ResetState(B)
		for _, s := range m.state {
			for i := range s {
				s[i] = 0.5
			}
		}
		logits := m.Forward(tok, B, T)
		return softmaxXent(append([]float32(nil), logits...), tgt, 11, 1) / (B * T)
	}
	bad := 0
	for _, p := range ps {
		for _, i := range []int{0, len(p.W) / 3, len(p.W) / 2, len(p.W) - 1} {
			old := p.W[i]
			const h = 2e-3
			p.W[i] = old + h
			lp := lossWith()
			p.W[i] = old - h
			lm := lossWith()
			p.W[i] = old
			num := (lp - lm) / (2 * h)
			if d := abs(num - float64(p.G[i])); d > 1e-3+0.03*abs(num) {
				bad++
				t.Errorf("%s[%d]: analytic %.6g, numeric %.6g", p.Name, i, p.G[i], num)
			}
		}
	}
}

// The exported LM, run token by token and in prefill chunks by the sdk's
// hgrn-bit graph, must give exactly the trainer's quantized logits.
func TestLMExportMatchesTrainer(t *testing.T) {
	text := "Light is propagated from luminous Bodies in time. Rays of Light are refracted; " +
		"the Sines of Incidence are in a given Ratio to the Sines of Refraction."
	c := NewCharCorpus(text, 4, 30)
	m, err := TrainLM(c, LMOptions{Dim: 32, Layers: 2, FFN: 48, Streams: 2, T: 8, Steps: 12, Warmup: 2, LR: 1e-2, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	tk, err := c.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "lm.bwm")
	if err := m.Export(path, tk); err != nil {
		t.Fatal(err)
	}
	model, err := sdk.Open(path, sdk.WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	ids := c.Train[:40]
	m.ResetState(1)
	want := append([]float32(nil), m.Forward(ids, 1, len(ids))...)
	V := c.Vocab()
	for _, chunk := range []int{1, 7, 64} {
		s, err := model.NewSession(sdk.WithPrefillChunk(chunk))
		if err != nil {
			t.Fatal(err)
		}
		differ := 0
		err = s.ForwardEach(context.Background(), ids, func(pos int, logits []float32) {
			for k, v := range logits {
				if v != want[pos*V+k] {
					if differ++; differ < 4 {
						t.Errorf("chunk %d pos %d token %d: sdk %v, trainer %v", chunk, pos, k, v, want[pos*V+k])
					}
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if differ > 0 {
			t.Fatalf("chunk %d: %d of %d logits differ", chunk, differ, len(want))
		}
	}
	// The stored tokenizer encodes text to the trainer's ids.
	enc := model.Tokenizer().Encode(text[:20], tokenizer.EncodeOptions{})
	for i, id := range enc {
		if id != c.Train[i] {
			t.Fatalf("tokenizer: id %d = %d, corpus %d", i, id, c.Train[i])
		}
	}
}
