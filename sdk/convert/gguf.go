package convert

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/speakez/barewire/mmapmodel/gguf"
	"github.com/speakez/barewire/mmapmodel/ternary"
	"github.com/speakez/barewire/sdk"
	"github.com/speakez/barewire/sdk/tokenizer"
)

// GGUF architecture strings of BitNet b1.58 (architectures.md §1.6 (b)):
// "bitnet-b1.58" is the official 2B4T file (bitnet.cpp), "bitnet-25" what
// MSB convert-ms-to-gguf-bitnet.py writes for the same model, and "bitnet"
// upstream llama.cpp's LLM_ARCH_BITNET, written for the 1bitLLM models.
var ggufBitNetArchs = map[string]bool{"bitnet-b1.58": true, "bitnet-25": true, "bitnet": true}

// ggufLayerNames maps a runtime per-layer tensor name (after
// "model.layers.N.") to the GGUF one (after "blk.N."), architectures.md §1.5.
var ggufLayerNames = map[string]string{
	"input_layernorm.weight":          "attn_norm.weight",
	"self_attn.q_proj.weight":         "attn_q.weight",
	"self_attn.k_proj.weight":         "attn_k.weight",
	"self_attn.v_proj.weight":         "attn_v.weight",
	"self_attn.attn_sub_norm.weight":  "attn_sub_norm.weight",
	"self_attn.o_proj.weight":         "attn_output.weight",
	"post_attention_layernorm.weight": "ffn_norm.weight",
	"mlp.gate_proj.weight":            "ffn_gate.weight",
	"mlp.up_proj.weight":              "ffn_up.weight",
	"mlp.ffn_sub_norm.weight":         "ffn_sub_norm.weight",
	"mlp.down_proj.weight":            "ffn_down.weight",
}

// ggufName maps a runtime tensor name to the GGUF one.
func ggufName(name string) string {
	switch name {
	case "model.embed_tokens.weight":
		return "token_embd.weight"
	case "model.norm.weight":
		return "output_norm.weight"
	case "lm_head.weight":
		return "output.weight"
	}
	var l int
	var rest string
	if _, err := fmt.Sscanf(name, "model.layers.%d.", &l); err == nil {
		rest = name[len(fmt.Sprintf("model.layers.%d.", l)):]
		if g, ok := ggufLayerNames[rest]; ok {
			return fmt.Sprintf("blk.%d.%s", l, g)
		}
	}
	return ""
}

// ggufRoPERows is the source row of output row r of a GGUF llama q or k
// projection. llama.cpp's LLaMA converter permutes the Hugging Face rows of
// each head for its interleaved RoPE (LlamaModel.permute: reshape(n_head,
// 2, head_dim/2, in).swapaxes(1, 2)), unlike the BitNet converters
// (architectures.md §1.2); the runtime rotates halves, so HF row
// h·hd + j·hd/2 + i is read from GGUF row h·hd + 2i + j.
func ggufRoPERows(hd int) func(r int) int {
	half := hd / 2
	return func(r int) int {
		q := r % hd
		return r - q + 2*(q%half) + q/half
	}
}

func isTernaryType(t gguf.GGMLType) bool {
	return t == gguf.TypeTQ1_0 || t == gguf.TypeTQ2_0 || t == gguf.TypeI2_S
}

