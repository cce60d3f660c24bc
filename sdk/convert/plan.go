package convert

import (
	"fmt"
	"math"

	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/sdk"
)

// role says what an output tensor holds and so how it is encoded.
type role int

const (
	roleTernary role = iota // a BitLinear's weights: t2 or t1.6 with γ
	roleNorm                // an RMSNorm weight: f32 [cols]
	roleEmbed               // the embedding table: i8 rows or f16
	roleHead                // an untied full-precision output head: as roleEmbed
	roleVector              // another f32 vector, computed at plan time
)

// outTensor is one tensor of the output file and where it comes from.
type outTensor struct {
	slot       string
	name       string // the runtime's name (sdk/bitnet.go, sdk/mmfree.go)
	role       role
	rows, cols int
	src        string    // source tensor name
	scaleSrc   string    // optional source of a scale: HF weight_scale, GGUF ".scale"
	vec        []float32 // roleVector: the values
	// rowOf, when set, gives the source row of output row r (roleTernary):
	// GGUF llama files hold q and k rows in another order (ggufRoPERows).
	rowOf func(r int) int

	// Filled by prepare.
	srcT      srcTensor
	dec       rowDecoder
	gamma     float32
	rowScales []float32 // roleEmbed/roleHead in i8
	how       string    // how the weights were decoded, for the summary
}

// plan is everything a conversion writes, decided and checked before the
// output file is created.
type plan struct {
	arch    string
	family  string // a description of the recognised model for the summary
	params  []mmapmodel.Param
	tensors []*outTensor
	tok     []byte // tokenizer.Marshal blob, nil when the input has none
	chat    string // chat template, "" when absent
	tokDesc string // tokenizer kind and size for the summary
	tokSize int    // the tokenizer's vocabulary, 0 when the input has none
	notes   []string
	// ignored are source tensors deliberately not converted, with the reason.
	ignored map[string]string
}

// bitnetHParams are a BitNet model's hyper-parameters as the runtime names
// them (sdk.BitNetConfig plus the special token ids).
type bitnetHParams struct {
	sdk.BitNetConfig
	BOS, EOS int // -1 when unknown
	Untied   bool
}

func (c bitnetHParams) validate() error {
	switch {
	case c.Vocab <= 0 || c.Dim <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.KVHeads <= 0 || c.HeadDim <= 0 || c.FFN <= 0:
		return fmt.Errorf("sizes must be positive: vocab %d, hidden %d, layers %d, heads %d, kv heads %d, head_dim %d, ffn %d",
			c.Vocab, c.Dim, c.Layers, c.Heads, c.KVHeads, c.HeadDim, c.FFN)
	case c.Heads%c.KVHeads != 0:
		return fmt.Errorf("%d heads is not a multiple of %d KV heads", c.Heads, c.KVHeads)
	case c.HeadDim%2 != 0:
		return fmt.Errorf("RoPE needs an even head_dim, got %d", c.HeadDim)
	case c.Heads*c.HeadDim != c.Dim:
		return fmt.Errorf("heads·head_dim = %d·%d, want hidden size %d (the attention sub-norm has width d)", c.Heads, c.HeadDim, c.Dim)
	case !(c.RopeTheta > 0) || math.IsInf(c.RopeTheta, 0) || !(c.Eps >= 0) || math.IsInf(c.Eps, 0):
		return fmt.Errorf("bad rope theta %v or RMSNorm eps %v", c.RopeTheta, c.Eps)
	case c.Act != "relu2" && c.Act != "silu":
		return fmt.Errorf("activation %q, want relu2 or silu", c.Act)
	case c.ContextLength <= 0:
		return fmt.Errorf("context length %d must be positive", c.ContextLength)
	}
	return nil
}

