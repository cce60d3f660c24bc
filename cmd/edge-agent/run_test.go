package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/speakez/barewire/sdk"
	"github.com/speakez/barewire/sdk/tokenizer"
)

var (
	tinyOnce  sync.Once
	tinyDir   string
	tinyErr   error
	tinyNames = []string{sdk.SyntheticBitNetTiny, sdk.SyntheticMMFreeTiny}
)

// tinyModel returns a small synthetic language model shared by the tests.
func tinyModel(t *testing.T, name string) string {
	t.Helper()
	tinyOnce.Do(func() {
		tinyDir, tinyErr = os.MkdirTemp("", "edge-agent-run")
		for _, n := range tinyNames {
			if tinyErr == nil {
				tinyErr = sdk.WriteSynthetic(filepath.Join(tinyDir, n+".bwm"), n, sdk.SyntheticOptions{Seed: 1})
			}
		}
	})
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return filepath.Join(tinyDir, name+".bwm")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if tinyDir != "" {
		os.RemoveAll(tinyDir)
	}
	os.Exit(code)
}

func TestRunDeterministicAcrossThreads(t *testing.T) {
	for _, name := range tinyNames {
		t.Run(name, func(t *testing.T) {
			model := tinyModel(t, name)
			dir := t.TempDir()
			var outs, logits []string
			for _, threads := range []string{"1", "2", "2"} {
				lf := filepath.Join(dir, "logits-"+threads+".jsonl")
				code, out, errs := runCmd(t, "run", "--model", model, "--prompt", "hello", "-n", "20", "--threads", threads, "--logits", lf)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errs)
				}
				b, err := os.ReadFile(lf)
				if err != nil {
					t.Fatal(err)
				}
				outs, logits = append(outs, out), append(logits, string(b))
			}
			if outs[0] != outs[1] || outs[1] != outs[2] || logits[0] != logits[1] || logits[1] != logits[2] {
				t.Fatal("runs differ across --threads 1/2 or across runs")
			}
			// The same generation through the SDK.
			m, err := sdk.Open(model)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			tk := m.Tokenizer()
			ids := tk.Encode("hello", tokenizer.EncodeOptions{AddBOS: tk.AddsBOSByDefault()})
			s, _ := m.NewSession()
			dec := tokenizer.NewStreamDecoder(tk)
			dec.SkipSpecial = true
			var text strings.Builder
			n := 0
			for tok, err := range s.Generate(context.Background(), ids, sdk.GenerateOptions{MaxTokens: 20}) {
				if err != nil {
					t.Fatal(err)
				}
				text.Write(dec.Next(tok.ID))
				n++
			}
			text.Write(dec.Flush())
			if outs[0] != text.String()+"\n" {
				t.Fatalf("run printed %q, the SDK generated %q", outs[0], text.String())
			}
			lines := strings.Split(strings.TrimSuffix(logits[0], "\n"), "\n")
			if len(lines) != len(ids)+n-1 {
				t.Fatalf("%d logits lines, want %d prompt + %d generated − 1", len(lines), len(ids), n)
			}
			for _, l := range lines {
				var v []float32
				if err := json.Unmarshal([]byte(l), &v); err != nil || len(v) != 512 {
					t.Fatalf("logits line of %d values (%v)", len(v), err)
				}
			}
		})
	}
}

func TestRunSampling(t *testing.T) {
	model := tinyModel(t, sdk.SyntheticBitNetTiny)
	args := []string{"run", "--model", model, "--prompt", "ab", "-n", "24", "--temperature", "1.5", "--top-k", "40", "--top-p", "0.95"}
	_, a, _ := runCmd(t, append(args, "--seed", "1")...)
	_, b, _ := runCmd(t, append(args, "--seed", "1")...)
	_, c, _ := runCmd(t, append(args, "--seed", "2")...)
	if a != b {
		t.Fatal("the same seed gave different text")
	}
	if a == c {
		t.Fatal("different seeds gave the same 24 sampled tokens")
	}
}

func TestRunErrors(t *testing.T) {
	model := tinyModel(t, sdk.SyntheticBitNetTiny)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run"}, 2, "--model is required"},
		{[]string{"run", "--model", model, "--backend", "cuda"}, 1, "backend cuda: not available"},
		{[]string{"run", "--model", testModel}, 1, "has no tokenizer"},
		{[]string{"run", "--model", model, "-n", "0"}, 2, "want -n ≥ 1"},
		{[]string{"run", "--model", model, "--prompt", strings.Repeat("x", 40), "--ctx", "32"}, 1, "context full"},
		{[]string{"run", "--model", model, "--gpu-split", "1.5"}, 2, `--gpu-split "1.5" (want 0, auto or a fraction from 0 to 1)`},
		{[]string{"run", "--model", model, "--gpu-split", "0.5"}, 2, "--gpu-split 0.5 needs --backend cuda"},
		{[]string{"run", "--model", model, "--gpu-split", "auto", "--backend", "cpu"}, 2, "--gpu-split auto needs --backend cuda"},
		{[]string{"run", "--model", model, "--gpu-split", "auto", "--backend", "cuda"}, 1, "backend cuda: not available"},
	} {
		code, _, errs := runCmd(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, errs, c.code, c.want)
		}
	}
}

func TestParseGPUSplit(t *testing.T) {
	for _, c := range []struct {
		in, backend string
		want        float64
		ok          bool
	}{
		{"0", "auto", 0, true}, {"0", "cuda", 0, true}, {"auto", "cuda", sdk.GPUSplitAuto, true},
		{"0.5", "cuda", 0.5, true}, {"1", "cuda", 1, true}, {".25", "cuda", 0.25, true},
		{"0.5", "cpu", 0, false}, {"-1", "cuda", 0, false}, {"1.01", "cuda", 0, false},
		{"NaN", "cuda", 0, false}, {"half", "cuda", 0, false}, {"", "cuda", 0, false},
	} {
		got, err := parseGPUSplit(c.in, c.backend)
		if (err == nil) != c.ok || c.ok && got != c.want {
			t.Errorf("parseGPUSplit(%q, %q) = %v, %v; want %v, ok %v", c.in, c.backend, got, err, c.want, c.ok)
		}
	}
	if !strings.Contains(runUsage, "--gpu-split 0|auto|FRACTION") || !strings.Contains(benchModelUsage, "--gpu-split 0|auto|FRACTION") {
		t.Error("usage does not list --gpu-split")
	}
}

// --kv f16 runs a BitNet model with a binary16 KV cache; an unknown type is
// refused before anything is generated.
func TestRunKVCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiny.bwm")
	if err := sdk.WriteSynthetic(path, sdk.SyntheticBitNetTiny, sdk.SyntheticOptions{Seed: 4}); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCmd(t, "run", "--model", path, "--prompt", "ab", "-n", "4", "--kv", "f16", "--quiet"); code != 0 {
		t.Fatalf("--kv f16: exit %d: %s", code, errs)
	}
	if code, _, errs := runCmd(t, "run", "--model", path, "--prompt", "ab", "-n", "4", "--kv", "int4"); code == 0 || !strings.Contains(errs, `KV cache "int4"`) {
		t.Fatalf("--kv int4: exit %d: %s", code, errs)
	}
}
