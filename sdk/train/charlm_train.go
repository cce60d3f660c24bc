package train

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/sdk/tokenizer"
)

// The held-out split of the character LM's corpus: the text is cut into
// passages of CharLMBlock characters and every CharLMHeldOutEvery-th
// passage (the 10th, 20th, ...) is held out. Passages spread over the whole
// book make the held-out text read like the training text; the book's
// last tenth alone (its closing Queries) is measurably harder, see
// testdata/MODEL_CARDS.md.
const (
	CharLMBlock        = 8192
	CharLMHeldOutEvery = 10
)

// CharCorpus is a text as token ids of a character alphabet, split into
// training text and held-out passages.
type CharCorpus struct {
	Alphabet string // every distinct character of the text, sorted
	Unknown  rune   // stands for characters outside the alphabet
	Train    []int  // the training passages, joined
	HeldOut  [][]int
}

// NewCharCorpus builds the alphabet of text and splits it into passages
// of block characters, holding out passage i when i%every == every−1
// (every ≤ 0 holds out nothing).
func NewCharCorpus(text string, every, block int) *CharCorpus {
	runes := []rune(text)
	set := map[rune]bool{}
	for _, r := range runes {
		set[r] = true
	}
	alpha := make([]rune, 0, len(set))
	for r := range set {
		alpha = append(alpha, r)
	}
	slices.Sort(alpha)
	c := &CharCorpus{Alphabet: string(alpha), Unknown: ' '}
	if !set[' '] {
		c.Unknown = alpha[0]
	}
	ids := make([]int, len(runes))
	for i, r := range runes {
		ids[i], _ = slices.BinarySearch(alpha, r)
	}
	for i := 0; i*block < len(ids); i++ {
		p := ids[i*block : min((i+1)*block, len(ids))]
		if every > 0 && i%every == every-1 {
			c.HeldOut = append(c.HeldOut, p)
		} else {
			c.Train = append(c.Train, p...)
		}
	}
	return c
}

// HeldOutChars is the number of held-out characters.
func (c *CharCorpus) HeldOutChars() int {
	n := 0
	for _, p := range c.HeldOut {
		n += len(p)
	}
	return n
}

// Vocab is the alphabet size.
func (c *CharCorpus) Vocab() int { return len([]rune(c.Alphabet)) }

// Tokenizer is the char tokenizer of the alphabet (stored in exported
// models, so that sdk sessions encode text the same way).
func (c *CharCorpus) Tokenizer() (tokenizer.Tokenizer, error) {
	return tokenizer.NewChar(tokenizer.CharConfig{Alphabet: c.Alphabet, Unknown: c.Unknown})
}

// LMOptions configures TrainLM. Zero fields take the defaults in brackets.
type LMOptions struct {
	Dim, Layers, FFN int     // model shape [256, 2, 512]
	Streams          int     // sequences per step, each reading its own part of the text [32]
	T                int     // tokens per stream per step (BPTT length) [64]
	Steps            int     // optimizer steps [2000]
	LR, MinLR        float64 // peak and final learning rate [3e-3, LR/20]
	Warmup           int     // warm-up steps [100]
	WeightDecay      float64 // AdamW λ on matrices [0.01]
	Clip             float64 // global gradient-norm clip [1]
	// Float trains the same model without quantization (λ = 0 throughout):
	// the float baseline. Progressive blends from float to ternary over
	// the ramp; otherwise every step is quantized (direct).
	Float       bool
	Progressive *Ramp
	// Staggered, with Progressive, converts the projections one after
	// another in model order (Ramp.Component) instead of all at once.
	Staggered       bool
	Seed            uint64
	Checkpoint      string // written every CheckpointEvery steps [200] and resumed from
	CheckpointEvery int
	Log             io.Writer
	EvalEvery       int // held-out evaluation every this many steps (0: only progress lines)
	StopAfter       int // end after this many steps in this call (0: run to the end)
}