// planGGUF recognises a GGUF file and plans its conversion.
func planGGUF(in string, f *gguf.File, o *resolved) (*plan, *container, error) {
	arch, err := f.Architecture()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w: %w", in, ErrInput, err)
	}
	// architectures.md §1.1: Llama3-8B-1.58 and Falcon3-1.58bit are
	// LLaMA-architecture fine-tunes, the BitNet graph without the SubLN
	// norms; as GGUF they are arch "llama" with ternary tensors.
	llama := arch == "llama"
	if llama && !slices.ContainsFunc(f.Tensors(), func(t gguf.TensorInfo) bool { return isTernaryType(t.Type) }) {
		return nil, nil, fmt.Errorf("%s: general.architecture %q has no ternary tensors (I2_S, TQ1_0, TQ2_0): not a 1.58-bit model: %w", in, arch, ErrUnknownArch)
	}
	if !ggufBitNetArchs[arch] && !llama {
		return nil, nil, fmt.Errorf("%s: general.architecture %q (known: bitnet-b1.58, bitnet-25, bitnet, llama with ternary tensors): %w", in, arch, ErrUnknownArch)
	}
	c, err := ggufContainer(f, true)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w: %w", in, ErrInput, err)
	}
	p := &plan{arch: sdk.ArchBitNet, ignored: map[string]string{}}
	fail := func(err error) (*plan, *container, error) {
		return nil, nil, fmt.Errorf("%s: %w", in, inputErr(err))
	}
	// Keys are looked up as arch + "." + suffix by exact prefix: the arch
	// string itself contains '-' and '.' (architectures.md §1.6 (a)).
	u := func(suffix string, def int64, required bool) (int, error) {
		v, err := f.ArchUint(suffix)
		if errors.Is(err, gguf.ErrNotFound) && !required {
			return int(def), nil
		}
		if err != nil {
			return 0, err
		}
		if v > 1<<31 {
			return 0, fmt.Errorf("key %q = %d is out of range", arch+"."+suffix, v)
		}
		return int(v), nil
	}
	fl := func(suffix string, def float64) (float64, error) {
		v, err := f.ArchFloat(suffix)
		if errors.Is(err, gguf.ErrNotFound) {
			return def, nil
		}
		if err != nil {
			return 0, err
		}
		// Converters store the config's decimal values (1e-5, 500000) as
		// f32; the shortest decimal that round-trips the f32 recovers
		// them, so a GGUF and a Hugging Face conversion of one model get
		// the same parameters.
		if val, ok := f.Lookup(arch + "." + suffix); ok && val.Type() == gguf.Float32 {
			v, _ = strconv.ParseFloat(strconv.FormatFloat(v, 'g', -1, 32), 64)
		}
		return v, nil
	}
	var h bitnetHParams
	for _, k := range []struct {
		suffix   string
		dst      *int
		def      int64
		required bool
	}{
		{"embedding_length", &h.Dim, 0, true}, {"block_count", &h.Layers, 0, true},
		{"feed_forward_length", &h.FFN, 0, true}, {"attention.head_count", &h.Heads, 0, true},
		{"attention.head_count_kv", &h.KVHeads, 0, false}, {"rope.dimension_count", &h.HeadDim, 0, false},
		{"context_length", &h.ContextLength, 2048, false}, {"vocab_size", &h.Vocab, 0, false},
	} {
		if *k.dst, err = u(k.suffix, k.def, k.required); err != nil {
			return fail(err)
		}
	}
	if h.KVHeads == 0 {
		h.KVHeads = h.Heads
	}
	if h.HeadDim == 0 && h.Heads > 0 {
		h.HeadDim = h.Dim / h.Heads
	}
	if h.Vocab == 0 {
		if emb, ok := f.Tensor("token_embd.weight"); ok && len(emb.Dims) == 2 {
			h.Vocab = int(emb.Dims[1])
		}
	}
	if h.RopeTheta, err = fl("rope.freq_base", 10000); err != nil {
		return fail(err)
	}
	if h.Eps, err = fl("attention.layer_norm_rms_epsilon", 1e-5); err != nil {
		return fail(err)
	}
	_, h.Untied = f.Tensor("output.weight")
	h.NoSubNorms = llama
	if llama {
		// Llama 3.1-style RoPE scaling (frequency factors in rope_freqs,
		// or a scaling type) changes the angles the runtime computes.
		if _, ok := f.Tensor("rope_freqs.weight"); ok {
			return fail(fmt.Errorf("tensor \"rope_freqs.weight\": RoPE frequency scaling: %w", ErrUnsupported))
		}
		if st, err := optString(f, "llama.rope.scaling.type"); err != nil {
			return fail(err)
		} else if st != "" && st != "none" {
			return fail(fmt.Errorf("key \"llama.rope.scaling.type\" = %q: RoPE scaling: %w", st, ErrUnsupported))
		}
	}

	// Activation (architectures.md §1.6 (c)): bitnet.cpp's "bitnet-b1.58"
	// and "bitnet-25" graphs use ReLU² (the 2B4T model, HF hidden_act
	// relu2). llama.cpp's "bitnet" defaults to SiLU because it was written
	// for the 1bitLLM models; the 2B4T model converted by llama.cpp is
	// recognised by its LLaMA-3 vocabulary of 128256 tokens and GQA.
	switch {
	case o.act != "":
		h.Act = o.act
		p.notes = append(p.notes, "activation "+o.act+" from the options")
	case llama:
		// llama.cpp's llama graph, and the fine-tunes' hidden_act.
		h.Act = "silu"
		p.family = "LLaMA-architecture 1.58-bit fine-tune (GGUF llama, silu, no sub-norms)"
	case arch != "bitnet":
		h.Act = "relu2"
		p.family = "BitNet b1.58 2B4T (GGUF " + arch + ")"
	case h.Vocab == 128256 && h.KVHeads < h.Heads:
		h.Act = "relu2"
		p.notes = append(p.notes, "arch \"bitnet\" with a 128256-token vocabulary and grouped KV heads: the 2B4T model, activation relu2")
	default:
		h.Act = "silu"
		p.notes = append(p.notes, "arch \"bitnet\": the 1bitLLM family, activation silu (pass the activation option to override)")
	}
	if p.family == "" {
		p.family = "BitNet b1.58 (GGUF " + arch + ", " + h.Act + ")"
	}

	// Tokenizer, and the special ids the runtime reads as parameters.
	h.BOS, h.EOS = -1, -1
	if err := ggufTokenizer(f, p, &h.BOS, &h.EOS); err != nil {
		return fail(err)
	}
	if err := checkSizes(c, h.Layers, 9, map[string]int{"block_count": h.Layers, "vocab_size": h.Vocab, "embedding_length": h.Dim, "feed_forward_length": h.FFN, "context_length": h.ContextLength,
		"attention.head_count": h.Heads, "attention.head_count_kv": h.KVHeads, "rope.dimension_count": h.HeadDim}); err != nil {
		return fail(fmt.Errorf("hyper-parameters from %q keys: %w", arch+".*", err))
	}
	if err := h.validate(); err != nil {
		return fail(fmt.Errorf("hyper-parameters from %q keys: %w", arch+".*", err))
	}
	p.params = h.params()
	p.tensors = bitnetLayout(h, ggufName)
	for _, t := range p.tensors {
		if t.role == roleTernary {
			t.scaleSrc = strings.TrimSuffix(t.src, ".weight") + ".scale"
		}
		if llama && (strings.HasSuffix(t.name, ".self_attn.q_proj.weight") || strings.HasSuffix(t.name, ".self_attn.k_proj.weight")) {
			t.rowOf = ggufRoPERows(h.HeadDim)
		}
	}
	if llama {
		p.notes = append(p.notes, "GGUF llama: q and k rows put back from llama.cpp's interleaved RoPE order into the rotate-half order")
	}

	// I2_S layout: the flag, or evidence from the file (never a guess).
	var i2s []*outTensor
	for _, t := range p.tensors {
		if s, ok := c.lookup(t.src); ok && s.enc == encI2S && t.role == roleTernary {
			i2s = append(i2s, t)
		}
	}
	if len(i2s) > 0 && o.i2s == ternary.I2SLayoutUnknown {
		l, why, err := detectI2S(c, i2s)
		if err != nil {
			return fail(err)
		}
		o.i2s = l
		p.notes = append(p.notes, "I2_S layout "+l.String()+": "+why)
	}
	return p, c, nil
}

