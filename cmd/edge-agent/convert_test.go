package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/speakez/barewire/mmapmodel/safetensors"
	"github.com/speakez/barewire/mmapmodel/safetensors/stwrite"
	"github.com/speakez/barewire/sdk/convert"
)

// writeTinyBitNetDir writes a Hugging Face BitNet directory checkpoint:
// config.json, tokenizer.json (the LLaMA-3 shaped test tokenizer), and bf16
// master weights of random values in model.safetensors.
func writeTinyBitNetDir(t *testing.T, dir, arch, modelType string) {
	t.Helper()
	const vocab, d, layers, heads, kv, ffn = 700, 128, 2, 4, 2, 256
	cfg := map[string]any{
		"architectures": []string{arch}, "model_type": modelType, "vocab_size": vocab, "hidden_size": d,
		"num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv,
		"intermediate_size": ffn, "rope_theta": 500000.0, "rms_norm_eps": 1e-5, "hidden_act": "relu2",
		"max_position_embeddings": 128, "bos_token_id": 658, "eos_token_id": 659, "tie_word_embeddings": true,
	}
	b, _ := json.Marshal(cfg)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := os.ReadFile("../../sdk/tokenizer/testdata/llama3-mini/tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tok, 0o644); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	mat := func(n int, scale float64) []byte {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(scale * rng.NormFloat64())
		}
		return stwrite.BF16Bytes(v)
	}
	ones := func(n int) []byte {
		v := make([]float32, n)
		for i := range v {
			v[i] = 1
		}
		return stwrite.BF16Bytes(v)
	}
	w := &stwrite.Writer{}
	w.Add("model.embed_tokens.weight", safetensors.BF16, []uint64{vocab, d}, mat(vocab*d, 1))
	for l := range layers {
		p := func(s string) string { return fmt.Sprintf("model.layers.%d.%s", l, s) }
		w.Add(p("input_layernorm.weight"), safetensors.BF16, []uint64{d}, ones(d))
		for _, n := range []struct {
			name    string
			out, in int
		}{{"self_attn.q_proj", d, d}, {"self_attn.k_proj", kv * d / heads, d}, {"self_attn.v_proj", kv * d / heads, d}, {"self_attn.o_proj", d, d},
			{"mlp.gate_proj", ffn, d}, {"mlp.up_proj", ffn, d}, {"mlp.down_proj", d, ffn}} {
			w.Add(p(n.name+".weight"), safetensors.BF16, []uint64{uint64(n.out), uint64(n.in)}, mat(n.out*n.in, 0.02))
		}
		w.Add(p("self_attn.attn_sub_norm.weight"), safetensors.BF16, []uint64{d}, ones(d))
		w.Add(p("post_attention_layernorm.weight"), safetensors.BF16, []uint64{d}, ones(d))
		w.Add(p("mlp.ffn_sub_norm.weight"), safetensors.BF16, []uint64{ffn}, ones(ffn))
	}
	w.Add("model.norm.weight", safetensors.BF16, []uint64{d}, ones(d))
	if err := w.WriteFile(filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
}

