// Command train-charlm trains a character-level MatMul-free language model
// (HGRN-bit: MLGRU token mixer, ternary GLU, every projection a
// FusedBitLinear) with the SDK's quantization-aware trainer, reports the
// held-out bits per character and writes a model file that sdk.Open and
// edge-agent run can use.
//
//	go run ./examples/train-charlm -o charlm.bwm -steps 2000 -seed 1
//
// The default corpus is Newton's Opticks as shipped with the Go toolchain
// ($GOROOT/src/testdata/Isaac.Newton-Opticks.txt, public domain); every
// tenth passage of 8192 characters is held out.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/speakez/barewire/sdk/train"
)

func main() {
	corpus := flag.String("corpus", filepath.Join(runtime.GOROOT(), "src", "testdata", "Isaac.Newton-Opticks.txt"), "UTF-8 text to train on")
	every := flag.Int("held-out-every", train.CharLMHeldOutEvery, "hold out every N-th passage of the text")
	block := flag.Int("passage", train.CharLMBlock, "passage length in characters")
	out := flag.String("o", "charlm.bwm", "model file to write (empty: none)")
	dim := flag.Int("dim", 256, "model width d")
	layers := flag.Int("layers", 2, "blocks")
	ffn := flag.Int("ffn", 512, "GLU inner width")
	streams := flag.Int("streams", 32, "sequences per step")
	bptt := flag.Int("t", 64, "tokens per sequence per step (back-propagation through time)")
	steps := flag.Int("steps", 2000, "optimizer steps")
	lr := flag.Float64("lr", 3e-3, "peak learning rate (warm-up then cosine decay)")
	seed := flag.Uint64("seed", 1, "seed of the weights")
	mode := flag.String("mode", "direct", "direct (ternary from the first step), progressive (float, then blended into ternary), float (no quantization: the baseline)")
	rampFrom := flag.Float64("ramp-from", 0.1, "progressive: fraction of the steps where blending starts")
	rampTo := flag.Float64("ramp-to", 0.5, "progressive: fraction of the steps where the model is fully ternary")
	stagger := flag.Bool("stagger", false, "progressive: convert the projections one after another instead of all at once")
	ckpt := flag.String("checkpoint", "", "checkpoint file, written every 200 steps and resumed from")
	evalEvery := flag.Int("eval-every", 0, "held-out evaluation every this many steps")
	flag.Parse()

	text, err := os.ReadFile(*corpus)
	if err != nil {
		log.Fatal(err)
	}
	c := train.NewCharCorpus(string(text), *every, *block)
	opts := train.LMOptions{Dim: *dim, Layers: *layers, FFN: *ffn, Streams: *streams, T: *bptt, Steps: *steps,
		LR: *lr, Seed: *seed, Checkpoint: *ckpt, Log: os.Stderr, EvalEvery: *evalEvery}
	switch *mode {
	case "direct":
	case "progressive":
		opts.Progressive = &train.Ramp{Start: int(*rampFrom * float64(*steps)), End: int(*rampTo * float64(*steps))}
		opts.Staggered = *stagger
	case "float":
		opts.Float = true
	default:
		log.Fatalf("-mode %q: want direct, progressive or float", *mode)
	}
	fmt.Fprintf(os.Stderr, "corpus %s: %d training characters, %d held-out characters in %d passages, alphabet of %d\n",
		*corpus, len(c.Train), c.HeldOutChars(), len(c.HeldOut), c.Vocab())
	start := time.Now()
	m, err := train.TrainLM(c, opts)
	if err != nil {
		log.Fatal(err)
	}
	wall := time.Since(start)
	bpc := m.EvalBPC(c.HeldOut, 256)
	fmt.Printf("mode %s: held-out %.4f bits per character (%d characters); trained in %s\n", *mode, bpc, c.HeldOutChars(), wall.Round(time.Second))
	if *out != "" && *mode != "float" {
		tk, err := c.Tokenizer()
		if err != nil {
			log.Fatal(err)
		}
		if err := m.Export(*out, tk); err != nil {
			log.Fatal(err)
		}
		st, _ := os.Stat(*out)
		fmt.Printf("%s: %d bytes\n", *out, st.Size())
	}
}
