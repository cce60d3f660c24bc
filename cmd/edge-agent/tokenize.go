package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/speakez/barewire/sdk"
	"github.com/speakez/barewire/sdk/tokenizer"
)

func init() {
	register(command{name: "tokenize", summary: "token ids of a text with a model's tokenizer", run: runTokenize})
}

const tokenizeUsage = `usage: edge-agent tokenize --model MODEL [--bos] [--json] TEXT|-

Prints the token ids of TEXT (or of standard input for -), separated by
spaces; no BOS unless --bos. --json prints {"ids": [...], "pieces": [...]},
pieces being each token's text.`

func runTokenize(args []string, stdout, stderr io.Writer) (err error) {
	defer noPanic(&err)
	fs := flag.NewFlagSet("tokenize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, tokenizeUsage) }
	model := fs.String("model", "", "model file (.bwm) or release directory")
	bos := fs.Bool("bos", false, "prepend the BOS token")
	asJSON := fs.Bool("json", false, "print JSON")
	text, err := parseModelArgs(fs, args)
	if err != nil {
		if strings.Contains(err.Error(), "want exactly one MODEL") {
			return fmt.Errorf("%w: want exactly one TEXT argument (or - for standard input)\n%s", errUsage, tokenizeUsage)
		}
		return err
	}
	if *model == "" {
		return fmt.Errorf("%w: --model is required\n%s", errUsage, tokenizeUsage)
	}
	if text == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return err
		}
		text = string(b)
	}
	m, err := sdk.Open(*model)
	if err != nil {
		return err
	}
	defer m.Close()
	tk := m.Tokenizer()
	if tk == nil {
		return fmt.Errorf("model %s (architecture %q) has no tokenizer", *model, m.Arch())
	}
	ids := tk.Encode(text, tokenizer.EncodeOptions{AddBOS: *bos})
	if *asJSON {
		pieces := make([]string, len(ids))
		for i, id := range ids {
			pieces[i] = tk.Decode([]int{id})
		}
		return json.NewEncoder(stdout).Encode(struct {
			IDs    []int    `json:"ids"`
			Pieces []string `json:"pieces"`
		}{ids, pieces})
	}
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, id)
	}
	b.WriteByte('\n')
	_, err = io.WriteString(stdout, b.String())
	return err
}