func TestConvertCommand(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "ckpt")
	writeTinyBitNetDir(t, ckpt, "BitNetForCausalLM", "bitnet")
	out := filepath.Join(dir, "m.bwm")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"convert", ckpt, "-o", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	t.Logf("stderr:\n%s\nstdout:\n%s", stderr.String(), stdout.String())
	// Progress: the first tensor of 25 (2 layers × 11 tensors, the
	// embedding, the final norm, the tokenizer), at most two lines a second
	// after it, and a last "done" line.
	for _, want := range []string{"convert: tensor 1/25 model.embed_tokens.weight", "convert: tensor 25/25 done", "ETA"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	for _, want := range []string{"arch:      bitnet-b1.58", "param:     hidden_act = relu2", "tokenizer: byte-level BPE, 663 tokens, BOS 658, EOS 659",
		"25 tensors", "verified", "2.00 bits per weight", "time:"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout.String())
		}
	}
	stdout.Reset()
	if code := run([]string{"inspect", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"arch:   bitnet-b1.58", "tokenizer", "hidden_act = relu2", "model.layers.1.mlp.down_proj.weight"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("inspect lacks %q:\n%s", want, stdout.String())
		}
	}
	stdout.Reset()
	if code := run([]string{"verify", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("verify: exit %d: %s", code, stderr.String())
	}

	// The 1.6-bit form: written, verified (every byte one of the 243
	// encodings) and run, with the same greedy text as the 2-bit file.
	out16 := filepath.Join(dir, "m16.bwm")
	stdout.Reset()
	if code := run([]string{"convert", ckpt, "-o", out16, "--ternary", "1.6", "--quiet"}, &stdout, &stderr); code != 0 {
		t.Fatalf("--ternary 1.6: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "verified") {
		t.Errorf("--ternary 1.6 summary lacks \"verified\":\n%s", stdout.String())
	}
	if code := run([]string{"verify", out16}, &stdout, &stderr); code != 0 {
		t.Fatalf("verify t1.6: exit %d: %s", code, stderr.String())
	}
	logits := make([][]byte, 2)
	for i, m := range []string{out, out16} {
		lf := filepath.Join(dir, fmt.Sprintf("logits%d.jsonl", i))
		if code := run([]string{"run", "--model", m, "--prompt", "abc", "-n", "4", "--quiet", "--logits", lf}, &stdout, &stderr); code != 0 {
			t.Fatalf("run %s: exit %d: %s", m, code, stderr.String())
		}
		var err error
		if logits[i], err = os.ReadFile(lf); err != nil {
			t.Fatal(err)
		}
	}
	if n := bytes.Count(logits[0], []byte("\n")); n < 4 {
		t.Fatalf("--logits wrote %d lines, want at least 4", n)
	}
	if !bytes.Equal(logits[0], logits[1]) {
		t.Error("the t2 and t1.6 files give different logits")
	}
}

func TestConvertCommandErrors(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "ckpt")
	writeTinyBitNetDir(t, ckpt, "GPT2LMHeadModel", "gpt2")
	var stdout, stderr bytes.Buffer
	out := filepath.Join(dir, "m.bwm")
	if code := run([]string{"convert", ckpt, "-o", out}, &stdout, &stderr); code != 1 {
		t.Fatalf("unknown architecture: exit %d", code)
	}
	if !strings.Contains(stderr.String(), `GPT2LMHeadModel`) || !strings.Contains(stderr.String(), "unknown architecture") {
		t.Errorf("stderr: %s", stderr.String())
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("output exists after a refusal: %v", err)
	}
	for _, args := range [][]string{{"convert", ckpt}, {"convert", "-o", out}, {"convert", ckpt, "-o", out, "--ternary", "3"}} {
		stderr.Reset()
		code := run(args, &stdout, &stderr)
		if code == 0 {
			t.Errorf("%v: exit 0", args)
		}
	}
}

// TestConvertCommandCancel interrupts a conversion in the middle (as
// Ctrl-C does through the command's signal context): the command fails
// with the cancellation and leaves nothing in the output directory.
func TestConvertCommandCancel(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "ckpt")
	writeTinyBitNetDir(t, ckpt, "BitNetForCausalLM", "bitnet")
	outDir := filepath.Join(dir, "out")
	if err := os.Mkdir(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout bytes.Buffer
	opts := convert.Options{ProgressInterval: time.Nanosecond, Progress: func(p convert.Progress) {
		if p.Tensor == 10 {
			cancel()
		}
	}}
	err := convertWith(ctx, ckpt, filepath.Join(outDir, "m.bwm"), opts, &stdout)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if es, _ := os.ReadDir(outDir); len(es) != 0 {
		t.Fatalf("output directory holds %v after the cancel", es)
	}
	if stdout.Len() != 0 {
		t.Fatalf("summary printed after the cancel: %s", stdout.String())
	}
}