func (o *LMOptions) defaults() {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&o.Dim, 256)
	def(&o.Layers, 2)
	def(&o.FFN, 512)
	def(&o.Streams, 32)
	def(&o.T, 64)
	def(&o.Steps, 2000)
	def(&o.Warmup, 100)
	def(&o.CheckpointEvery, 200)
	if o.LR == 0 {
		o.LR = 3e-3
	}
	if o.MinLR == 0 {
		o.MinLR = o.LR / 20
	}
	if o.Clip == 0 {
		o.Clip = 1
	}
}

// TrainLM trains a character-level MatMul-free LM on c.Train. The run is
// deterministic in Seed. Stream b reads the training text from offset
// b·len/Streams onwards (wrapping), T tokens per step, and its recurrent
// state is carried across steps.
func TrainLM(c *CharCorpus, o LMOptions) (*LM, error) {
	o.defaults()
	m := NewLM(LMConfig{Vocab: c.Vocab(), Dim: o.Dim, Layers: o.Layers, FFN: o.FFN, Seed: o.Seed})
	ps := m.Params()
	opt := NewAdamW(o.WeightDecay)
	sched := Schedule{Peak: o.LR, Min: o.MinLR, Warmup: o.Warmup, Total: o.Steps}
	kind := "charlm"
	B, T, n := o.Streams, o.T, len(c.Train)
	m.ResetState(B)
	// The checkpoint also holds the recurrent state carried between
	// steps, so that a resumed run continues exactly.
	saved := slices.Clone(ps)
	for l, st := range m.state {
		saved = append(saved, &Param{Name: fmt.Sprintf("state.%d", l), W: st})
	}
	step := 0
	if o.Checkpoint != "" {
		if s, err := LoadCheckpoint(o.Checkpoint, kind, opt, saved); err == nil {
			step = s
			if o.Log != nil {
				fmt.Fprintf(o.Log, "resumed from %s at step %d\n", o.Checkpoint, step)
			}
		} else if !os.IsNotExist(err) {
			return nil, err
		}
	}
	lamAt := func(s int) float32 {
		switch {
		case o.Float:
			return 0
		case o.Progressive != nil:
			return o.Progressive.At(s)
		}
		return 1
	}
	tok := make([]int, B*T)
	tgt := make([]int, B*T)
	prog := &Progress{W: o.Log, Total: o.Steps, Unit: "tok"}
	prog.Start(step)
	var lossSum float64
	var lossN int
	start := step
	for ; step < o.Steps; step++ {
		if o.StopAfter > 0 && step-start >= o.StopAfter {
			break
		}
		for b := range B {
			p0 := b*(n/B) + step*T
			for t := range T {
				tok[b*T+t] = c.Train[(p0+t)%n]
				tgt[b*T+t] = c.Train[(p0+t+1)%n]
			}
		}
		m.SetQuant(lamAt(step))
		if o.Progressive != nil && o.Staggered && !o.Float {
			ls := m.Linears()
			for k, l := range ls {
				l.Quant = o.Progressive.Component(k, len(ls)).At(step)
			}
		}
		ZeroGrad(ps)
		loss := m.Loss(tok, tgt, B, T)
		ClipGradNorm(ps, o.Clip)
		opt.Update(ps, sched.At(step))
		prog.Add(B * T)
		lossSum += loss
		lossN++
		if (step+1)%25 == 0 || step+1 == o.Steps {
			prog.Report(step+1, lossSum/float64(lossN), fmt.Sprintf(" (%.3f bpc) λ %.2f lr %.2g", lossSum/float64(lossN)/math.Ln2, lamAt(step), sched.At(step)))
			lossSum, lossN = 0, 0
		}
		if o.EvalEvery > 0 && (step+1)%o.EvalEvery == 0 && o.Log != nil {
			fmt.Fprintf(o.Log, "step %d held-out %.4f bpc (λ %.2f)\n", step+1, m.EvalBPC(c.HeldOut, 256), lamAt(step))
		}
		if o.Checkpoint != "" && (step+1)%o.CheckpointEvery == 0 {
			if err := SaveCheckpoint(o.Checkpoint, kind, step+1, opt, saved); err != nil {
				return nil, err
			}
		}
	}
	if !o.Float {
		m.SetQuant(1)
	}
	return m, nil
}