func (c bitnetHParams) params() []mmapmodel.Param {
	p := []mmapmodel.Param{
		mmapmodel.IntParam("vocab_size", int64(c.Vocab)), mmapmodel.IntParam("hidden_size", int64(c.Dim)),
		mmapmodel.IntParam("num_layers", int64(c.Layers)), mmapmodel.IntParam("num_heads", int64(c.Heads)),
		mmapmodel.IntParam("num_kv_heads", int64(c.KVHeads)), mmapmodel.IntParam("head_dim", int64(c.HeadDim)),
		mmapmodel.IntParam("intermediate_size", int64(c.FFN)), mmapmodel.FloatParam("rope_theta", c.RopeTheta),
		mmapmodel.FloatParam("rms_norm_eps", c.Eps), mmapmodel.StringParam("hidden_act", c.Act),
		mmapmodel.IntParam("context_length", int64(c.ContextLength)),
	}
	if c.NoSubNorms {
		// Written only when 0: a SubLN model's file is the same as before
		// the parameter existed (sdk/bitnet.go: absent means 1).
		p = append(p, mmapmodel.IntParam("sub_norms", 0))
	}
	return appendTokenIDs(p, c.BOS, c.EOS)
}

func appendTokenIDs(p []mmapmodel.Param, bos, eos int) []mmapmodel.Param {
	if bos >= 0 {
		p = append(p, mmapmodel.IntParam("bos_token_id", int64(bos)))
	}
	if eos >= 0 {
		p = append(p, mmapmodel.IntParam("eos_token_id", int64(eos)))
	}
	return p
}

// bitnetLayout lists the output tensors of a BitNet model in the runtime's
// file order (the order of sdk.WriteSynthetic): embedding, per layer a mixer
// slot and a channel slot, then the head; without the two SubLN norms for a
// model that has none (c.NoSubNorms). src maps each runtime name to the
// source name, "" meaning the source has no such tensor.
func bitnetLayout(c bitnetHParams, src func(name string) string) []*outTensor {
	qd, kvd := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	var out []*outTensor
	add := func(slot, name string, r role, rows, cols int) {
		out = append(out, &outTensor{slot: slot, name: name, role: r, rows: rows, cols: cols, src: src(name)})
	}
	add(sdk.SlotEmbedding, "model.embed_tokens.weight", roleEmbed, c.Vocab, c.Dim)
	for l := range c.Layers {
		p := func(s string) string { return fmt.Sprintf("model.layers.%d.%s", l, s) }
		mx, ch := sdk.BlockMixerSlot(l), sdk.BlockChannelSlot(l)
		add(mx, p("input_layernorm.weight"), roleNorm, 0, c.Dim)
		add(mx, p("self_attn.q_proj.weight"), roleTernary, qd, c.Dim)
		add(mx, p("self_attn.k_proj.weight"), roleTernary, kvd, c.Dim)
		add(mx, p("self_attn.v_proj.weight"), roleTernary, kvd, c.Dim)
		if !c.NoSubNorms {
			add(mx, p("self_attn.attn_sub_norm.weight"), roleNorm, 0, qd)
		}
		add(mx, p("self_attn.o_proj.weight"), roleTernary, c.Dim, qd)
		add(ch, p("post_attention_layernorm.weight"), roleNorm, 0, c.Dim)
		add(ch, p("mlp.gate_proj.weight"), roleTernary, c.FFN, c.Dim)
		add(ch, p("mlp.up_proj.weight"), roleTernary, c.FFN, c.Dim)
		if !c.NoSubNorms {
			add(ch, p("mlp.ffn_sub_norm.weight"), roleNorm, 0, c.FFN)
		}
		add(ch, p("mlp.down_proj.weight"), roleTernary, c.Dim, c.FFN)
	}
	add(sdk.SlotHead, "model.norm.weight", roleNorm, 0, c.Dim)
	if c.Untied {
		add(sdk.SlotHead, "lm_head.weight", roleHead, c.Vocab, c.Dim)
	}
	return out
}

// mmfreeHParams are a MatMul-free LM's hyper-parameters.
type mmfreeHParams struct {
	sdk.MMFreeConfig
	BOS, EOS int
}

func (c mmfreeHParams) params() []mmapmodel.Param {
	p := []mmapmodel.Param{
		mmapmodel.IntParam("vocab_size", int64(c.Vocab)), mmapmodel.IntParam("hidden_size", int64(c.Dim)),
		mmapmodel.IntParam("num_layers", int64(c.Layers)), mmapmodel.IntParam("intermediate_size", int64(c.FFN)),
		mmapmodel.FloatParam("rms_norm_eps", c.Eps),
	}
	return appendTokenIDs(p, c.BOS, c.EOS)
}