// detectI2S decides the I2_S layout of a file from the evidence of
// ternary.DetectI2SLayout. One quantizer build writes a whole file, so a
// layout proven by any tensor (the ARM layout by a tensor whose size is not
// a multiple of 128) holds for all; tensors that decode the same either way
// do not matter. Anything else is ternary.ErrAmbiguousLayout, reported with
// the flag that settles it.
func detectI2S(c *container, ts []*outTensor) (ternary.I2SLayout, string, error) {
	var decided ternary.I2SLayout
	var why, ambiguous string
	for _, t := range ts {
		s, _ := c.lookup(t.src)
		b, err := s.data()
		if err != nil {
			return 0, "", err
		}
		rep, err := ternary.DetectI2SLayout(b, t.rows, t.cols, ternary.I2SEvidence{})
		switch {
		case errors.Is(err, ternary.ErrAmbiguousLayout):
			if ambiguous == "" {
				ambiguous = s.name
			}
		case err != nil:
			return 0, "", fmt.Errorf("tensor %s: %w", s, err)
		case rep.Indifferent:
		default:
			if decided != ternary.I2SLayoutUnknown && decided != rep.Layout {
				return 0, "", fmt.Errorf("tensor %s: %s, but an earlier tensor proved the %s layout: %w", s, rep.Reason, decided, ErrInput)
			}
			decided, why = rep.Layout, fmt.Sprintf("tensor %q: %s", s.name, rep.Reason)
		}
	}
	switch {
	case decided != ternary.I2SLayoutUnknown:
		return decided, why, nil
	case ambiguous == "":
		return ternary.I2SX86, "every I2_S tensor decodes the same under both layouts", nil
	}
	return 0, "", fmt.Errorf("tensor %q: the file does not record which I2_S layout bitnet.cpp wrote (x86 128-weight blocks or ARM 64-weight blocks) and nothing in it tells them apart; pass --i2s-layout x86 (the official microsoft/bitnet-b1.58-2B-4T-gguf file, files quantized on x86) or --i2s-layout arm (files quantized by an ARM build): %w",
		ambiguous, ternary.ErrAmbiguousLayout)
}