// EvalBPC returns the bits per character of the model (at its current λ)
// on passages, each read as one sequence from a zero state: ids[i+1] is
// predicted from ids[..i], chunk tokens at a time. The training state is
// kept.
func (m *LM) EvalBPC(passages [][]int, chunk int) float64 {
	saved := m.state
	defer func() { m.state = saved }()
	V := m.Config.Vocab
	var nats float64
	var n int
	for _, ids := range passages {
		m.ResetState(1)
		for i0 := 0; i0 < len(ids)-1; i0 += chunk {
			k := min(chunk, len(ids)-1-i0)
			logits := m.Forward(ids[i0:i0+k], 1, k)
			for t := range k {
				nats += logSoftmaxAt(logits[t*V:(t+1)*V], ids[i0+t+1])
			}
			n += k
		}
	}
	return nats / float64(n) / math.Ln2
}

// logSoftmaxAt returns −log softmax(x)[y] in nats, in float64.
func logSoftmaxAt(x []float32, y int) float64 {
	m := x[0]
	for _, v := range x {
		m = max(m, v)
	}
	var z float64
	for _, v := range x {
		z += math.Exp(float64(v - m))
	}
	return math.Log(z) + float64(m) - float64(x[y])
}

// Export writes the quantized model and its tokenizer to path in the
// layout of sdk's "hgrn-bit" graph (sdk/mmfree.go): slots embedding,
// block.N.mixer, block.N.channel, head and tokenizer; every projection
// ternary (t2, γ as its scale) with its FusedBitLinear norm weight; the
// lower bounds already remapped per layer (model.layers.N.attn.lower_bound).
func (m *LM) Export(path string, tok tokenizer.Tokenizer) error {
	c := m.Config
	m.lowerBounds()
	params := sortParams([]mmapmodel.Param{
		mmapmodel.IntParam("vocab_size", int64(c.Vocab)), mmapmodel.IntParam("hidden_size", int64(c.Dim)),
		mmapmodel.IntParam("num_layers", int64(c.Layers)), mmapmodel.IntParam("intermediate_size", int64(c.FFN)),
		mmapmodel.FloatParam("rms_norm_eps", float64(c.Eps)), mmapmodel.IntParam("seed", int64(c.Seed)),
	})
	w := mmapmodel.NewWriter(path, "hgrn-bit", params)
	w.BeginComponent("embedding")
	w.Add(mmapmodel.TensorSpec{Name: m.Embed.Name, DType: mmapmodel.F32, Shape: []mmapmodel.Elems{mmapmodel.Elems(c.Vocab), mmapmodel.Elems(c.Dim)},
		Data: bytes.NewReader(f32Bytes(m.Embed.W))})
	fbl := func(l *Linear) {
		w.Add(t2Spec(l))
		w.Add(f32Spec(l.Norm.Name, l.Norm.W))
	}
	for l, b := range m.Blocks {
		w.BeginComponent(fmt.Sprintf("block.%d.mixer", l))
		w.Add(f32Spec(b.AttnNorm.Name, b.AttnNorm.W))
		for _, x := range []*Linear{b.I, b.F, b.G, b.O} {
			fbl(x)
		}
		w.Add(f32Spec(b.GNorm.Name, b.GNorm.W))
		if l > 0 {
			w.Add(f32Spec(fmt.Sprintf("model.layers.%d.attn.lower_bound", l), m.lb[l]))
		}
		w.BeginComponent(fmt.Sprintf("block.%d.channel", l))
		w.Add(f32Spec(b.MLPNorm.Name, b.MLPNorm.W))
		fbl(b.Gate)
		fbl(b.Down)
	}
	w.BeginComponent("head")
	w.Add(f32Spec(m.FinalNorm.Name, m.FinalNorm.W))
	fbl(m.Head)
	if tok != nil {
		blob, err := tokenizer.Marshal(tok)
		if err != nil {
			return err
		}
		w.BeginComponent("tokenizer")
		w.Add(mmapmodel.TensorSpec{Name: "tokenizer", DType: mmapmodel.U8, Shape: []mmapmodel.Elems{mmapmodel.Elems(len(blob))}, Data: bytes.NewReader(blob)})
	}
	if err := w.Err(); err != nil {
		return err
	}
	_, err := w.Commit()
	return err
}
