package convert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/speakez/barewire/mmapmodel/ternary"
	"github.com/speakez/barewire/sdk"
	"github.com/speakez/barewire/sdk/tokenizer"
)

// hfConfig is the part of a Hugging Face config.json the importer reads.
// Pointers tell an absent key from a zero.
type hfConfig struct {
	Architectures         []string        `json:"architectures"`
	ModelType             string          `json:"model_type"`
	VocabSize             *int            `json:"vocab_size"`
	HiddenSize            *int            `json:"hidden_size"`
	NumHiddenLayers       *int            `json:"num_hidden_layers"`
	NumAttentionHeads     *int            `json:"num_attention_heads"`
	NumKeyValueHeads      *int            `json:"num_key_value_heads"`
	HeadDim               *int            `json:"head_dim"`
	IntermediateSize      *int            `json:"intermediate_size"`
	RopeTheta             *float64        `json:"rope_theta"`
	RopeScaling           json.RawMessage `json:"rope_scaling"`
	RMSNormEps            *float64        `json:"rms_norm_eps"`
	HiddenAct             string          `json:"hidden_act"`
	MaxPositionEmbeddings *int            `json:"max_position_embeddings"`
	BOSTokenID            json.RawMessage `json:"bos_token_id"`
	EOSTokenID            json.RawMessage `json:"eos_token_id"`
	TieWordEmbeddings     *bool           `json:"tie_word_embeddings"`
	QuantizationConfig    *struct {
		QuantMethod string `json:"quant_method"`
		LinearClass string `json:"linear_class"`
		UseRMSNorm  *bool  `json:"use_rms_norm"`
	} `json:"quantization_config"`
	// HGRN-bit (architectures.md §2.1).
	HiddenRatio   *float64 `json:"hidden_ratio"`
	NumHeads      *int     `json:"num_heads"`
	ExpandRatio   *int     `json:"expand_ratio"`
	UseShortConv  *bool    `json:"use_short_conv"`
	UseLowerBound *bool    `json:"use_lower_bound"`
}

// maxSideFile bounds config.json, tokenizer.json and friends.
const maxSideFile = 64 << 20

func readSide(path string) ([]byte, error) {
	if st, err := os.Stat(path); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%v)", path, st.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSideFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSideFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxSideFile)
	}
	return b, nil
}

func need(key string, v *int) (int, error) {
	if v == nil {
		return 0, fmt.Errorf("config.json: key %q is missing", key)
	}
	if *v <= 0 {
		return 0, fmt.Errorf("config.json: key %q = %d must be positive", key, *v)
	}
	return *v, nil
}

// tokenID reads bos_token_id / eos_token_id: an integer, a list of them
// (the first is the id; the rest are noted), or null.
func tokenID(key string, raw json.RawMessage, notes *[]string) (int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return -1, nil
	}
	var one int
	if err := json.Unmarshal(raw, &one); err == nil {
		if one < 0 {
			return 0, fmt.Errorf("config.json: key %q = %d is negative", key, one)
		}
		return one, nil
	}
	var many []int
	if err := json.Unmarshal(raw, &many); err != nil || len(many) == 0 || slices.Min(many) < 0 {
		return 0, fmt.Errorf("config.json: key %q = %s, want a token id or a list of them", key, raw)
	}
	if len(many) > 1 {
		*notes = append(*notes, fmt.Sprintf("config.json %s lists %v; the first is the model's, the chat template's end-of-turn tokens are stop tokens of the tokenizer", key, many))
	}
	return many[0], nil
}

var layerIndex = regexp.MustCompile(`^model\.layers\.(\d+)\.`)