// ggufTokenizer reads the tokenizer.* keys (architectures.md §6.1) into the
// plan's tokenizer blob and chat template, and the BOS/EOS ids.
func ggufTokenizer(f *gguf.File, p *plan, bos, eos *int) error {
	model, err := f.String("tokenizer.ggml.model")
	if errors.Is(err, gguf.ErrNotFound) {
		p.notes = append(p.notes, "no tokenizer.ggml.model key: the model file has no tokenizer")
		return nil
	}
	if err != nil {
		return err
	}
	v := tokenizer.NewGGUFVocab()
	v.Model = model
	if v.Pre, err = optString(f, "tokenizer.ggml.pre"); err != nil {
		return err
	}
	if v.Tokens, err = f.Strings("tokenizer.ggml.tokens"); err != nil {
		return err
	}
	if _, ok := f.Lookup("tokenizer.ggml.scores"); ok {
		if v.Scores, err = f.Float32s("tokenizer.ggml.scores"); err != nil {
			return err
		}
	}
	if _, ok := f.Lookup("tokenizer.ggml.token_type"); ok {
		if v.TokenTypes, err = f.Int32s("tokenizer.ggml.token_type"); err != nil {
			return err
		}
	}
	if _, ok := f.Lookup("tokenizer.ggml.merges"); ok {
		if v.Merges, err = f.Strings("tokenizer.ggml.merges"); err != nil {
			return err
		}
	}
	for _, k := range []struct {
		key string
		dst *int
	}{{"bos_token_id", &v.BOS}, {"eos_token_id", &v.EOS}, {"eot_token_id", &v.EOT}, {"unknown_token_id", &v.Unknown}, {"padding_token_id", &v.Padding}} {
		key := "tokenizer.ggml." + k.key
		n, err := f.Uint(key)
		if errors.Is(err, gguf.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if n >= uint64(len(v.Tokens)) {
			return fmt.Errorf("key %q = %d is outside the vocabulary of %d tokens", key, n, len(v.Tokens))
		}
		*k.dst = int(n)
	}
	for _, k := range []struct {
		key string
		dst *bool
	}{{"tokenizer.ggml.add_bos_token", &v.AddBOS}, {"tokenizer.ggml.add_space_prefix", &v.AddSpacePrefix}} {
		b, err := f.Bool(k.key)
		if errors.Is(err, gguf.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		*k.dst = b
	}
	tk, err := tokenizer.FromGGUF(v)
	if err != nil {
		return fmt.Errorf("tokenizer.ggml.*: %w", err)
	}
	if p.tok, err = tokenizer.Marshal(tk); err != nil {
		return fmt.Errorf("tokenizer.ggml.*: %w", err)
	}
	p.tokDesc, p.tokSize = describeTokenizer(tk, "GGUF tokenizer.ggml.model "+model), tk.VocabSize()
	*bos, *eos = v.BOS, v.EOS
	if p.chat, err = optString(f, "tokenizer.chat_template"); err != nil {
		return err
	}
	return nil
}

func optString(f *gguf.File, key string) (string, error) {
	s, err := f.String(key)
	if errors.Is(err, gguf.ErrNotFound) {
		return "", nil
	}
	return s, err
}

func describeTokenizer(tk tokenizer.Tokenizer, from string) string {
	return fmt.Sprintf("%s, %d tokens, BOS %d, EOS %d, stops %v (%s)", tk.Kind(), tk.VocabSize(), tk.BOS(), tk.EOS(), tk.StopIDs(), from)
}
