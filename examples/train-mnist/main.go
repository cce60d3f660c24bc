// Command train-mnist trains a ternary MLP on MNIST with the SDK's
// quantization-aware trainer and writes it as a BAREWire model file that
// sdk.Open (and edge-agent classify) can run.
//
//	go run ./examples/train-mnist -o mnist-mlp.bwm -epochs 8 -seed 1
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/speakez/barewire/sdk/train"
	"github.com/speakez/barewire/sdk/train/mnist"
)

func main() {
	out := flag.String("o", "mnist-mlp.bwm", "model file to write")
	hidden := flag.String("hidden", "1024,1024", "hidden layer widths, comma-separated")
	epochs := flag.Int("epochs", 8, "passes over the training set")
	batch := flag.Int("batch", 128, "images per step")
	lr := flag.Float64("lr", 2e-3, "peak learning rate (warm-up then cosine decay)")
	shift := flag.Int("shift", 2, "random translation of training images, ± pixels")
	seed := flag.Uint64("seed", 1, "seed of the weights, data order and translations")
	progressive := flag.Float64("progressive", 0, "if > 0, train in float and blend into ternary over this fraction of the steps (from the start)")
	ckpt := flag.String("checkpoint", "", "checkpoint file, written every epoch and resumed from")
	flag.Parse()

	var widths []int
	for _, s := range strings.Split(*hidden, ",") {
		w, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || w <= 0 {
			log.Fatalf("-hidden: %q is not a width", s)
		}
		widths = append(widths, w)
	}
	trainSet, testSet, err := mnist.Load()
	if err != nil {
		log.Fatal(err)
	}
	opts := train.MNISTOptions{Hidden: widths, Epochs: *epochs, Batch: *batch, LR: *lr, Shift: *shift,
		Seed: *seed, Checkpoint: *ckpt, Log: os.Stderr}
	if *progressive > 0 {
		total := trainSet.Len() / *batch * *epochs
		opts.Progressive = &train.Ramp{Start: 0, End: int(*progressive * float64(total))}
	}
	start := time.Now()
	m, err := train.TrainMNIST(trainSet, testSet, opts)
	if err != nil {
		log.Fatal(err)
	}
	acc := train.EvaluateMLP(m, testSet)
	if err := m.Export(*out); err != nil {
		log.Fatal(err)
	}
	st, _ := os.Stat(*out)
	fmt.Printf("test accuracy %.4f (ternary, %d test images); %s: %d bytes; trained in %s\n",
		acc, testSet.Len(), *out, st.Size(), time.Since(start).Round(time.Second))
}