// planHF recognises a Hugging Face checkpoint from config.json (beside the
// weights) and plans its conversion.
func planHF(in, dir string, c *container, o *resolved) (*plan, error) {
	fail := func(err error) (*plan, error) { return nil, fmt.Errorf("%s: %w", in, inputErr(err)) }
	raw, err := readSide(filepath.Join(dir, "config.json"))
	if err != nil {
		return fail(fmt.Errorf("a safetensors checkpoint needs its config.json beside the weights: %w", err))
	}
	var cfg hfConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fail(fmt.Errorf("config.json: %w", err))
	}
	has := func(a string) bool { return slices.Contains(cfg.Architectures, a) }
	anySuffix := func(s string) bool {
		for _, t := range c.tensors {
			if strings.HasSuffix(t.name, s) {
				return true
			}
		}
		return false
	}
	p := &plan{ignored: map[string]string{}}
	switch {
	case has("HGRNBitForCausalLM") || cfg.ModelType == "hgrn_bit":
		err = planMMFree(&cfg, c, p)
	case has("BitNetForCausalLM") || cfg.ModelType == "bitnet":
		err = planHFBitNet(&cfg, c, p, o, "BitNet b1.58 2B4T family", false)
	case has("BitnetForCausalLM"):
		err = planHFBitNet(&cfg, c, p, o, "BitNet b1.58 1bitLLM family", false)
	case has("LlamaForCausalLM") || cfg.ModelType == "llama":
		switch {
		case anySuffix("self_attn.inner_attn_ln.weight") || anySuffix("self_attn.attn_sub_norm.weight"):
			err = planHFBitNet(&cfg, c, p, o, "BitNet b1.58 1bitLLM family (LLaMA naming)", false)
		case anySuffix(".weight_scale") || (cfg.QuantizationConfig != nil && cfg.QuantizationConfig.QuantMethod == "bitnet"):
			// architectures.md §1.1: Llama3-8B-1.58, Falcon3-1.58bit, the
			// BitNet graph without the SubLN norms. HF stores LLaMA q and k
			// rows in rotate-half order already (§1.2), as the runtime reads them.
			err = planHFBitNet(&cfg, c, p, o, "LLaMA-architecture 1.58-bit fine-tune, no sub-norms", true)
		default:
			return fail(fmt.Errorf("config.json architectures %v, model_type %q: a LLaMA model with neither BitNet sub-norms nor ternary weights: %w", cfg.Architectures, cfg.ModelType, ErrUnknownArch))
		}
	default:
		return fail(fmt.Errorf("config.json architectures %v, model_type %q (known: BitNetForCausalLM, BitnetForCausalLM, LlamaForCausalLM with BitNet sub-norms or ternary weights, HGRNBitForCausalLM): %w",
			cfg.Architectures, cfg.ModelType, ErrUnknownArch))
	}
	if err != nil {
		return fail(err)
	}
	for _, t := range c.tensors {
		// Old LLaMA checkpoints store RoPE's inverse frequencies; the
		// runtime computes them from rope_theta.
		if strings.HasSuffix(t.name, ".rotary_emb.inv_freq") {
			p.ignored[t.name] = "RoPE inverse frequencies, recomputed from rope_theta"
		}
	}
	if err := hfTokenizer(dir, p); err != nil {
		return fail(err)
	}
	return p, nil
}