// mmfreeLayout lists the output tensors of a MatMul-free LM in the runtime's
// file order (sdk/mmfree.go). The per-layer lower bounds are vectors
// computed from model.lower_bounds; lb[l] is nil for layer 0.
func mmfreeLayout(c mmfreeHParams, lb [][]float32) []*outTensor {
	var out []*outTensor
	add := func(slot, name string, r role, rows, cols int) *outTensor {
		t := &outTensor{slot: slot, name: name, role: r, rows: rows, cols: cols, src: name}
		out = append(out, t)
		return t
	}
	add(sdk.SlotEmbedding, "model.embeddings.weight", roleEmbed, c.Vocab, c.Dim)
	for l := range c.Layers {
		p := func(s string) string { return fmt.Sprintf("model.layers.%d.%s", l, s) }
		mx, ch := sdk.BlockMixerSlot(l), sdk.BlockChannelSlot(l)
		add(mx, p("attn_norm.weight"), roleNorm, 0, c.Dim)
		for _, n := range []string{"i", "f", "g", "o"} {
			add(mx, p("attn."+n+"_proj.weight"), roleTernary, c.Dim, c.Dim)
			add(mx, p("attn."+n+"_proj.norm.weight"), roleNorm, 0, c.Dim)
		}
		add(mx, p("attn.g_norm.weight"), roleNorm, 0, c.Dim)
		if l > 0 {
			t := add(mx, p("attn.lower_bound"), roleVector, 0, c.Dim)
			t.src, t.vec = "model.lower_bounds", lb[l]
		}
		add(ch, p("mlp_norm.weight"), roleNorm, 0, c.Dim)
		add(ch, p("mlp.gate_proj.weight"), roleTernary, 2*c.FFN, c.Dim)
		add(ch, p("mlp.gate_proj.norm.weight"), roleNorm, 0, c.Dim)
		add(ch, p("mlp.down_proj.weight"), roleTernary, c.Dim, c.FFN)
		add(ch, p("mlp.down_proj.norm.weight"), roleNorm, 0, c.FFN)
	}
	add(sdk.SlotHead, "model.norm.weight", roleNorm, 0, c.Dim)
	add(sdk.SlotHead, "lm_head.weight", roleTernary, c.Vocab, c.Dim)
	add(sdk.SlotHead, "lm_head.norm.weight", roleNorm, 0, c.Dim)
	return out
}

// maxDim bounds every size read from metadata, so that nothing is
// allocated or multiplied from an absurd value before the tensors' real
// shapes are compared with it.
const maxDim = 1 << 24

// checkVocab checks what sdk.Open will: the tokenizer has no more tokens
// than the embedding has rows, and the special token ids are rows of it.
func (p *plan) checkVocab() error {
	vocab := int64(-1)
	for _, q := range p.params {
		if q.Key == "vocab_size" && q.Type == mmapmodel.ParamInt {
			vocab = q.Int
		}
	}
	if vocab < 0 {
		return nil
	}
	if int64(p.tokSize) > vocab {
		return fmt.Errorf("the tokenizer has %d tokens, more than the model's vocabulary of %d", p.tokSize, vocab)
	}
	for _, q := range p.params {
		if (q.Key == "bos_token_id" || q.Key == "eos_token_id") && q.Type == mmapmodel.ParamInt && (q.Int < 0 || q.Int >= vocab) {
			return fmt.Errorf("%s = %d is outside the vocabulary of %d", q.Key, q.Int, vocab)
		}
	}
	return nil
}

// checkSizes refuses sizes beyond maxDim and a layer count the checkpoint
// cannot hold (each layer has at least perLayer tensors).
func checkSizes(c *container, layers, perLayer int, sizes map[string]int) error {
	for _, k := range sortedKeys(sizes) {
		if v := sizes[k]; v > maxDim {
			return fmt.Errorf("%s = %d is larger than %d", k, v, maxDim)
		}
	}
	if layers*perLayer > len(c.tensors) {
		return fmt.Errorf("%d layers need at least %d tensors, the checkpoint holds %d", layers, layers*perLayer, len(c.tensors))
	}
	return nil
}
