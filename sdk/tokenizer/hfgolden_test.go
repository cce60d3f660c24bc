package tokenizer

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// The fixture in testdata/llama3-mini is a LLaMA-3 shaped tokenizer.json
// (byte-level BPE trained on benchParagraph, LLaMA-3's chat control tokens,
// ignore_merges) written by TestWriteSeedCorpus, and hf-golden.json holds
// the ids that Hugging Face tokenizers gives for inputs.json, produced by
// gen-golden.js beside them. The test checks this package against the
// reference implementation itself, not against our reading of its rules.
const llama3MiniDir = "testdata/llama3-mini"

func llama3MiniSpec() bpeSpec {
	spec := trainBPE(benchText, 400)
	// Tokens no merge reaches: only ignore_merges can produce them whole.
	spec.extra = append(spec.extra, "zzz", " quixotic", "!!!")
	spec.specials = []string{"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}
	return spec
}

func llama3MiniInputs() []string {
	var in []string
	for _, tc := range llama3Golden {
		in = append(in, tc.in)
	}
	in = append(in, roundTripCorpus...)
	in = append(in, benchParagraph, "zzz zzzz quixotic quixotic!!! !!!!",
		"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
	alphabet := []string{"a", "e", "t", "h", "the", " ", "  ", "\n", "\r\n", "\t", "'", "'s", "'LL", "1", "23", "!", "?!", ".", "$", "é", "日本", "🙂", "\u00a0", "\u3000", "<|eot_id|>", "zzz", "ſ", "٣"}
	r := rand.New(rand.NewPCG(5, 6))
	for range 300 {
		var b strings.Builder
		for range r.IntN(16) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		in = append(in, b.String())
	}
	// JSON (and so the reference) carries only valid UTF-8.
	return slices.DeleteFunc(in, func(s string) bool { return !utf8.ValidString(s) })
}

func writeLlama3Mini(t *testing.T) {
	if err := os.MkdirAll(llama3MiniDir, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := llama3MiniSpec()
	spec.ignore = true
	tj, err := json.MarshalIndent(hfJSONFromSpec(t, spec, true), "", " ")
	if err != nil {
		t.Fatal(err)
	}
	in, err := json.MarshalIndent(llama3MiniInputs(), "", " ")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"tokenizer.json": tj, "inputs.json": in} {
		if err := os.WriteFile(filepath.Join(llama3MiniDir, name), append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHuggingFaceGolden(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(llama3MiniDir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := FromTokenizerJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	var golden []struct {
		Text string `json:"text"`
		IDs  []int  `json:"ids"`
	}
	data, err = os.ReadFile(filepath.Join(llama3MiniDir, "hf-golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &golden); err != nil {
		t.Fatal(err)
	}
	if len(golden) < 300 {
		t.Fatalf("hf-golden.json has %d cases", len(golden))
	}
	for _, g := range golden {
		// The reference's post-processor adds <|begin_of_text|>.
		got := tok.Encode(g.Text, EncodeOptions{AddBOS: tok.AddsBOSByDefault()})
		if !slices.Equal(got, g.IDs) {
			t.Errorf("Encode(%q) = %v (%q)\n  Hugging Face %v (%q)", g.Text, got, pieces(tok, got), g.IDs, pieces(tok, g.IDs))
		}
		// Hugging Face's decode (skip_special_tokens=false) gives back
		// "<|begin_of_text|>" + text for every case of the fixture.
		if d := tok.Decode(g.IDs); d != "<|begin_of_text|>"+g.Text {
			t.Errorf("Decode(%v) = %q, want %q", g.IDs, d, "<|begin_of_text|>"+g.Text)
		}
	}
}
