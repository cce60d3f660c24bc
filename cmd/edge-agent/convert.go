package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/speakez/barewire/sdk/convert"
)

func init() {
	register(command{name: "convert", summary: "import a published checkpoint (GGUF, safetensors) into a model file", run: runConvert})
}

const convertUsage = `usage: edge-agent convert IN -o OUT [--from auto|gguf|safetensors] [--ternary 2|1.6]
                          [--head int8|f16] [--i2s-layout x86|arm] [--act relu2|silu] [--quiet]

IN is a .gguf file, a .safetensors file, a model.safetensors.index.json, or a
Hugging Face model directory (config.json, tokenizer.json or tokenizer.model,
and the weights). Everything about IN is checked before OUT is written; OUT
appears only complete and verified. Progress goes to standard error, the
summary to standard output. See docs/CONVERT.md.`

func runConvert(args []string, stdout, stderr io.Writer) (err error) {
	defer noPanic(&err)
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, convertUsage)
		fs.PrintDefaults()
	}
	out := fs.String("o", "", "output model file (.bwm)")
	from := fs.String("from", "auto", "input container: auto, gguf or safetensors")
	tern := fs.String("ternary", "2", "ternary weights: 2 (t2, 2 bits per weight) or 1.6 (t1.6, 5 per byte)")
	head := fs.String("head", "int8", "embedding and untied output head: int8 (per-row scales) or f16")
	layout := fs.String("i2s-layout", "", "layout of I2_S tensors: x86 (128-weight blocks) or arm (64-weight blocks); needed when the file cannot tell")
	act := fs.String("act", "", "FFN activation for a GGUF of arch \"bitnet\": relu2 or silu (default: decided from the file)")
	quiet := fs.Bool("quiet", false, "no progress on standard error")
	in, err := parseModelArgs(fs, args)
	if err != nil {
		if strings.Contains(err.Error(), "want exactly one MODEL") {
			return fmt.Errorf("%w: want exactly one IN argument\n%s", errUsage, convertUsage)
		}
		return err
	}
	if *out == "" {
		return fmt.Errorf("%w: -o OUT is required\n%s", errUsage, convertUsage)
	}
	opts := convert.Options{From: *from, Ternary: convert.TernaryFormat(*tern), Head: convert.HeadFormat(*head), I2SLayout: *layout, Activation: *act}
	if !*quiet {
		opts.Progress = progressPrinter(stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return convertWith(ctx, in, *out, opts, stdout)
}

// convertWith runs a conversion and prints its summary; tests call it with
// a context they cancel.
func convertWith(ctx context.Context, in, out string, opts convert.Options, stdout io.Writer) error {
	s, err := convert.Convert(ctx, in, out, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "converted %s (%s)\n", s.Input, s.Container)
	fmt.Fprintf(stdout, "  model:     %s\n", s.Model)
	fmt.Fprintf(stdout, "  arch:      %s\n", s.Arch)
	for _, p := range s.Params {
		fmt.Fprintf(stdout, "  param:     %s = %v\n", p.Key, p.Value())
	}
	if s.Tokenizer != "" {
		fmt.Fprintf(stdout, "  tokenizer: %s\n", s.Tokenizer)
	}
	for _, n := range s.Notes {
		fmt.Fprintf(stdout, "  note:      %s\n", n)
	}
	fmt.Fprintf(stdout, "  output:    %s, %d tensors, %s, sha256 %s, verified\n", s.Output, s.Tensors, humanBytes(s.FileBytes), s.SHA256)
	fmt.Fprintf(stdout, "  ternary:   %d weights in %s, %.2f bits per weight\n", s.TernaryWeights, humanBytes(s.TernaryBytes), s.BitsPerWeight)
	fmt.Fprintf(stdout, "  time:      %s\n", s.Elapsed.Round(time.Millisecond))
	return nil
}

// progressPrinter prints one line per report (the library reports the first
// tensor, then at most twice a second, then the end): tensor i/n, bytes,
// rate and the time left at that rate.
func progressPrinter(w io.Writer) func(convert.Progress) {
	return func(p convert.Progress) {
		rate := 0.0
		if s := p.Elapsed.Seconds(); s > 0 {
			rate = float64(p.Bytes) / s
		}
		eta := "-"
		if rate > 0 && p.TotalBytes >= p.Bytes {
			eta = (time.Duration(float64(p.TotalBytes-p.Bytes)/rate*float64(time.Second)) + time.Second/2).Truncate(time.Second).String()
		}
		name := p.Name
		if name == "" {
			name = "done"
		}
		fmt.Fprintf(w, "convert: tensor %d/%d %s  %s/%s  %s/s  ETA %s\n", p.Tensor, p.Tensors, name, humanBytes(p.Bytes), humanBytes(p.TotalBytes), humanBytes(int64(rate)), eta)
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
