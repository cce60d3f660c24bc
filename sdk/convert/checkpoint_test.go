package convert

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/speakez/barewire/mmapmodel/gguf"
	"github.com/speakez/barewire/mmapmodel/gguf/ggufwrite"
	"github.com/speakez/barewire/mmapmodel/safetensors"
	"github.com/speakez/barewire/mmapmodel/safetensors/stwrite"
	"github.com/speakez/barewire/mmapmodel/ternary"
	"github.com/speakez/barewire/sdk/internal/reference"
)

// This file writes small checkpoints of every supported kind from the same
// reference weights, with encoders written from the format descriptions in
// architectures.md §1.4 and §5.2 (not from the decoders under test).

const testVocab = 700 // ≥ the 663 tokens of sdk/tokenizer/testdata/llama3-mini

const llama3Mini = "../tokenizer/testdata/llama3-mini/tokenizer.json"
const spMini = "../tokenizer/testdata/sp-mini/tokenizer.model"

// exactBitNet is a small reference BitNet whose every value is exact in
// f16, bf16 and f32 and whose scales γ are powers of two, so that every
// container holds exactly the same model: γ = 1/16 or 1/8, norm weights
// multiples of 1/128 in [0.5, 1.5], embeddings multiples of 1/256 in [−1, 1).
func exactBitNet(t testing.TB, variant string, seed uint64) *reference.BitNet {
	t.Helper()
	cfg, err := reference.SmallBitNetConfig(variant)
	if err != nil {
		t.Fatal(err)
	}
	// Rows of 256 and more (TQ1_0/TQ2_0 blocks are 256 weights).
	cfg.Vocab, cfg.Dim, cfg.HeadDim, cfg.FFN = testVocab, 256, 64, 512
	return exactBitNetConfig(t, cfg, seed)
}

func exactBitNetConfig(t testing.TB, cfg reference.BitNetConfig, seed uint64) *reference.BitNet {
	t.Helper()
	m, err := reference.RandomBitNet(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	round := func(v []float64, q float64) {
		for i := range v {
			v[i] = math.Round(v[i]*q) / q
		}
	}
	round(m.Embed.Data, 256)
	if m.Output != nil {
		round(m.Output.Data, 256)
	}
	round(m.Norm, 128)
	for i := range m.Layers {
		ly := &m.Layers[i]
		for _, v := range [][]float64{ly.AttnNorm, ly.AttnSubNorm, ly.FFNNorm, ly.FFNSubNorm} {
			round(v, 128)
		}
		for j, b := range bitnetLinears(ly) {
			b.Gamma = 1.0 / float64(int(16)>>(j%2))
		}
	}
	return m
}

func bitnetLinears(ly *reference.BitNetLayer) []*reference.BitLinear {
	return []*reference.BitLinear{ly.Q, ly.K, ly.V, ly.O, ly.Gate, ly.Up, ly.Down}
}

// exactMMFree is a small reference MatMul-free LM with the same
// exactness as exactBitNet (lower bounds stay arbitrary f32 values).
func exactMMFree(t testing.TB, seed uint64) *reference.MMFree {
	t.Helper()
	cfg := reference.SmallMMFreeConfig()
	cfg.Vocab = 768 // ≥ the 711 pieces of sp-mini
	m, err := reference.RandomMMFree(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	round := func(v []float64, q float64) {
		for i := range v {
			v[i] = math.Round(v[i]*q) / q
		}
	}
	round(m.Embed.Data, 256)
	round(m.Norm, 128)
	for i := range m.LowerBounds.Data {
		m.LowerBounds.Data[i] = float64(float32(m.LowerBounds.Data[i]))
	}
	k := 0
	for i := range m.Layers {
		ly := &m.Layers[i]
		round(ly.AttnNorm, 128)
		round(ly.GNorm, 128)
		round(ly.MLPNorm, 128)
		for _, b := range []*reference.BitLinear{ly.I, ly.F, ly.G, ly.O, ly.GateProj, ly.Down} {
			b.Gamma = 1.0 / float64(int(16)>>(k%2))
			round(b.Norm, 128)
			k++
		}
	}
	m.LMHead.Gamma = 1.0 / 32
	round(m.LMHead.Norm, 128)
	return m
}

func f32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func f16Bytes(v []float64) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], ternary.F32ToF16(float32(x)))
	}
	return b
}

