package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/speakez/barewire/sdk"
)

// Classify one 28×28 image, given in raw pixel values 0..255, with the
// ternary MLP shipped in testdata/.
func ExampleModel_Classify() {
	m, err := sdk.Open(filepath.Join("..", "testdata", "mlp-tiny.bwm"))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	img := make([]float32, m.Inputs())
	for i := range img {
		if c := i % 28; c >= 12 && c < 16 {
			img[i] = 255 // a vertical bar
		}
	}
	scores, label, err := m.Classify(context.Background(), img)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("classes:", len(scores), "label:", m.Labels()[label])
	// Output: classes: 10 label: 4
}

// Generate greedily from a small synthetic BitNet model, streaming tokens.
func ExampleSession_Generate() {
	dir, err := os.MkdirTemp("", "sdk-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tiny.bwm")
	if err := sdk.WriteSynthetic(path, sdk.SyntheticBitNetTiny, sdk.SyntheticOptions{Seed: 1}); err != nil {
		log.Fatal(err)
	}
	m, err := sdk.Open(path, sdk.WithThreads(2))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	s, err := m.NewSession(sdk.WithContextLength(64))
	if err != nil {
		log.Fatal(err)
	}
	prompt := []int{256, 'h', 'i'} // BOS, then bytes
	n := 0
	for tok, err := range s.Generate(context.Background(), prompt, sdk.GenerateOptions{MaxTokens: 8}) {
		if err != nil {
			log.Fatal(err)
		}
		_ = tok.ID // stream it, decode it, send it...
		n++
	}
	fmt.Println("generated", n, "tokens; session at position", s.Pos())
	// Output: generated 8 tokens; session at position 10
}

// Models run on the CPU in this build: asking for the CUDA backend fails
// with an error that says why (no driver, no device, a build without cgo,
// or a GPU that whole models cannot use yet).
func ExampleWithBackend() {
	_, err := sdk.Open(filepath.Join("..", "testdata", "mlp-tiny.bwm"), sdk.WithBackend("cuda"))
	fmt.Println(errors.Is(err, sdk.ErrBackendUnavailable))
	// Output: true
}