// planHFBitNet plans a BitNet checkpoint; noSubNorms for the
// LLaMA-architecture fine-tunes, which have no SubLN norms (§1.1).
func planHFBitNet(cfg *hfConfig, c *container, p *plan, o *resolved, family string, noSubNorms bool) error {
	var h bitnetHParams
	var err error
	h.NoSubNorms = noSubNorms
	for _, k := range []struct {
		key string
		v   *int
		dst *int
	}{{"vocab_size", cfg.VocabSize, &h.Vocab}, {"hidden_size", cfg.HiddenSize, &h.Dim}, {"num_hidden_layers", cfg.NumHiddenLayers, &h.Layers},
		{"num_attention_heads", cfg.NumAttentionHeads, &h.Heads}, {"intermediate_size", cfg.IntermediateSize, &h.FFN}} {
		if *k.dst, err = need(k.key, k.v); err != nil {
			return err
		}
	}
	h.KVHeads = h.Heads
	if cfg.NumKeyValueHeads != nil {
		h.KVHeads = *cfg.NumKeyValueHeads
	}
	h.HeadDim = h.Dim / h.Heads
	if cfg.HeadDim != nil {
		h.HeadDim = *cfg.HeadDim
	}
	h.RopeTheta, h.Eps, h.ContextLength = 10000, 1e-6, 2048 // transformers' LlamaConfig defaults
	if cfg.RopeTheta != nil {
		h.RopeTheta = *cfg.RopeTheta
	}
	if cfg.RMSNormEps != nil {
		h.Eps = *cfg.RMSNormEps
	}
	if cfg.MaxPositionEmbeddings != nil {
		h.ContextLength = *cfg.MaxPositionEmbeddings
	}
	if rs := bytes.TrimSpace(cfg.RopeScaling); len(rs) > 0 && string(rs) != "null" {
		return fmt.Errorf("config.json: key \"rope_scaling\" = %s: RoPE scaling: %w", rs, ErrUnsupported)
	}
	switch cfg.HiddenAct {
	case "relu2", "silu":
		h.Act = cfg.HiddenAct
	case "":
		return fmt.Errorf("config.json: key \"hidden_act\" is missing (relu2 for 2B4T, silu for 1bitLLM)")
	default:
		return fmt.Errorf("config.json: key \"hidden_act\" = %q (the runtime has relu2 and silu): %w", cfg.HiddenAct, ErrUnsupported)
	}
	if q := cfg.QuantizationConfig; q != nil {
		if q.QuantMethod != "" && q.QuantMethod != "bitnet" {
			return fmt.Errorf("config.json: quantization_config.quant_method %q (known: bitnet): %w", q.QuantMethod, ErrUnsupported)
		}
		// architectures.md §1.4 item 2: "bitlinear" (the packed 2B4T release)
		// stores 1/γ; "autobitlinear" stores γ.
		switch q.LinearClass {
		case "", "bitlinear":
			o.hfScale = ternary.HFScaleReciprocal
		case "autobitlinear":
			o.hfScale = ternary.HFScaleDirect
		default:
			return fmt.Errorf("config.json: quantization_config.linear_class %q (known: bitlinear, autobitlinear): %w", q.LinearClass, ErrUnsupported)
		}
		if q.UseRMSNorm != nil && *q.UseRMSNorm {
			// transformers' BitNet quantization then normalizes every
			// BitLinear's input inside the layer, a norm the graph lacks.
			return fmt.Errorf("config.json: quantization_config.use_rms_norm = true (an RMSNorm inside every BitLinear): %w", ErrUnsupported)
		}
	}
	_, h.Untied = c.lookup("lm_head.weight")
	if h.BOS, err = tokenID("bos_token_id", cfg.BOSTokenID, &p.notes); err != nil {
		return err
	}
	if h.EOS, err = tokenID("eos_token_id", cfg.EOSTokenID, &p.notes); err != nil {
		return err
	}
	if err := checkSizes(c, h.Layers, 9, map[string]int{"num_hidden_layers": h.Layers, "vocab_size": h.Vocab, "hidden_size": h.Dim, "intermediate_size": h.FFN, "max_position_embeddings": h.ContextLength,
		"num_attention_heads": h.Heads, "num_key_value_heads": h.KVHeads, "head_dim": h.HeadDim}); err != nil {
		return fmt.Errorf("config.json: %w", err)
	}
	if err := h.validate(); err != nil {
		return fmt.Errorf("config.json: %w", err)
	}
	// architectures.md §1.5: the 1bitLLM checkpoints spell the sub-norms
	// self_attn.inner_attn_ln and mlp.ffn_layernorm.
	alt := map[string]string{"self_attn.attn_sub_norm.weight": "self_attn.inner_attn_ln.weight", "mlp.ffn_sub_norm.weight": "mlp.ffn_layernorm.weight"}
	src := func(name string) string {
		if _, ok := c.lookup(name); ok {
			return name
		}
		if m := layerIndex.FindString(name); m != "" {
			if a, ok := alt[name[len(m):]]; ok {
				if _, ok := c.lookup(m + a); ok {
					return m + a
				}
			}
		}
		return name
	}
	p.arch, p.params = sdk.ArchBitNet, h.params()
	p.tensors = bitnetLayout(h, src)
	packed, dense := 0, 0
	for _, t := range p.tensors {
		if t.role != roleTernary {
			continue
		}
		ws := strings.TrimSuffix(t.src, ".weight") + ".weight_scale"
		s, _ := c.lookup(t.src)
		if _, ok := c.lookup(ws); ok {
			if s.enc != encU8 {
				return fmt.Errorf("tensor %s has a weight_scale %q but is not a packed U8 weight", s, ws)
			}
			t.scaleSrc = ws
			packed++
		} else {
			dense++
		}
	}
	kind := "latent/master weights, absmean"
	switch {
	case packed > 0 && dense == 0:
		kind = "HF packed uint8 + weight_scale"
	case packed > 0:
		kind = "mixed packed and dense weights"
	}
	p.family = fmt.Sprintf("%s (%s, %s)", family, h.Act, kind)
	return nil
}