// dense returns a BitLinear's effective weights γ·W.
func dense(b *reference.BitLinear) []float64 {
	out := make([]float64, len(b.W))
	for i, w := range b.W {
		out[i] = float64(w) * b.Gamma
	}
	return out
}

// encodeI2S writes bitnet.cpp I2_S (architectures.md §5.2): codes w+1 over
// the flattened tensor in blocks of bw weights (128 x86, 64 ARM), weight r of
// block b in byte (bw/4)·b + r%(bw/4) at shift 6 − 2·(r/(bw/4)); then a
// 32-byte tail whose first four bytes are γ (f32).
func encodeI2S(w []int8, gamma float32, bw int) []byte {
	g := bw / 4
	out := make([]byte, len(w)/4+32)
	for e, v := range w {
		b, r := e/bw, e%bw
		out[g*b+r%g] |= byte(v+1) << (6 - 2*(r/g))
	}
	binary.LittleEndian.PutUint32(out[len(w)/4:], math.Float32bits(gamma))
	return out
}

// encodeTQ2 writes llama.cpp TQ2_0 (§5.2): per 256-weight block, weight e in
// byte 32·(e/128) + e%32 at shift 2·((e%128)/32), then f16 d.
func encodeTQ2(w []int8, gamma float32) []byte {
	var out []byte
	for blk := 0; blk < len(w)/256; blk++ {
		b := make([]byte, 66)
		for e := range 256 {
			b[32*(e/128)+e%32] |= byte(w[blk*256+e]+1) << (2 * ((e % 128) / 32))
		}
		binary.LittleEndian.PutUint16(b[64:], ternary.F32ToF16(gamma))
		out = append(out, b...)
	}
	return out
}

// encodeTQ1 writes llama.cpp TQ1_0 (§5.2, GGML quantize_row_tq1_0_ref):
// base-3 digits, first element most significant, stored as ceil(q·256/243).
func encodeTQ1(w []int8, gamma float32) []byte {
	var out []byte
	fix := func(q int) byte { return byte((q*256 + 242) / 243) }
	for blk := 0; blk < len(w)/256; blk++ {
		x := w[blk*256 : (blk+1)*256]
		b := make([]byte, 54)
		for m := range 32 {
			q := 0
			for n := range 5 {
				q = q*3 + int(x[m+32*n]+1)
			}
			b[m] = fix(q)
		}
		for m := range 16 {
			q := 0
			for n := range 5 {
				q = q*3 + int(x[160+m+16*n]+1)
			}
			b[32+m] = fix(q)
		}
		for j := range 4 {
			q := 0
			for n := range 4 {
				q = q*3 + int(x[240+j+4*n]+1)
			}
			b[48+j] = fix(q * 3)
		}
		binary.LittleEndian.PutUint16(b[52:], ternary.F32ToF16(gamma))
		out = append(out, b...)
	}
	return out
}

// encodeHFPacked writes the HF BitNet packed form (§1.4 item 2): byte (r, i)
// of the [out/4, in] tensor holds in bits 2c..2c+1 the code of unpacked row
// c·(out/4) + r.
func encodeHFPacked(w []int8, out, in int) []byte {
	pr := out / 4
	b := make([]byte, pr*in)
	for row := range out {
		c, r := row/pr, row%pr
		for i := range in {
			b[r*in+i] |= byte(w[row*in+i]+1) << (2 * c)
		}
	}
	return b
}

// ggufTernary names the GGUF encodings of the BitNet test checkpoints.
type ggufTernary string

const (
	ggI2SX86 ggufTernary = "i2s-x86"
	ggI2SARM ggufTernary = "i2s-arm"
	ggTQ1    ggufTernary = "tq1"
	ggTQ2    ggufTernary = "tq2"
	ggF16    ggufTernary = "f16"
)

// hfTokenizerFile is the part of llama3-mini's tokenizer.json the GGUF
// metadata is built from.
type hfTokenizerFile struct {
	Model struct {
		Vocab  map[string]int  `json:"vocab"`
		Merges json.RawMessage `json:"merges"`
	} `json:"model"`
	AddedTokens []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
}

