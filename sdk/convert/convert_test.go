package convert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/mmapmodel/gguf"
	"github.com/speakez/barewire/mmapmodel/gguf/ggufwrite"
	"github.com/speakez/barewire/mmapmodel/safetensors/stwrite"
	"github.com/speakez/barewire/mmapmodel/ternary"
	"github.com/speakez/barewire/sdk"
	"github.com/speakez/barewire/sdk/internal/reference"
	"github.com/speakez/barewire/sdk/tokenizer"
	"github.com/speakez/barewire/simd"
)

func prompt(n, vocab int, seed uint64) []int {
	r := rand.New(rand.NewPCG(seed, 1))
	p := make([]int, n)
	for i := range p {
		p[i] = r.IntN(vocab)
	}
	return p
}

// checkLogits opens path with the runtime and compares its logits over a
// prompt with the reference's, at tol times the logit range, and, when
// greedy is set, 12 greedy tokens.
func checkLogits(t *testing.T, path string, vocab int, forward func([]int) [][]float64, greedy func([]int, int) []int, tol float64) {
	t.Helper()
	m, err := sdk.Open(path, sdk.WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := m.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p := prompt(10, vocab, 5)
	var got [][]float32
	if err := s.ForwardEach(ctx, p, func(_ int, l []float32) { got = append(got, slices.Clone(l)) }); err != nil {
		t.Fatal(err)
	}
	want := forward(p)
	worst := 0.0
	for i := range p {
		lo, hi, diff := math.Inf(1), math.Inf(-1), 0.0
		for j, w := range want[i] {
			lo, hi = min(lo, w), max(hi, w)
			diff = max(diff, math.Abs(float64(got[i][j])-w))
		}
		worst = max(worst, diff/(hi-lo))
	}
	if worst > tol {
		t.Fatalf("%s: logits differ from the reference by %.3g of the logit range (tolerance %g)", filepath.Base(path), worst, tol)
	}
	t.Logf("%s: largest logit difference %.2g of the range", filepath.Base(path), worst)
	if greedy == nil {
		return
	}
	wantTok := greedy(p, 12)
	s.Reset()
	var gotTok []int
	for tok, err := range s.Generate(ctx, p, sdk.GenerateOptions{MaxTokens: 12, IgnoreEOS: true}) {
		if err != nil {
			t.Fatal(err)
		}
		gotTok = append(gotTok, tok.ID)
	}
	if !slices.Equal(gotTok, wantTok) {
		t.Fatalf("greedy tokens\n got %v\nwant %v", gotTok, wantTok)
	}
}

// logitTol is the tolerance of the BitNet logit comparisons, as a
// fraction of the logit range. The runtime computes in float32 and the
// reference in float64, so now and then an activation lands on the other
// side of a rounding boundary of the int8 quantizer and one code differs;
// through attention that moves later logits by a percent or two of the
// range. With the test shapes this happens for seed 21 (1.9%) and not for
// seeds 22 and 23 (1.3e-7), whatever the KV heads, activation and θ, so it
// is rounding, not a difference of graph. The weights themselves are
// compared exactly by checkBitNetWeights.
const logitTol = 0.05

// checkBitNetWeights compares every tensor of a converted BitNet file with
// the reference exactly: ternary values and γ, norm weights, and (f16 head)
// the embedding.
func checkBitNetWeights(t *testing.T, path string, ref *reference.BitNet, ternaryDType mmapmodel.DType) {
	t.Helper()
	f, err := mmapmodel.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tensor := func(name string) *mmapmodel.Tensor {
		x, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	vec := func(name string, want []float64) {
		if want == nil { // a sub-norm of a model without them
			if _, err := f.Tensor(name); err == nil {
				t.Fatalf("%s present in a model without sub-norms", name)
			}
			return
		}
		v, err := mmapmodel.NewView[float32](tensor(name))
		if err != nil {
			t.Fatal(err)
		}
		defer v.Release()
		for i, w := range want {
			if v.Data()[i] != float32(w) {
				t.Fatalf("%s[%d] = %v, want %v", name, i, v.Data()[i], w)
			}
		}
	}
	lin := func(b *reference.BitLinear) {
		x := tensor(b.Name + ".weight")
		if x.DType != ternaryDType || x.Scale != float32(b.Gamma) {
			t.Fatalf("%s: %s scale %v, want %s scale %v", b.Name, x.DType, x.Scale, ternaryDType, b.Gamma)
		}
		m, err := mmapmodel.NewTernaryMatrix(x)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Release()
		row := make([]int8, b.In)
		data, rb := m.Data(), int(m.RowBytes)
		for r := range b.Out {
			if x.DType == mmapmodel.T2 {
				simd.UnpackI2B128(row, data[r*rb:(r+1)*rb], b.In)
			} else {
				simd.UnpackT5B160(row, data[r*rb:(r+1)*rb], b.In)
			}
			if !slices.Equal(row, b.Row(r)) {
				t.Fatalf("%s row %d differs", b.Name, r)
			}
		}
	}
	for l := range ref.Layers {
		ly := &ref.Layers[l]
		p := func(s string) string { return fmt.Sprintf("model.layers.%d.%s", l, s) }
		vec(p("input_layernorm.weight"), ly.AttnNorm)
		vec(p("self_attn.attn_sub_norm.weight"), ly.AttnSubNorm)
		vec(p("post_attention_layernorm.weight"), ly.FFNNorm)
		vec(p("mlp.ffn_sub_norm.weight"), ly.FFNSubNorm)
		for _, b := range bitnetLinears(ly) {
			lin(b)
		}
	}
	vec("model.norm.weight", ref.Norm)
	if e := tensor("model.embed_tokens.weight"); e.DType == mmapmodel.F16 {
		v, err := mmapmodel.NewView[mmapmodel.Float16](e)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Release()
		for i, w := range ref.Embed.Data {
			if ternary.F16ToF32(uint16(v.Data()[i])) != float32(w) {
				t.Fatalf("embedding element %d = %v, want %v", i, ternary.F16ToF32(uint16(v.Data()[i])), w)
			}
		}
	}
}

func bitnetForward(m *reference.BitNet) (func([]int) [][]float64, func([]int, int) []int) {
	return func(p []int) [][]float64 { return m.NewSession(reference.Quantized).Forward(p) },
		func(p []int, n int) []int { return m.NewSession(reference.Quantized).Greedy(p, n) }
}

func convert(t *testing.T, in, out string, o Options) *Summary {
	t.Helper()
	s, err := Convert(context.Background(), in, out, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBitNetEveryContainer converts the same reference BitNet (2B4T
// shape: GQA, ReLU², sub-norms) from each container and encoding, checks
// logits and greedy tokens against the reference, and checks which outputs
// are byte-identical.
func TestBitNetEveryContainer(t *testing.T) {
	ref := exactBitNet(t, "2B4T", 21)
	dir := t.TempDir()
	fwd, greedy := bitnetForward(ref)
	outs := map[string][]byte{}
	for _, c := range []struct {
		name   string
		enc    ggufTernary
		layout string
	}{{"i2s-x86", ggI2SX86, "x86"}, {"i2s-arm", ggI2SARM, "arm"}, {"tq1", ggTQ1, ""}, {"tq2", ggTQ2, ""}, {"f16", ggF16, ""}} {
		in := filepath.Join(dir, c.name+".gguf")
		writeBitNetGGUF(t, in, ref, "bitnet-b1.58", c.enc, true)
		out := filepath.Join(dir, "gguf-"+c.name+".bwm")
		s := convert(t, in, out, Options{Head: HeadF16, I2SLayout: c.layout})
		if s.Arch != sdk.ArchBitNet || s.Container != "gguf" || s.BitsPerWeight != 2 {
			t.Fatalf("%s: summary %+v", c.name, s)
		}
		checkBitNetWeights(t, out, ref, mmapmodel.T2)
		checkLogits(t, out, ref.Config.Vocab, fwd, greedy, logitTol)
		outs["gguf-"+c.name] = readAll(t, out)
	}
	packed := bitnetSafetensors(t, ref, hfPacked, 0)
	for _, c := range []struct {
		name   string
		kind   hfKind
		shards int
	}{{"packed", hfPacked, 1}, {"bf16", hfBF16, 1}, {"packed-sharded", hfPacked, 3}} {
		d := filepath.Join(dir, c.name)
		ts := packed
		if c.kind != hfPacked {
			ts = bitnetSafetensors(t, ref, c.kind, 0)
		}
		writeHFDir(t, d, bitnetConfigJSON(ref.Config, c.kind), ts, c.shards, llama3Mini)
		in := d
		if c.shards > 1 {
			in = filepath.Join(d, "model.safetensors.index.json")
		}
		out := filepath.Join(dir, "hf-"+c.name+".bwm")
		s := convert(t, in, out, Options{Head: HeadF16})
		if s.Container != "safetensors" || s.Tokenizer == "" {
			t.Fatalf("%s: summary %+v", c.name, s)
		}
		checkBitNetWeights(t, out, ref, mmapmodel.T2)
		checkLogits(t, out, ref.Config.Vocab, fwd, greedy, logitTol)
		outs["hf-"+c.name] = readAll(t, out)
	}
	// The single file itself (config.json beside it), and the packed form
	// with linear_class autobitlinear, whose weight_scale is γ itself.
	convert(t, filepath.Join(dir, "packed", "model.safetensors"), filepath.Join(dir, "hf-file.bwm"), Options{Head: HeadF16})
	outs["hf-file"] = readAll(t, filepath.Join(dir, "hf-file.bwm"))
	auto := bitnetConfigJSON(ref.Config, hfPacked)
	auto["quantization_config"] = map[string]any{"quant_method": "bitnet", "linear_class": "autobitlinear"}
	var direct []stTensor
	for _, x := range packed {
		if strings.HasSuffix(x.name, ".weight_scale") {
			inv := ternary.BF16ToF32(uint16(x.data[0]) | uint16(x.data[1])<<8)
			x.data = stwrite.BF16Bytes([]float32{1 / inv})
		}
		direct = append(direct, x)
	}
	writeHFDir(t, filepath.Join(dir, "auto"), auto, direct, 1, llama3Mini)
	convert(t, filepath.Join(dir, "auto"), filepath.Join(dir, "hf-auto.bwm"), Options{Head: HeadF16})
	outs["hf-auto"] = readAll(t, filepath.Join(dir, "hf-auto.bwm"))

	// The same ternary values and scales (γ a power of two, so exact as
	// I2_S f32, TQ f16, bf16 1/γ and bf16 γ·W), the same norms and
	// embedding, the same tokenizer and chat template: every container
	// and encoding gives the same file, byte for byte — GGUF I2_S (both
	// layouts), TQ1_0, TQ2_0 and F16, and HF packed (bitlinear and
	// autobitlinear), bf16 master weights, one file, and a sharded index.
	names := slices.Sorted(maps.Keys(outs))
	for _, n := range names {
		if !bytes.Equal(outs[names[0]], outs[n]) {
			t.Errorf("%s and %s differ", names[0], n)
		}
	}
	// On a difference, name the tensors that differ.
	a, err := mmapmodel.Open(filepath.Join(dir, "gguf-tq2.bwm"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := mmapmodel.Open(filepath.Join(dir, "hf-packed.bwm"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !slices.Equal(a.Params(), b.Params()) || len(a.Tensors()) != len(b.Tensors()) {
		t.Fatalf("gguf params %v, %d tensors; hf params %v, %d tensors", a.Params(), len(a.Tensors()), b.Params(), len(b.Tensors()))
	}
	for _, ta := range a.Tensors() {
		tb, err := b.Tensor(ta.Name)
		if err != nil {
			t.Fatal(err)
		}
		if ta.CRC != tb.CRC || ta.Scale != tb.Scale || ta.DType != tb.DType {
			t.Errorf("tensor %q: gguf %s crc %08x scale %v, hf %s crc %08x scale %v", ta.Name, ta.DType, ta.CRC, ta.Scale, tb.DType, tb.CRC, tb.Scale)
		}
	}
}

// TestTokenizerCarried checks the tokenizer from GGUF metadata against the
// one from tokenizer.json, the stop tokens and the chat template.
func TestTokenizerCarried(t *testing.T) {
	ref := exactBitNet(t, "2B4T", 22)
	dir := t.TempDir()
	in := filepath.Join(dir, "m.gguf")
	writeBitNetGGUF(t, in, ref, "bitnet-b1.58", ggTQ2, true)
	out := filepath.Join(dir, "m.bwm")
	convert(t, in, out, Options{})
	m, err := sdk.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tk := m.Tokenizer()
	want, err := tokenizer.FromTokenizerJSON(readAll(t, llama3Mini))
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"Hello world", "The quick brown fox, 12345 times!", "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"} {
		g, w := tk.Encode(text, tokenizer.EncodeOptions{}), want.Encode(text, tokenizer.EncodeOptions{})
		if !slices.Equal(g, w) {
			t.Errorf("%q: GGUF tokenizer gives %v, tokenizer.json %v", text, g, w)
		}
	}
	if tk.BOS() != 658 || tk.EOS() != 659 || !tk.IsStop(662) || !tk.IsSpecial(660) || !tk.AddsBOSByDefault() {
		t.Errorf("BOS %d EOS %d, stops %v, want 658, 659 and <|eot_id|> 662", tk.BOS(), tk.EOS(), tk.StopIDs())
	}
	ct, err := m.File().Tensor(TensorChatTemplate)
	if err != nil {
		t.Fatal(err)
	}
	v, err := mmapmodel.NewView[uint8](ct)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Release()
	if string(v.Data()) != testChatTemplate {
		t.Errorf("chat template %q", v.Data())
	}
}

// Test1bitLLMLatent converts f32 latent weights with the 1bitLLM names
// (inner_attn_ln, ffn_layernorm; SiLU, MHA), ternarized by absmean.
func Test1bitLLMLatent(t *testing.T) {
	ref := exactBitNet(t, "1bitLLM", 23)
	dir := t.TempDir()
	ts := bitnetSafetensors(t, ref, hfLatent, 4) // replaces ref's BitLinears by their absmean form
	writeHFDir(t, filepath.Join(dir, "ckpt"), bitnetConfigJSON(ref.Config, hfLatent), ts, 1, llama3Mini)
	out := filepath.Join(dir, "m.bwm")
	s := convert(t, filepath.Join(dir, "ckpt"), out, Options{Head: HeadF16})
	if !strings.Contains(s.Model, "1bitLLM") || !strings.Contains(s.Model, "silu") {
		t.Fatalf("model %q", s.Model)
	}
	checkBitNetWeights(t, out, ref, mmapmodel.T2)
	fwd, greedy := bitnetForward(ref)
	checkLogits(t, out, ref.Config.Vocab, fwd, greedy, logitTol)
}

// TestLlamaFineTune converts a LLaMA-architecture 1.58-bit fine-tune
// (architectures.md §1.1: Llama3-8B-1.58, Falcon3-1.58bit — no sub-norms,
// SiLU, grouped KV heads, untied head) from GGUF arch "llama" (q and k rows
// in llama.cpp's order) and from the HF packed checkpoint, and checks the
// weights, logits and greedy tokens against the reference without
// sub-norms, and that every input gives the same file.
func TestLlamaFineTune(t *testing.T) {
	cfg, err := reference.SmallBitNetConfig("1bitLLM")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Name, cfg.Vocab, cfg.Dim, cfg.HeadDim, cfg.FFN = "small-llama-1.58", testVocab, 256, 64, 512
	cfg.KVHeads, cfg.RopeTheta, cfg.SubNorms, cfg.TiedOutput = 2, 500000, false, false
	ref := exactBitNetConfig(t, cfg, 25)
	fwd, greedy := bitnetForward(ref)
	dir := t.TempDir()
	outs := map[string][]byte{}
	check := func(name, in string, o Options, container string) {
		t.Helper()
		out := filepath.Join(dir, name+".bwm")
		o.Head = HeadF16
		s := convert(t, in, out, o)
		if s.Arch != sdk.ArchBitNet || s.Container != container || !strings.Contains(s.Model, "LLaMA-architecture") || !strings.Contains(s.Model, "silu") {
			t.Fatalf("%s: summary %+v", name, s)
		}
		if !slices.Contains(s.Params, mmapmodel.IntParam("sub_norms", 0)) {
			t.Fatalf("%s: parameters %v lack sub_norms = 0", name, s.Params)
		}
		checkBitNetWeights(t, out, ref, mmapmodel.T2)
		checkLogits(t, out, ref.Config.Vocab, fwd, greedy, logitTol)
		outs[name] = readAll(t, out)
	}
	for _, c := range []struct {
		name   string
		enc    ggufTernary
		layout string
	}{{"i2s-x86", ggI2SX86, "x86"}, {"i2s-arm", ggI2SARM, "arm"}, {"tq1", ggTQ1, ""}, {"tq2", ggTQ2, ""}} {
		in := filepath.Join(dir, c.name+".gguf")
		writeBitNetGGUF(t, in, ref, "llama", c.enc, true)
		check("gguf-"+c.name, in, Options{I2SLayout: c.layout}, "gguf")
	}
	hf := filepath.Join(dir, "hf")
	writeHFDir(t, hf, bitnetConfigJSON(ref.Config, hfPacked), bitnetSafetensors(t, ref, hfPacked, 0), 1, llama3Mini)
	check("hf-packed", hf, Options{}, "safetensors")
	names := slices.Sorted(maps.Keys(outs))
	for _, n := range names {
		if !bytes.Equal(outs[names[0]], outs[n]) {
			t.Errorf("%s and %s differ", names[0], n)
		}
	}
}

// TestMMFree converts an f32 HGRN-bit checkpoint with a SentencePiece
// tokenizer.model.
func TestMMFree(t *testing.T) {
	ref := exactMMFree(t, 24)
	dir := t.TempDir()
	writeHFDir(t, filepath.Join(dir, "ckpt"), mmfreeConfigJSON(ref.Config), mmfreeSafetensors(ref), 1, spMini)
	for _, head := range []HeadFormat{HeadF16, HeadInt8} {
		out := filepath.Join(dir, string(head)+".bwm")
		s := convert(t, filepath.Join(dir, "ckpt"), out, Options{Head: head})
		if s.Arch != sdk.ArchMMFree || !strings.Contains(s.Tokenizer, "tokenizer.model") {
			t.Fatalf("summary %+v", s)
		}
		// The f16 embedding holds the reference's values exactly. The int8
		// one rounds each looked-up row to 1/254 of its largest value,
		// which moves the logits by a few percent of their range.
		tol := 1e-4
		if head == HeadInt8 {
			tol = 0.1
		}
		checkLogits(t, out, ref.Config.Vocab,
			func(p []int) [][]float64 { return ref.NewSession(reference.Quantized).Forward(p) },
			func(p []int, n int) []int { return ref.NewSession(reference.Quantized).Greedy(p, n) }, tol)
	}
}

// TestInt8HeadAndT16 checks the default int8 embedding/head and the t1.6
// ternary form: int8 rows with max|w|/127 scales, and t1.6 logits equal to
// t2 logits bit for bit (same ternary values, same integer dot products).
func TestInt8HeadAndT16(t *testing.T) {
	ref := exactBitNet(t, "2B4T", 25)
	dir := t.TempDir()
	in := filepath.Join(dir, "m.gguf")
	writeBitNetGGUF(t, in, ref, "bitnet-b1.58", ggTQ2, true)
	t2, t16 := filepath.Join(dir, "t2.bwm"), filepath.Join(dir, "t16.bwm")
	convert(t, in, t2, Options{})
	checkBitNetWeights(t, t2, ref, mmapmodel.T2)
	s, err := Convert(context.Background(), in, t16, Options{Ternary: Ternary16})
	if err != nil {
		t.Fatal(err)
	}
	checkBitNetWeights(t, t16, ref, mmapmodel.T16)
	// 1.6 bits per weight plus the row padding to whole 160-weight blocks.
	f16, err := mmapmodel.Open(t16)
	if err != nil {
		t.Fatal(err)
	}
	var packed, weights int64
	for _, tn := range f16.Tensors() {
		if tn.DType == mmapmodel.T16 {
			packed += int64(tn.Length)
			weights += int64(tn.NumElems())
		}
	}
	f16.Close()
	if want := 8 * float64(packed) / float64(weights); weights == 0 || s.BitsPerWeight != want {
		t.Fatalf("t1.6: summary says %v bits per weight, the file holds %v", s.BitsPerWeight, want)
	}
	f, err := mmapmodel.Open(t2)
	if err != nil {
		t.Fatal(err)
	}
	emb, err := f.Tensor("model.embed_tokens.weight")
	if err != nil || emb.DType != mmapmodel.I8 {
		t.Fatalf("embedding %v %v", emb, err)
	}
	v, err := mmapmodel.NewInt8Matrix(emb)
	if err != nil {
		t.Fatal(err)
	}
	for r := range 3 {
		row := ref.Embed.Data[r*ref.Config.Dim : (r+1)*ref.Config.Dim]
		var mx float64
		for _, x := range row {
			mx = max(mx, math.Abs(x))
		}
		if got, want := v.Scales()[r], float32(mx)/127; got != want {
			t.Fatalf("row %d scale %v, want %v", r, got, want)
		}
		for i, x := range row {
			want := int8(math.RoundToEven(float64(float32(x)) / float64(float32(mx)/127)))
			if got := v.Data()[r*ref.Config.Dim+i]; got != want {
				t.Fatalf("row %d col %d: %d, want %d", r, i, got, want)
			}
		}
	}
	v.Release()
	f.Close()
	fwd, _ := bitnetForward(ref)
	checkLogits(t, t2, ref.Config.Vocab, fwd, nil, 0.05)
	logits := func(path string) []float32 {
		m, err := sdk.Open(path, sdk.WithThreads(1))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		s, _ := m.NewSession()
		l, err := s.Forward(context.Background(), prompt(8, 600, 2))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if !slices.Equal(logits(t2), logits(t16)) {
		t.Fatal("t1.6 and t2 logits differ")
	}
}

// TestI2SLayout: without the flag a 128-divisible I2_S file is refused
// with a message naming the flag; a tensor whose size proves the ARM layout
// settles it for the whole file.
func TestI2SLayout(t *testing.T) {
	ref := exactBitNet(t, "2B4T", 26)
	dir := t.TempDir()
	in := filepath.Join(dir, "m.gguf")
	writeBitNetGGUF(t, in, ref, "bitnet-b1.58", ggI2SX86, false)
	out := filepath.Join(dir, "m.bwm")
	_, err := Convert(context.Background(), in, out, Options{})
	if !errors.Is(err, ternary.ErrAmbiguousLayout) || !strings.Contains(err.Error(), "--i2s-layout x86") || !strings.Contains(err.Error(), "blk.0.attn_q.weight") {
		t.Fatalf("err = %v", err)
	}
	onlyFiles(t, dir, "m.gguf")

	// With 16 heads of width 2 and one KV head, k_proj holds 2×32 = 64
	// weights: a multiple of 64 but not of 128, which only the ARM build
	// writes, so the file's layout is proven without the flag.
	cfg, _ := reference.SmallBitNetConfig("2B4T")
	cfg.Vocab, cfg.Heads, cfg.KVHeads, cfg.HeadDim = 64, 16, 1, 2
	small := exactBitNetConfig(t, cfg, 3)
	in2 := filepath.Join(dir, "arm.gguf")
	writeBitNetGGUF(t, in2, small, "bitnet-b1.58", ggI2SARM, false)
	out2 := filepath.Join(dir, "arm.bwm")
	s, err := Convert(context.Background(), in2, out2, Options{Head: HeadF16})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(s.Notes, func(n string) bool { return strings.Contains(n, "I2_S layout arm") }) {
		t.Fatalf("notes %q", s.Notes)
	}
	fwd, greedy := bitnetForward(small)
	checkBitNetWeights(t, out2, small, mmapmodel.T2)
	checkLogits(t, out2, small.Config.Vocab, fwd, greedy, logitTol)
	// Naming the x86 layout for it is refused: 64 weights are half an x86 block.
	_, err = Convert(context.Background(), in2, filepath.Join(dir, "x86.bwm"), Options{I2SLayout: "x86"})
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "blk.0.attn_k.weight") {
		t.Fatalf("err = %v", err)
	}
	onlyFiles(t, dir, "m.gguf", "arm.gguf", "arm.bwm")
}

// TestRefusals: unknown architectures and tensors (a llama file with
// BitNet sub-norms, which llama.cpp's llama graph would not apply), RoPE
// scaling, wrong shapes and non-uniform TQ scales are refused before the
// output exists, with messages naming what is wrong.
func TestRefusals(t *testing.T) {
	ref := exactBitNet(t, "2B4T", 27)
	for _, c := range []struct {
		name   string
		edit   func(w *ggufwrite.Writer) *ggufwrite.Writer
		is     error
		substr string
	}{
		{"unknown arch", func(w *ggufwrite.Writer) *ggufwrite.Writer { return rewriteArch(t, w, "gpt2") }, ErrUnknownArch, `"gpt2"`},
		{"llama with sub-norms", func(w *ggufwrite.Writer) *ggufwrite.Writer { return rewriteArch(t, w, "llama") }, ErrUnknownTensor, `"blk.0.attn_sub_norm.weight"`},
		{"llama rope scaling", func(w *ggufwrite.Writer) *ggufwrite.Writer {
			return rewriteArch(t, w, "llama").AddTensor("rope_freqs.weight", gguf.TypeF32, []uint64{32}, make([]byte, 128))
		}, ErrUnsupported, `"rope_freqs.weight"`},
		{"llama rope scaling type", func(w *ggufwrite.Writer) *ggufwrite.Writer {
			return rewriteArch(t, w, "llama").Add("llama.rope.scaling.type", "linear")
		}, ErrUnsupported, `"linear"`},
		{"unknown tensor", func(w *ggufwrite.Writer) *ggufwrite.Writer {
			return w.AddTensor("blk.0.attn_q.bias", gguf.TypeF32, []uint64{32}, make([]byte, 128))
		}, ErrUnknownTensor, `"blk.0.attn_q.bias"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "m.gguf")
			writeBitNetGGUFEdit(t, in, ref, c.edit)
			_, err := Convert(context.Background(), in, filepath.Join(dir, "out.bwm"), Options{})
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.substr) {
				t.Fatalf("err = %v, want %v naming %s", err, c.is, c.substr)
			}
			onlyFiles(t, dir, "m.gguf")
		})
	}
}

// writeBitNetGGUFEdit writes the TQ2_0 test GGUF after edit has changed
// its writer.
func writeBitNetGGUFEdit(t *testing.T, path string, m *reference.BitNet, edit func(*ggufwrite.Writer) *ggufwrite.Writer) {
	t.Helper()
	tmp := path + ".base"
	writeBitNetGGUF(t, tmp, m, "bitnet-b1.58", ggTQ2, false)
	defer os.Remove(tmp)
	w := ggufFromFile(t, tmp)
	w = edit(w)
	if _, err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

// ggufFromFile rebuilds a writer holding a file's scalar keys (string,
// float32, unsigned) and its tensors; the test files it reads have no arrays.
func ggufFromFile(t *testing.T, path string) *ggufwrite.Writer {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &ggufwrite.Writer{}
	for _, kv := range f.KVs() {
		v := kv.Value
		switch v.Type() {
		case gguf.String:
			s, _ := v.Str()
			w.Add(kv.Key, s)
		case gguf.Float32:
			x, _ := v.Float()
			w.Add(kv.Key, float32(x))
		default:
			x, _ := v.Uint()
			w.Add(kv.Key, uint32(x))
		}
	}
	for _, ti := range f.Tensors() {
		b, err := f.TensorData(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		w.AddTensor(ti.Name, ti.Type, ti.Dims, slices.Clone(b))
	}
	return w
}

// rewriteArch renames general.architecture and every arch key.
func rewriteArch(t *testing.T, w *ggufwrite.Writer, arch string) *ggufwrite.Writer {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "x.gguf")
	if _, err := w.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	nw := &ggufwrite.Writer{}
	for _, kv := range f.KVs() {
		key := kv.Key
		if rest, ok := strings.CutPrefix(key, "bitnet-b1.58."); ok {
			key = arch + "." + rest
		}
		v := kv.Value
		switch v.Type() {
		case gguf.String:
			s, _ := v.Str()
			if key == "general.architecture" {
				s = arch
			}
			nw.Add(key, s)
		case gguf.Float32:
			x, _ := v.Float()
			nw.Add(key, float32(x))
		default:
			x, _ := v.Uint()
			nw.Add(key, uint32(x))
		}
	}
	for _, ti := range f.Tensors() {
		b, _ := f.TensorData(ti.Name)
		nw.AddTensor(ti.Name, ti.Type, ti.Dims, slices.Clone(b))
	}
	return nw
}

// TestGGUFSentencePieceTokenizer carries a "llama" (SentencePiece)
// tokenizer from GGUF metadata — the form of 1bitLLM files converted by
// llama.cpp (architectures.md §6.2) — and checks it against the same
// metadata read directly, with add_space_prefix off and an EOT id.
func TestGGUFSentencePieceTokenizer(t *testing.T) {
	ref := exactBitNet(t, "1bitLLM", 34)
	dir := t.TempDir()
	base := filepath.Join(dir, "base.gguf")
	writeBitNetGGUF(t, base, ref, "bitnet", ggTQ2, false)
	w := ggufFromFile(t, base)
	tokens := []string{"<unk>", "<s>", "</s>", "<|eot|>"}
	types := []int32{2, 3, 3, 3}
	for b := range 256 {
		tokens, types = append(tokens, fmt.Sprintf("<0x%02X>", b)), append(types, 6)
	}
	normal := []string{"▁", "a", "b", "▁a", "ab", "▁ab", "ba"}
	tokens, types = append(tokens, normal...), append(types, 1, 1, 1, 1, 1, 1, 1)
	scores := make([]float32, len(tokens))
	for i := range normal {
		scores[len(tokens)-len(normal)+i] = -float32(i)
	}
	w.Add("tokenizer.ggml.model", "llama")
	w.Add("tokenizer.ggml.tokens", tokens)
	w.Add("tokenizer.ggml.scores", scores)
	w.Add("tokenizer.ggml.token_type", types)
	w.Add("tokenizer.ggml.bos_token_id", uint32(1))
	w.Add("tokenizer.ggml.eos_token_id", uint32(2))
	w.Add("tokenizer.ggml.eot_token_id", uint32(3))
	w.Add("tokenizer.ggml.unknown_token_id", uint32(0))
	w.Add("tokenizer.ggml.add_bos_token", true)
	w.Add("tokenizer.ggml.add_space_prefix", false)
	in := filepath.Join(dir, "m.gguf")
	if _, err := w.WriteFile(in); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "m.bwm")
	s := convert(t, in, out, Options{})
	if !strings.Contains(s.Tokenizer, "SentencePiece") {
		t.Fatalf("tokenizer %q", s.Tokenizer)
	}
	m, err := sdk.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	v := tokenizer.NewGGUFVocab()
	v.Model, v.Tokens, v.Scores, v.TokenTypes = "llama", tokens, scores, types
	v.BOS, v.EOS, v.EOT, v.Unknown, v.AddBOS, v.AddSpacePrefix = 1, 2, 3, 0, true, false
	want, err := tokenizer.FromGGUF(v)
	if err != nil {
		t.Fatal(err)
	}
	tk := m.Tokenizer()
	for _, text := range []string{"ab a", "aab ba", "abc ✓"} {
		g, w := tk.Encode(text, tokenizer.EncodeOptions{AddBOS: true}), want.Encode(text, tokenizer.EncodeOptions{AddBOS: true})
		if !slices.Equal(g, w) || g[0] != 1 {
			t.Errorf("%q: converted %v, direct %v", text, g, w)
		}
	}
	if !tk.IsStop(3) || !tk.IsStop(2) || tk.BOS() != 1 {
		t.Errorf("stops %v, BOS %d", tk.StopIDs(), tk.BOS())
	}
}