func planMMFree(cfg *hfConfig, c *container, p *plan) error {
	var h mmfreeHParams
	var err error
	for _, k := range []struct {
		key string
		v   *int
		dst *int
	}{{"vocab_size", cfg.VocabSize, &h.Vocab}, {"hidden_size", cfg.HiddenSize, &h.Dim}, {"num_hidden_layers", cfg.NumHiddenLayers, &h.Layers}} {
		if *k.dst, err = need(k.key, k.v); err != nil {
			return err
		}
	}
	if cfg.IntermediateSize != nil {
		if h.FFN, err = need("intermediate_size", cfg.IntermediateSize); err != nil {
			return err
		}
	} else {
		// architectures.md §2.1 (MMF HGRNBitMLP): I = 256·ceil(int(d·hidden_ratio·2/3)/256).
		hr := 4.0
		if cfg.HiddenRatio != nil {
			hr = *cfg.HiddenRatio
		}
		i := int(float64(h.Dim) * hr * 2 / 3)
		h.FFN = 256 * ((i + 255) / 256)
		if h.FFN <= 0 {
			return fmt.Errorf("config.json: hidden_ratio %v gives no FFN width", hr)
		}
	}
	if err := checkSizes(c, h.Layers, 12, map[string]int{"num_hidden_layers": h.Layers, "vocab_size": h.Vocab, "hidden_size": h.Dim, "intermediate_size": h.FFN}); err != nil {
		return fmt.Errorf("config.json: %w", err)
	}
	h.Eps = 1e-6
	if cfg.RMSNormEps != nil {
		h.Eps = *cfg.RMSNormEps
	}
	if !(h.Eps >= 0) || math.IsInf(h.Eps, 0) {
		return fmt.Errorf("config.json: rms_norm_eps %v", h.Eps)
	}
	switch {
	case cfg.HiddenAct != "" && cfg.HiddenAct != "swish" && cfg.HiddenAct != "silu":
		return fmt.Errorf("config.json: key \"hidden_act\" = %q (HGRN-bit uses swish): %w", cfg.HiddenAct, ErrUnsupported)
	case cfg.NumHeads != nil && *cfg.NumHeads != 1:
		return fmt.Errorf("config.json: key \"num_heads\" = %d (the released models and the runtime have 1): %w", *cfg.NumHeads, ErrUnsupported)
	case cfg.ExpandRatio != nil && *cfg.ExpandRatio != 1:
		return fmt.Errorf("config.json: key \"expand_ratio\" = %d (the runtime has 1): %w", *cfg.ExpandRatio, ErrUnsupported)
	case cfg.UseShortConv != nil && *cfg.UseShortConv:
		return fmt.Errorf("config.json: key \"use_short_conv\" = true (the runtime has no short convolution): %w", ErrUnsupported)
	case cfg.TieWordEmbeddings != nil && *cfg.TieWordEmbeddings:
		return fmt.Errorf("config.json: key \"tie_word_embeddings\" = true (HGRN-bit's lm_head is a FusedBitLinear of its own): %w", ErrUnsupported)
	}
	if h.BOS, err = tokenID("bos_token_id", cfg.BOSTokenID, &p.notes); err != nil {
		return err
	}
	if h.EOS, err = tokenID("eos_token_id", cfg.EOSTokenID, &p.notes); err != nil {
		return err
	}
	// Lower bounds (architectures.md §2.2): softmax across layers, cumsum,
	// minus layer 0's share; layer 0 has none.
	lb := make([][]float32, h.Layers)
	useLB := cfg.UseLowerBound == nil || *cfg.UseLowerBound
	if useLB {
		s, ok := c.lookup("model.lower_bounds")
		if !ok {
			return fmt.Errorf("tensor %q is missing (use_lower_bound is true)", "model.lower_bounds")
		}
		if !slices.Equal(s.shape, []int{h.Layers, h.Dim}) {
			return fmt.Errorf("tensor %s: want shape [%d %d]", s, h.Layers, h.Dim)
		}
		v, err := floats(s, h.Layers*h.Dim)
		if err != nil {
			return err
		}
		raw := make([][]float64, h.Layers)
		for l := range raw {
			raw[l] = make([]float64, h.Dim)
			for i := range raw[l] {
				raw[l][i] = float64(v[l*h.Dim+i])
			}
		}
		for l, row := range sdk.MMFreeLowerBounds(raw) {
			lb[l] = make([]float32, h.Dim)
			for i, x := range row {
				lb[l][i] = float32(x)
			}
		}
	} else {
		for l := range lb {
			lb[l] = make([]float32, h.Dim) // lb = 0: f is used as it is
		}
		if _, ok := c.lookup("model.lower_bounds"); ok {
			p.ignored["model.lower_bounds"] = "use_lower_bound is false"
		}
	}
	p.arch, p.params = sdk.ArchMMFree, h.params()
	p.tensors = mmfreeLayout(h, lb)
	p.family = "MatMul-free LM (HGRN-bit, latent weights, absmean)"
	return nil
}