// addLlama3Tokenizer writes llama3-mini as GGUF tokenizer metadata
// (architectures.md §6.1), without tokenizer.ggml.pre as in the official
// 2B4T file.
func addLlama3Tokenizer(t testing.TB, w *ggufwrite.Writer) {
	t.Helper()
	b, err := os.ReadFile(llama3Mini)
	if err != nil {
		t.Fatal(err)
	}
	var f hfTokenizerFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	n := len(f.Model.Vocab) + len(f.AddedTokens)
	tokens := make([]string, n)
	types := make([]int32, n)
	for s, id := range f.Model.Vocab {
		tokens[id], types[id] = s, 1
	}
	bos, eos := -1, -1
	for _, a := range f.AddedTokens {
		tokens[a.ID], types[a.ID] = a.Content, 4
		if a.Special {
			types[a.ID] = 3
		}
		switch a.Content {
		case "<|begin_of_text|>":
			bos = a.ID
		case "<|end_of_text|>":
			eos = a.ID
		}
	}
	var merges []string
	if err := json.Unmarshal(f.Model.Merges, &merges); err != nil {
		merges = nil
		var pairs [][2]string
		if err := json.Unmarshal(f.Model.Merges, &pairs); err != nil {
			t.Fatal(err)
		}
		for _, p := range pairs {
			merges = append(merges, p[0]+" "+p[1])
		}
	}
	w.Add("tokenizer.ggml.model", "gpt2")
	w.Add("tokenizer.ggml.tokens", tokens)
	w.Add("tokenizer.ggml.scores", make([]float32, n))
	w.Add("tokenizer.ggml.token_type", types)
	w.Add("tokenizer.ggml.merges", merges)
	w.Add("tokenizer.ggml.bos_token_id", uint32(bos))
	w.Add("tokenizer.ggml.eos_token_id", uint32(eos))
	w.Add("tokenizer.ggml.add_bos_token", true)
	w.Add("tokenizer.chat_template", testChatTemplate)
}

const testChatTemplate = "{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n{{ message['content'] }}<|eot_id|>{% endfor %}"

// llamaGGUFRows permutes the rows of each head of a q or k projection as
// llama.cpp's LLaMA converter does for its interleaved RoPE (LlamaModel.permute:
// reshape(n_head, 2, hd/2, in).swapaxes(1, 2)): GGUF row h·hd + 2i + j
// holds HF row h·hd + j·hd/2 + i.
func llamaGGUFRows(t testing.TB, b *reference.BitLinear, hd int) *reference.BitLinear {
	t.Helper()
	w := make([]int8, len(b.W))
	for h := 0; h < b.Out/hd; h++ {
		for j := range 2 {
			for i := range hd / 2 {
				copy(w[(h*hd+2*i+j)*b.In:][:b.In], b.Row(h*hd+j*hd/2+i))
			}
		}
	}
	nb, err := reference.NewBitLinearTernary(b.Name, b.Out, b.In, w, b.Gamma)
	if err != nil {
		t.Fatal(err)
	}
	return nb
}

