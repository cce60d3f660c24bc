package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/speakez/barewire/sdk"
)

func init() {
	register(command{name: "classify", summary: "class scores of JSON input vectors, one JSON object per input", run: runClassify})
}

// stdin is what a "-" argument reads (tests replace it).
var stdin io.Reader = os.Stdin

const classifyUsage = `usage: edge-agent classify --model MODEL --input FILE|- [--threads N] [--backend auto|cpu|cuda]

FILE holds one input vector ([0, 12, ...]) or a list of them ([[...], [...]]),
in the raw units of the data (for MNIST, 784 pixel values 0..255); the model
applies its own normalization. One JSON object is printed per input:
{"index": i, "label": k, "name": "...", "scores": [...]}.`

// classifyJSON is one line of classify's output. Scores are the logits.
type classifyJSON struct {
	Index  int       `json:"index"`
	Label  int       `json:"label"`
	Name   string    `json:"name,omitempty"`
	Scores []float32 `json:"scores"`
}

func runClassify(args []string, stdout, stderr io.Writer) (err error) {
	defer noPanic(&err)
	fs := flag.NewFlagSet("classify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, classifyUsage) }
	model := fs.String("model", "", "model file (.bwm) or release directory")
	input := fs.String("input", "", "JSON file of input vectors, or - for standard input")
	threads := fs.Int("threads", 0, "worker threads (0: one per physical core)")
	backend := fs.String("backend", "auto", "auto, cpu or cuda")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *model == "" || *input == "" || fs.NArg() != 0 {
		return fmt.Errorf("%w: --model and --input are required and no other arguments are taken\n%s", errUsage, classifyUsage)
	}
	var data []byte
	if *input == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(*input)
	}
	if err != nil {
		return err
	}
	inputs, err := parseInputs(data)
	if err != nil {
		return fmt.Errorf("input %s: %w", *input, err)
	}
	m, err := sdk.Open(*model, sdk.WithThreads(*threads), sdk.WithBackend(*backend))
	if err != nil {
		return err
	}
	defer m.Close()
	if m.Classes() == 0 {
		return fmt.Errorf("model %s (architecture %q) is not a classifier", *model, m.Arch())
	}
	enc := json.NewEncoder(stdout)
	for i, x := range inputs {
		scores, label, err := m.Classify(context.Background(), x)
		if err != nil {
			return fmt.Errorf("input %d: %w", i, err)
		}
		out := classifyJSON{Index: i, Label: label, Scores: scores}
		if l := m.Labels(); l != nil {
			out.Name = l[label]
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
	return nil
}

// parseInputs accepts one vector or a list of vectors.
func parseInputs(data []byte) ([][]float32, error) {
	var one []float32
	if err := json.Unmarshal(data, &one); err == nil {
		if len(one) == 0 {
			return nil, errors.New("empty input vector")
		}
		return [][]float32{one}, nil
	}
	var many [][]float32
	if err := json.Unmarshal(data, &many); err != nil {
		return nil, fmt.Errorf("want a JSON array of numbers or an array of such arrays: %w", err)
	}
	if len(many) == 0 {
		return nil, errors.New("empty list of inputs")
	}
	return many, nil
}
