package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/speakez/barewire/sdk"
	"github.com/speakez/barewire/sdk/tokenizer"
)

func init() {
	register(command{name: "run", summary: "generate text from a prompt, streamed to standard output", run: runRun})
}

const runUsage = `usage: edge-agent run --model MODEL [--prompt TEXT] [-n N] [--temperature T] [--top-k K]
                      [--top-p P] [--seed S] [--threads N] [--backend auto|cpu|cuda]
                      [--gpu-split 0|auto|FRACTION] [--ctx N] [--kv f32|f16] [--logits FILE]

Generates up to N tokens after the prompt (BOS is added when the model's
tokenizer asks for it; an empty prompt starts from BOS) and streams the text.
Temperature 0 (the default) decodes greedily. The output depends only on the
model, the prompt and the flags: not on --threads.
--logits FILE writes the logits of every position whose logits were computed
(each prompt token, each generated token but the last), one JSON array per line.
--gpu-split (backend cuda) computes part of each ternary matrix's rows of a
decoded token on the CPU threads while the GPU computes the rest: FRACTION is
the GPU's share (0, the default: all on the GPU), auto measures it when the
model is opened. The output does not depend on it.
--kv f16 keeps the KV cache (attention models) in binary16: half its memory,
logits that differ from the f32 cache's by that rounding.`

func runRun(args []string, stdout, stderr io.Writer) (err error) {
	defer noPanic(&err)
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, runUsage) }
	model := fs.String("model", "", "model file (.bwm) or release directory")
	prompt := fs.String("prompt", "", "prompt text")
	n := fs.Int("n", 128, "most tokens to generate")
	temp := fs.Float64("temperature", 0, "sampling temperature (0: greedy)")
	topK := fs.Int("top-k", 0, "keep the K most likely tokens (0: all)")
	topP := fs.Float64("top-p", 0, "nucleus sampling mass (0 or 1: off)")
	seed := fs.Uint64("seed", 0, "sampler seed")
	threads := fs.Int("threads", 0, "worker threads (0: one per physical core)")
	backend := fs.String("backend", "auto", "auto, cpu or cuda")
	gpuSplit := fs.String("gpu-split", "0", "cuda: share of each ternary matrix's rows on the GPU in decode, the CPU the rest (0: all on the GPU, auto: measured)")
	ctxLen := fs.Int("ctx", 0, "context length of the KV cache (0: the model's, at most 2048)")
	kvType := fs.String("kv", sdk.KVFloat32, "KV cache element type: f32 or f16 (half the memory)")
	logits := fs.String("logits", "", "write each position's logits to FILE, one JSON array per line")
	quiet := fs.Bool("quiet", false, "do not print the speed line on stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *model == "" || fs.NArg() != 0 {
		return fmt.Errorf("%w: --model is required and no other arguments are taken\n%s", errUsage, runUsage)
	}
	if *n < 1 || *temp < 0 || *topK < 0 || *topP < 0 || *topP > 1 {
		return fmt.Errorf("%w: want -n ≥ 1, --temperature ≥ 0, --top-k ≥ 0, 0 ≤ --top-p ≤ 1", errUsage)
	}
	split, err := parseGPUSplit(*gpuSplit, *backend)
	if err != nil {
		return err
	}
	m, err := sdk.Open(*model, sdk.WithThreads(*threads), sdk.WithBackend(*backend), sdk.WithGPUSplit(split))
	if err != nil {
		return err
	}
	defer m.Close()
	if m.Backend() == sdk.BackendCUDA && !*quiet {
		// Which memory policy the GPU backend chose for the weights, and why;
		// then how decode splits the ternary matrices with the CPU.
		fmt.Fprintf(stderr, "edge-agent run: backend cuda: %s\n", m.GPUPolicy())
	}
	tk := m.Tokenizer()
	if tk == nil {
		return fmt.Errorf("model %s (architecture %q) has no tokenizer; run generates text from language models", *model, m.Arch())
	}
	ids := tk.Encode(*prompt, tokenizer.EncodeOptions{AddBOS: tk.AddsBOSByDefault()})
	if len(ids) == 0 {
		if tk.BOS() == tokenizer.NoToken {
			return fmt.Errorf("%w: empty prompt, and the tokenizer has no BOS token to start from", errUsage)
		}
		ids = []int{tk.BOS()}
	}
	s, err := m.NewSession(sdk.WithContextLength(*ctxLen), sdk.WithKVCache(*kvType))
	if err != nil {
		return err
	}
	opts := sdk.GenerateOptions{MaxTokens: *n, Temperature: float32(*temp), TopK: *topK, TopP: float32(*topP), Seed: *seed}
	var lw *bufio.Writer
	if *logits != "" {
		f, err := os.Create(*logits)
		if err != nil {
			return err
		}
		defer f.Close()
		lw = bufio.NewWriter(f)
		enc := json.NewEncoder(lw)
		opts.PromptLogits = func(pos int, l []float32) { enc.Encode(l) }
		defer func() {
			if ferr := lw.Flush(); err == nil {
				err = ferr
			}
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	dec := tokenizer.NewStreamDecoder(tk)
	dec.SkipSpecial = true
	first := true
	start := time.Now()
	var prefill time.Duration
	generated := 0
	for t, err := range s.Generate(ctx, ids, opts) {
		if err != nil {
			out.Flush()
			return err
		}
		if first {
			// The first token comes right after the prompt's prefill.
			prefill = time.Since(start)
		}
		if lw != nil && !first {
			json.NewEncoder(lw).Encode(t.Logits)
		}
		first = false
		generated++
		out.Write(dec.Next(t.ID))
		out.Flush()
	}
	out.Write(dec.Flush())
	fmt.Fprintln(out)
	out.Flush()
	if !*quiet && generated > 0 {
		decode := time.Since(start) - prefill
		line := fmt.Sprintf("edge-agent run: prompt %d tokens in %.1f ms (%.1f tokens/s)", len(ids), ms(prefill), float64(len(ids))/prefill.Seconds())
		if generated > 1 {
			line += fmt.Sprintf(", then %d tokens at %.1f tokens/s", generated-1, float64(generated-1)/decode.Seconds())
		}
		if m.Backend() == sdk.BackendCUDA {
			fmt.Fprintf(stderr, "%s; backend cuda\n", line)
		} else {
			fmt.Fprintf(stderr, "%s; %s kernels, %d threads\n", line, m.Tier(), m.Threads())
		}
	}
	return nil
}

// parseGPUSplit reads --gpu-split: 0, auto or the GPU's share of the rows
// (sdk.WithGPUSplit). Anything but 0 needs --backend cuda.
func parseGPUSplit(s, backend string) (float64, error) {
	f := sdk.GPUSplitAuto
	if s != "auto" {
		var err error
		if f, err = strconv.ParseFloat(s, 64); err != nil || !(f >= 0 && f <= 1) {
			return 0, fmt.Errorf("%w: --gpu-split %q (want 0, auto or a fraction from 0 to 1)", errUsage, s)
		}
	}
	if f != 0 && backend != sdk.BackendCUDA {
		return 0, fmt.Errorf("%w: --gpu-split %s needs --backend cuda", errUsage, s)
	}
	return f, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
