package convert

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"github.com/speakez/barewire/sdk/internal/reference"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/speakez/barewire/mmapmodel/gguf"
	"github.com/speakez/barewire/mmapmodel/gguf/ggufwrite"
	"github.com/speakez/barewire/mmapmodel/safetensors"
	"github.com/speakez/barewire/mmapmodel/safetensors/stwrite"
	"github.com/speakez/barewire/mmapmodel/ternary"
)

// TestCancel cancels a conversion in the middle of writing: Convert
// returns context.Canceled and leaves neither the output nor a temporary
// file.
func TestCancel(t *testing.T) {
	ref := exactBitNet(t, "2B4T", 31)
	dir := t.TempDir()
	in := filepath.Join(dir, "m.gguf")
	writeBitNetGGUF(t, in, ref, "bitnet-b1.58", ggTQ2, true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := 0
	_, err := Convert(ctx, in, filepath.Join(dir, "m.bwm"), Options{ProgressInterval: time.Nanosecond, Progress: func(p Progress) {
		seen = max(seen, p.Tensor)
		if p.Tensor == 6 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if seen != 6 {
		t.Fatalf("progress reached tensor %d after the cancel at 6", seen)
	}
	onlyFiles(t, dir, "m.gguf")
}

// TestCorruptInputs: damaged files are refused before any output exists,
// with messages naming the tensor or key.
func TestCorruptInputs(t *testing.T) {
	ref := exactBitNet(t, "2B4T", 32)
	base := t.TempDir()
	good := filepath.Join(base, "good.gguf")
	writeBitNetGGUF(t, good, ref, "bitnet-b1.58", ggTQ2, false)
	gf, err := gguf.Open(good)
	if err != nil {
		t.Fatal(err)
	}
	ti, _ := gf.Tensor("blk.1.ffn_up.weight")
	off := int(gf.DataOffset + ti.Offset)
	gf.Close()
	goodBytes := readAll(t, good)

	hf := filepath.Join(base, "hf")
	writeHFDir(t, hf, bitnetConfigJSON(ref.Config, hfPacked), bitnetSafetensors(t, ref, hfPacked, 0), 1, "")
	stBytes := readAll(t, filepath.Join(hf, "model.safetensors"))
	sf, err := safetensors.Open(filepath.Join(hf, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := sf.Tensor("model.layers.0.mlp.down_proj.weight")
	stOff := int(sf.DataOffset + st.Begin)
	emb, _ := sf.Tensor("model.embed_tokens.weight")
	embOff, embType := int(sf.DataOffset+emb.Begin), emb.DType
	sf.Close()

	for _, c := range []struct {
		name   string
		file   string // written into the case's directory
		data   func() []byte
		config map[string]any // for safetensors cases
		opts   Options
		is     error
		substr []string
	}{
		{name: "truncated gguf", file: "m.gguf", data: func() []byte { return goodBytes[:len(goodBytes)/2] }, is: ErrInput, substr: []string{"gguf"}},
		{name: "gguf header cut", file: "m.gguf", data: func() []byte { return goodBytes[:100] }, is: ErrInput, substr: []string{"gguf"}},
		{name: "tq2 code 3", file: "m.gguf", data: func() []byte {
			b := append([]byte(nil), goodBytes...)
			b[off+5] = 0xff
			return b
		}, is: ErrInput, substr: []string{"blk.1.ffn_up.weight", "code 3"}},
		{name: "tq2 non-uniform scale", file: "m.gguf", data: func() []byte {
			b := append([]byte(nil), goodBytes...)
			binary.LittleEndian.PutUint16(b[off+64:], ternary.F32ToF16(0.25)) // first block's d
			return b
		}, is: ternary.ErrNonUniformScale, substr: []string{"blk.1.ffn_up.weight", "block scales"}},
		{name: "gguf embedding in Q8_0", file: "m.gguf", data: func() []byte {
			return patchGGUFType(t, goodBytes, "token_embd.weight", gguf.TypeQ8_0)
		}, is: ErrUnsupported, substr: []string{"token_embd.weight", "Q8_0"}},
		{name: "gguf tensor type unknown (bitnet.cpp TL2)", file: "m.gguf", data: func() []byte {
			return patchGGUFType(t, goodBytes, "blk.1.ffn_up.weight", 39)
		}, is: ErrUnsupported, substr: []string{"blk.1.ffn_up.weight", "ggml type 39"}},
		{name: "truncated safetensors", file: "model.safetensors", data: func() []byte { return stBytes[:len(stBytes)-100] },
			config: bitnetConfigJSON(ref.Config, hfPacked), is: ErrInput, substr: []string{"safetensors"}},
		{name: "packed code 3", file: "model.safetensors", data: func() []byte {
			b := append([]byte(nil), stBytes...)
			b[stOff+3] |= 0x0c
			return b
		}, config: bitnetConfigJSON(ref.Config, hfPacked), is: ErrInput, substr: []string{"model.layers.0.mlp.down_proj.weight", "code 3"}},
		{name: "f16 head overflow", file: "model.safetensors", data: func() []byte {
			b := append([]byte(nil), stBytes...)
			if embType != safetensors.BF16 {
				t.Fatalf("embedding is %s, the case writes a bf16 value", embType)
			}
			binary.LittleEndian.PutUint16(b[embOff+2*5:], 0x4780) // 65536 in bfloat16
			return b
		}, config: bitnetConfigJSON(ref.Config, hfPacked), opts: Options{Head: HeadF16}, is: ErrInput,
			substr: []string{"model.embed_tokens.weight", "binary16"}},
		{name: "config missing key", file: "model.safetensors", data: func() []byte { return stBytes },
			config: func() map[string]any { c := bitnetConfigJSON(ref.Config, hfPacked); delete(c, "hidden_size"); return c }(), is: ErrInput, substr: []string{`"hidden_size"`}},
		{name: "config wrong width", file: "model.safetensors", data: func() []byte { return stBytes },
			config: func() map[string]any {
				c := bitnetConfigJSON(ref.Config, hfPacked)
				c["intermediate_size"] = 640
				return c
			}(), is: ErrInput,
			substr: []string{"model.layers.0.mlp.gate_proj.weight", "[160 256]"}},
		{name: "llama fine-tune with use_rms_norm", file: "model.safetensors", data: func() []byte {
			// Llama3-8B-1.58 and Falcon3-1.58bit: packed weights, no sub-norms;
			// use_rms_norm would add a norm inside every BitLinear.
			w := &stwrite.Writer{}
			for _, x := range bitnetSafetensors(t, ref, hfPacked, 0) {
				if !strings.Contains(x.name, "sub_norm") {
					w.Add(x.name, x.dtype, x.shape, x.data)
				}
			}
			b, err := w.Encode()
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
			config: func() map[string]any {
				c := bitnetConfigJSON(ref.Config, hfPacked)
				c["architectures"], c["model_type"] = []string{"LlamaForCausalLM"}, "llama"
				c["quantization_config"] = map[string]any{"quant_method": "bitnet", "linear_class": "bitlinear", "use_rms_norm": true}
				return c
			}(), is: ErrUnsupported, substr: []string{"use_rms_norm"}},
		{name: "unknown hf arch", file: "model.safetensors", data: func() []byte { return stBytes },
			config: func() map[string]any {
				c := bitnetConfigJSON(ref.Config, hfPacked)
				c["architectures"], c["model_type"] = []string{"MambaForCausalLM"}, "mamba"
				return c
			}(), is: ErrUnknownArch, substr: []string{"MambaForCausalLM"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, c.file), c.data(), 0o644); err != nil {
				t.Fatal(err)
			}
			want := []string{c.file}
			in := filepath.Join(dir, c.file)
			if c.config != nil {
				writeJSON(t, filepath.Join(dir, "config.json"), c.config)
				want, in = append(want, "config.json"), dir
			}
			_, err := Convert(context.Background(), in, filepath.Join(dir, "out.bwm"), c.opts)
			if !errors.Is(err, c.is) {
				t.Fatalf("err = %v, want %v", err, c.is)
			}
			for _, s := range c.substr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
			onlyFiles(t, dir, want...)
		})
	}
}

// Convert refuses what sdk.Open would refuse in its output: a tokenizer
// larger than the embedding, head sizes out of range (whose product could
// wrap), and side files that are not regular files (a FIFO would block).
func TestConvertRefusesWhatOpenRefuses(t *testing.T) {
	cfg, err := reference.SmallBitNetConfig("2B4T")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Vocab, cfg.Dim, cfg.HeadDim, cfg.FFN = 300, 256, 64, 512 // the tokenizer has more tokens than 300
	small := exactBitNetConfig(t, cfg, 41)
	dir := filepath.Join(t.TempDir(), "hf")
	writeHFDir(t, dir, bitnetConfigJSON(small.Config, hfPacked), bitnetSafetensors(t, small, hfPacked, 0), 1, llama3Mini)
	_, err = Convert(context.Background(), dir, filepath.Join(dir, "out.bwm"), Options{})
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "more than the model's vocabulary of 300") {
		t.Errorf("tokenizer larger than the vocabulary: %v", err)
	}
	onlyFiles(t, dir, "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")

	ref := exactBitNet(t, "2B4T", 42)
	dir = filepath.Join(t.TempDir(), "hf")
	c := bitnetConfigJSON(ref.Config, hfPacked)
	c["head_dim"] = int64(1<<55 + 2)
	writeHFDir(t, dir, c, bitnetSafetensors(t, ref, hfPacked, 0), 1, "")
	if _, err := Convert(context.Background(), dir, filepath.Join(dir, "out.bwm"), Options{}); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "head_dim") {
		t.Errorf("head_dim 2^55+2: %v", err)
	}

	dir = filepath.Join(t.TempDir(), "hf")
	writeHFDir(t, dir, bitnetConfigJSON(ref.Config, hfPacked), bitnetSafetensors(t, ref, hfPacked, 0), 1, "")
	if err := syscall.Mkfifo(filepath.Join(dir, "tokenizer.json"), 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Convert(context.Background(), dir, filepath.Join(dir, "out.bwm"), Options{})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("tokenizer.json a FIFO: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Convert blocked on a FIFO tokenizer.json")
	}
}

// patchGGUFType returns a copy of a GGUF file with tensor name's type
// field set to typ (the data region is left as it was).
func patchGGUFType(t *testing.T, file []byte, name string, typ gguf.GGMLType) []byte {
	t.Helper()
	key := binary.LittleEndian.AppendUint64(nil, uint64(len(name)))
	i := bytes.Index(file, append(key, name...))
	if i < 0 {
		t.Fatalf("tensor %s not in the file", name)
	}
	p := i + len(key) + len(name)
	ndims := int(binary.LittleEndian.Uint32(file[p:]))
	b := append([]byte(nil), file...)
	binary.LittleEndian.PutUint32(b[p+4+8*ndims:], uint32(typ))
	return b
}

// TestGGUFScaleTensor: an optional blk.N.<w>.scale multiplies γ
// (architectures.md §1.5), and the "bitnet" arch picks its activation as
// documented.
func TestGGUFScaleTensorAndActivation(t *testing.T) {
	ref := exactBitNet(t, "2B4T", 33)
	dir := t.TempDir()
	in := filepath.Join(dir, "m.gguf")
	// Halve q_proj's stored γ and add a .scale of 2: the same model.
	q := ref.Layers[0].Q
	g := q.Gamma
	q.Gamma = g / 2
	writeBitNetGGUF(t, filepath.Join(dir, "base.gguf"), ref, "bitnet", ggTQ2, false)
	q.Gamma = g
	w := ggufFromFile(t, filepath.Join(dir, "base.gguf"))
	w.AddTensor("blk.0.attn_q.scale", gguf.TypeF32, []uint64{1}, ggufwrite.F32Bytes([]float32{2}))
	if _, err := w.WriteFile(in); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "m.bwm")
	// Arch "bitnet" without the 2B4T vocabulary is the 1bitLLM family
	// (SiLU); this model is ReLU², so say so.
	s, err := Convert(context.Background(), in, out, Options{Head: HeadF16})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(s.Notes, "\n"), "activation silu") {
		t.Fatalf("notes %q", s.Notes)
	}
	s = convert(t, in, out, Options{Head: HeadF16, Activation: "relu2"})
	checkBitNetWeights(t, out, ref, "t2")
	fwd, greedy := bitnetForward(ref)
	checkLogits(t, out, ref.Config.Vocab, fwd, greedy, logitTol)
}