// hfTokenizer carries tokenizer.json (byte-level BPE) or tokenizer.model
// (SentencePiece) into the plan, with tokenizer_config.json's chat
// template. The runtime's special-token handling comes from the tokenizer:
// added tokens marked special become control tokens, and the chat
// template's end-of-turn tokens (<|eot_id|> and friends) are stop tokens.
func hfTokenizer(dir string, p *plan) error {
	var tk tokenizer.Tokenizer
	var from string
	if b, err := readSide(filepath.Join(dir, "tokenizer.json")); err == nil {
		if tk, err = tokenizer.FromTokenizerJSON(b); err != nil {
			return fmt.Errorf("tokenizer.json: %w", err)
		}
		from = "tokenizer.json"
	} else if !os.IsNotExist(err) {
		return err
	} else if b, err := readSide(filepath.Join(dir, "tokenizer.model")); err == nil {
		if tk, err = tokenizer.FromSentencePieceModel(b); err != nil {
			return fmt.Errorf("tokenizer.model: %w", err)
		}
		from = "tokenizer.model"
	} else if !os.IsNotExist(err) {
		return err
	}
	if tk == nil {
		p.notes = append(p.notes, "no tokenizer.json or tokenizer.model beside the weights: the model file has no tokenizer")
		return nil
	}
	var err error
	if p.tok, err = tokenizer.Marshal(tk); err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	p.tokDesc, p.tokSize = describeTokenizer(tk, from), tk.VocabSize()
	b, err := readSide(filepath.Join(dir, "tokenizer_config.json"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var tc struct {
		ChatTemplate json.RawMessage `json:"chat_template"`
	}
	if err := json.Unmarshal(b, &tc); err != nil {
		return fmt.Errorf("tokenizer_config.json: %w", err)
	}
	raw := bytes.TrimSpace(tc.ChatTemplate)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, &p.chat); err == nil {
		return nil
	}
	// transformers also accepts a list of named templates; "default" is
	// the one used without a name.
	var named []struct{ Name, Template string }
	if err := json.Unmarshal(raw, &named); err != nil {
		return fmt.Errorf("tokenizer_config.json: chat_template is neither a string nor a list of named templates")
	}
	for _, n := range named {
		if n.Name == "default" || p.chat == "" {
			p.chat = n.Template
		}
	}
	return nil
}
