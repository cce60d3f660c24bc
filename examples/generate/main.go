// Command generate is the smallest device program that runs a ternary
// language model: it opens a model, starts a session, and streams the text
// it generates after a prompt. Without -model it builds a tiny synthetic
// BitNet model (random weights, so the text is noise) in a temporary
// directory.
//
//	go run ./examples/generate -model bitnet.bwm -prompt "The capital of France is"
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/speakez/barewire/sdk"
)

func main() {
	model := flag.String("model", "", "model file or release directory (default: a tiny synthetic model)")
	prompt := flag.String("prompt", "Hello", "prompt text")
	n := flag.Int("n", 32, "tokens to generate")
	temp := flag.Float64("temperature", 0.7, "sampling temperature (0: greedy)")
	flag.Parse()

	path := *model
	if path == "" {
		dir, err := os.MkdirTemp("", "barewire-generate")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "tiny.bwm")
		if err := sdk.WriteSynthetic(path, sdk.SyntheticBitNetTiny, sdk.SyntheticOptions{}); err != nil {
			log.Fatal(err)
		}
	}
	m, err := sdk.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	s, err := m.NewSession()
	if err != nil {
		log.Fatal(err)
	}

	// Ctrl-C stops generation within one token.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opts := sdk.GenerateOptions{MaxTokens: *n, Temperature: float32(*temp), TopP: 0.9, Seed: 1}
	for piece, err := range s.GenerateText(ctx, *prompt, opts) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(piece)
	}
	fmt.Println()
}