// writeBitNetGGUF writes m as a GGUF file of arch (bitnet-b1.58 by
// default) with its projections in enc; a model without sub-norms has no
// sub-norm tensors, an untied one an output.weight, and arch "llama" gets
// llama.cpp's q and k row order (llamaGGUFRows).
func writeBitNetGGUF(t testing.TB, path string, m *reference.BitNet, arch string, enc ggufTernary, tok bool) {
	t.Helper()
	c := m.Config
	w := &ggufwrite.Writer{}
	w.Add("general.architecture", arch)
	w.Add("general.name", "test")
	k := func(s string) string { return arch + "." + s }
	w.Add(k("vocab_size"), uint32(c.Vocab))
	w.Add(k("context_length"), uint32(256))
	w.Add(k("embedding_length"), uint32(c.Dim))
	w.Add(k("block_count"), uint32(c.Layers))
	w.Add(k("feed_forward_length"), uint32(c.FFN))
	w.Add(k("rope.dimension_count"), uint32(c.HeadDim))
	w.Add(k("attention.head_count"), uint32(c.Heads))
	w.Add(k("attention.head_count_kv"), uint32(c.KVHeads))
	w.Add(k("attention.layer_norm_rms_epsilon"), float32(c.Eps))
	w.Add(k("rope.freq_base"), float32(c.RopeTheta))
	if tok {
		addLlama3Tokenizer(t, w)
	}
	vec := func(name string, v []float64) {
		if v == nil { // a sub-norm of a model without them
			return
		}
		w.AddTensor(name, gguf.TypeF32, []uint64{uint64(len(v))}, ggufwrite.F32Bytes(f32s(v)))
	}
	lin := func(name string, b *reference.BitLinear) {
		if arch == "llama" && (strings.HasSuffix(name, "attn_q.weight") || strings.HasSuffix(name, "attn_k.weight")) {
			b = llamaGGUFRows(t, b, c.HeadDim)
		}
		dims := []uint64{uint64(b.In), uint64(b.Out)}
		g := float32(b.Gamma)
		switch enc {
		case ggI2SX86:
			w.AddTensor(name, gguf.TypeI2_S, dims, encodeI2S(b.W, g, 128))
		case ggI2SARM:
			w.AddTensor(name, gguf.TypeI2_S, dims, encodeI2S(b.W, g, 64))
		case ggTQ1:
			w.AddTensor(name, gguf.TypeTQ1_0, dims, encodeTQ1(b.W, g))
		case ggTQ2:
			w.AddTensor(name, gguf.TypeTQ2_0, dims, encodeTQ2(b.W, g))
		case ggF16:
			w.AddTensor(name, gguf.TypeF16, dims, f16Bytes(dense(b)))
		}
	}
	w.AddTensor("token_embd.weight", gguf.TypeF16, []uint64{uint64(c.Dim), uint64(c.Vocab)}, f16Bytes(m.Embed.Data))
	for l, ly := range m.Layers {
		p := func(s string) string { return fmt.Sprintf("blk.%d.%s", l, s) }
		vec(p("attn_norm.weight"), ly.AttnNorm)
		lin(p("attn_q.weight"), ly.Q)
		lin(p("attn_k.weight"), ly.K)
		lin(p("attn_v.weight"), ly.V)
		vec(p("attn_sub_norm.weight"), ly.AttnSubNorm)
		lin(p("attn_output.weight"), ly.O)
		vec(p("ffn_norm.weight"), ly.FFNNorm)
		lin(p("ffn_gate.weight"), ly.Gate)
		lin(p("ffn_up.weight"), ly.Up)
		vec(p("ffn_sub_norm.weight"), ly.FFNSubNorm)
		lin(p("ffn_down.weight"), ly.Down)
	}
	vec("output_norm.weight", m.Norm)
	if m.Output != nil {
		w.AddTensor("output.weight", gguf.TypeF16, []uint64{uint64(c.Dim), uint64(c.Vocab)}, f16Bytes(m.Output.Data))
	}
	if _, err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

// hfKind names the safetensors encodings of the BitNet test checkpoints.
type hfKind string

const (
	hfPacked hfKind = "packed" // 2B4T: U8 + BF16 weight_scale = 1/γ
	hfBF16   hfKind = "bf16"   // 2B4T bf16 master weights (already ternary×γ)
	hfLatent hfKind = "latent" // 1bitLLM f32 latent weights, absmean
)

// bitnetConfigJSON is config.json of a BitNet checkpoint; a model without
// sub-norms is a LLaMA-architecture fine-tune (LlamaForCausalLM, §1.1).
func bitnetConfigJSON(c reference.BitNetConfig, kind hfKind) map[string]any {
	act := "relu2"
	if c.Act == reference.ActSiLU {
		act = "silu"
	}
	cfg := map[string]any{
		"architectures": []string{"BitNetForCausalLM"}, "model_type": "bitnet",
		"vocab_size": c.Vocab, "hidden_size": c.Dim, "num_hidden_layers": c.Layers,
		"num_attention_heads": c.Heads, "num_key_value_heads": c.KVHeads, "intermediate_size": c.FFN,
		"rope_theta": c.RopeTheta, "rms_norm_eps": c.Eps, "hidden_act": act,
		"max_position_embeddings": 256, "tie_word_embeddings": c.TiedOutput,
		"bos_token_id": 658, "eos_token_id": 659, "rope_scaling": nil,
	}
	switch kind {
	case hfPacked:
		cfg["quantization_config"] = map[string]any{"quant_method": "bitnet", "linear_class": "bitlinear", "quantization_mode": "offline"}
	case hfLatent:
		cfg["architectures"], cfg["model_type"] = []string{"BitnetForCausalLM"}, "llama"
	}
	if !c.SubNorms {
		cfg["architectures"], cfg["model_type"] = []string{"LlamaForCausalLM"}, "llama"
	}
	return cfg
}

func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// stTensor is one tensor of a safetensors test checkpoint.
type stTensor struct {
	name  string
	dtype safetensors.DType
	shape []uint64
	data  []byte
}

// bitnetSafetensors lists m's tensors in the HF encoding kind (names of
// §1.4/§1.5: 2B4T spelling, or the 1bitLLM sub-norm names for hfLatent).
// For hfLatent the projections are replaced by latent weights, and m's
// BitLinears by their absmean ternarization, so m stays the truth.
func bitnetSafetensors(t testing.TB, m *reference.BitNet, kind hfKind, seed uint64) []stTensor {
	t.Helper()
	var out []stTensor
	rng := rand.New(rand.NewPCG(seed, 9))
	vec := func(name string, v []float64) {
		if v == nil { // a sub-norm of a model without them
			return
		}
		out = append(out, stTensor{name, safetensors.F32, []uint64{uint64(len(v))}, stwrite.F32Bytes(f32s(v))})
	}
	lin := func(name string, b **reference.BitLinear) {
		bl := *b
		shape := []uint64{uint64(bl.Out), uint64(bl.In)}
		switch kind {
		case hfPacked:
			out = append(out, stTensor{name + ".weight", safetensors.U8, []uint64{uint64(bl.Out / 4), uint64(bl.In)}, encodeHFPacked(bl.W, bl.Out, bl.In)},
				stTensor{name + ".weight_scale", safetensors.BF16, []uint64{1}, stwrite.BF16Bytes([]float32{float32(1 / bl.Gamma)})})
		case hfBF16:
			out = append(out, stTensor{name + ".weight", safetensors.BF16, shape, stwrite.BF16Bytes(f32s(dense(bl)))})
		case hfLatent:
			lat := make([]float64, bl.Out*bl.In)
			for i := range lat {
				lat[i] = float64(float32(rng.NormFloat64() * 0.02))
			}
			nb, err := reference.NewBitLinearLatent(bl.Name, bl.Out, bl.In, lat)
			if err != nil {
				t.Fatal(err)
			}
			*b = nb
			out = append(out, stTensor{name + ".weight", safetensors.F32, shape, stwrite.F32Bytes(f32s(lat))})
		}
	}
	out = append(out, stTensor{"model.embed_tokens.weight", safetensors.BF16, []uint64{uint64(m.Config.Vocab), uint64(m.Config.Dim)}, stwrite.BF16Bytes(f32s(m.Embed.Data))})
	attnSub, ffnSub := "self_attn.attn_sub_norm.weight", "mlp.ffn_sub_norm.weight"
	if kind == hfLatent {
		attnSub, ffnSub = "self_attn.inner_attn_ln.weight", "mlp.ffn_layernorm.weight"
	}
	for l := range m.Layers {
		ly := &m.Layers[l]
		p := func(s string) string { return fmt.Sprintf("model.layers.%d.%s", l, s) }
		vec(p("input_layernorm.weight"), ly.AttnNorm)
		lin(p("self_attn.q_proj"), &ly.Q)
		lin(p("self_attn.k_proj"), &ly.K)
		lin(p("self_attn.v_proj"), &ly.V)
		lin(p("self_attn.o_proj"), &ly.O)
		vec(p(attnSub), ly.AttnSubNorm)
		vec(p("post_attention_layernorm.weight"), ly.FFNNorm)
		lin(p("mlp.gate_proj"), &ly.Gate)
		lin(p("mlp.up_proj"), &ly.Up)
		lin(p("mlp.down_proj"), &ly.Down)
		vec(p(ffnSub), ly.FFNSubNorm)
	}
	vec("model.norm.weight", m.Norm)
	if m.Output != nil {
		out = append(out, stTensor{"lm_head.weight", safetensors.BF16, []uint64{uint64(m.Config.Vocab), uint64(m.Config.Dim)}, stwrite.BF16Bytes(f32s(m.Output.Data))})
	}
	return out
}

// writeHFDir writes a Hugging Face directory: config.json, the tokenizer
// files, and the tensors as model.safetensors or, with shards > 1, as
// model-0000i-of-0000n.safetensors plus model.safetensors.index.json.
func writeHFDir(t testing.TB, dir string, cfg map[string]any, ts []stTensor, shards int, tokenizerFile string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeJSON(t, filepath.Join(dir, "config.json"), cfg)
	if tokenizerFile != "" {
		copyFile(t, tokenizerFile, filepath.Join(dir, filepath.Base(tokenizerFile)))
		writeJSON(t, filepath.Join(dir, "tokenizer_config.json"), map[string]any{"chat_template": testChatTemplate})
	}
	if shards <= 1 {
		w := &stwrite.Writer{}
		for _, x := range ts {
			w.Add(x.name, x.dtype, x.shape, x.data)
		}
		if err := w.WriteFile(filepath.Join(dir, "model.safetensors")); err != nil {
			t.Fatal(err)
		}
		return
	}
	wm := map[string]string{}
	per := (len(ts) + shards - 1) / shards
	for s := range shards {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", s+1, shards)
		w := &stwrite.Writer{}
		for _, x := range ts[s*per : min(len(ts), (s+1)*per)] {
			w.Add(x.name, x.dtype, x.shape, x.data)
			wm[x.name] = name
		}
		if err := w.WriteFile(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := stwrite.WriteIndex(filepath.Join(dir, "model.safetensors.index.json"), wm, map[string]any{"total_size": 0}); err != nil {
		t.Fatal(err)
	}
}

// mmfreeSafetensors lists m's tensors as the f32 HGRN-bit checkpoint of
// §2.6 (projections already ternary×γ, so the guard keeps them).
func mmfreeSafetensors(m *reference.MMFree) []stTensor {
	var out []stTensor
	vec := func(name string, v []float64) {
		out = append(out, stTensor{name, safetensors.F32, []uint64{uint64(len(v))}, stwrite.F32Bytes(f32s(v))})
	}
	lin := func(name string, b *reference.BitLinear) {
		out = append(out, stTensor{name + ".weight", safetensors.F32, []uint64{uint64(b.Out), uint64(b.In)}, stwrite.F32Bytes(f32s(dense(b)))})
		vec(name+".norm.weight", b.Norm)
	}
	c := m.Config
	out = append(out, stTensor{"model.embeddings.weight", safetensors.F32, []uint64{uint64(c.Vocab), uint64(c.Dim)}, stwrite.F32Bytes(f32s(m.Embed.Data))},
		stTensor{"model.lower_bounds", safetensors.F32, []uint64{uint64(c.Layers), uint64(c.Dim)}, stwrite.F32Bytes(f32s(m.LowerBounds.Data))})
	for l, ly := range m.Layers {
		p := func(s string) string { return fmt.Sprintf("model.layers.%d.%s", l, s) }
		vec(p("attn_norm.weight"), ly.AttnNorm)
		lin(p("attn.i_proj"), ly.I)
		lin(p("attn.f_proj"), ly.F)
		lin(p("attn.g_proj"), ly.G)
		lin(p("attn.o_proj"), ly.O)
		vec(p("attn.g_norm.weight"), ly.GNorm)
		vec(p("mlp_norm.weight"), ly.MLPNorm)
		lin(p("mlp.gate_proj"), ly.GateProj)
		lin(p("mlp.down_proj"), ly.Down)
	}
	vec("model.norm.weight", m.Norm)
	lin("lm_head", m.LMHead)
	return out
}

func mmfreeConfigJSON(c reference.MMFreeConfig) map[string]any {
	return map[string]any{
		"architectures": []string{"HGRNBitForCausalLM"}, "model_type": "hgrn_bit",
		"vocab_size": c.Vocab, "hidden_size": c.Dim, "num_hidden_layers": c.Layers, "intermediate_size": c.FFN,
		"attn_mode": "fused_recurrent", "num_heads": 1, "expand_ratio": 1, "use_short_conv": false,
		"use_lower_bound": true, "hidden_ratio": 4, "hidden_act": "swish", "rms_norm_eps": c.Eps,
		"tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2,
	}
}

func readAll(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// noTemp fails if dir holds anything but the listed names.
func onlyFiles(t testing.TB, dir string, want ...string) {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Name())
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s holds %s, want %s", dir, strings.Join(got, ", "), strings.Join(want, ", "))
	}
}
