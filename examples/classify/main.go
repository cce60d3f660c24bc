// Command classify is the smallest device program that runs a ternary MLP
// classifier: it opens a model, classifies one input given in the data's
// raw units, and prints the label and the scores.
//
//	go run ./examples/classify -model testdata/mlp-tiny.bwm
package main

import (
	"context"
	"flag"
	"fmt"
	"log"

	"github.com/speakez/barewire/sdk"
)

func main() {
	model := flag.String("model", "testdata/mlp-tiny.bwm", "model file or release directory")
	flag.Parse()

	m, err := sdk.Open(*model)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	// A synthetic 28×28 image: a bright vertical bar on black, in 0..255.
	img := make([]float32, m.Inputs())
	for i := range img {
		if c := i % 28; c >= 12 && c < 16 {
			img[i] = 255
		}
	}
	scores, label, err := m.Classify(context.Background(), img)
	if err != nil {
		log.Fatal(err)
	}
	name := fmt.Sprint(label)
	if l := m.Labels(); l != nil {
		name = l[label]
	}
	fmt.Printf("label %s\nscores %.3f\n", name, scores)
}
