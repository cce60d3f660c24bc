package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"
)

// testdata/sp-mini holds a LLaMA-2 shaped tokenizer.model (BPE, identity
// normalizer, dummy prefix, byte fallback) written by TestWriteSeedCorpus,
// and sp-golden.json the ids that the sentencepiece library itself (its
// WebAssembly build, npm sentencepiece-js 1.1.0) gives for inputs.json,
// produced by gen-golden.js beside them.
const spMiniDir = "testdata/sp-mini"

// spMiniConfig: <unk> <s> </s>, the 256 byte pieces, every character of
// benchText but 'q', 'z', 'Q' and the emoji (so those take the byte
// fallback), and the valid-UTF-8 results of BPE merges learnt on benchText,
// scored by rank.
func spMiniConfig() SentencePieceConfig {
	cfg := spSpec{bytes: true, prefix: true}.config()
	seen := map[string]bool{}
	add := func(p string, score float32) {
		if seen[p] || p == "" || !utf8.ValidString(p) {
			return
		}
		seen[p] = true
		cfg.Tokens = append(cfg.Tokens, p)
		cfg.Scores = append(cfg.Scores, score)
		cfg.Types = append(cfg.Types, TypeNormal)
	}
	var chars []string
	for _, r := range benchText {
		if !strings.ContainsRune("qzQ🙂", r) {
			chars = append(chars, strings.ReplaceAll(string(r), " ", spaceMark))
		}
	}
	sort.Strings(chars)
	for _, c := range slices.Compact(chars) {
		add(c, -1000)
	}
	for rank, m := range trainBPE(benchText, 400).merges {
		add(strings.ReplaceAll(m[0]+m[1], " ", spaceMark), -float32(rank))
	}
	return cfg
}

func spMiniInputs() []string {
	in := llama3MiniInputs()
	// sentencepiece does not parse special tokens in text, and a literal
	// "▁" reads as a space.
	return slices.DeleteFunc(in, func(s string) bool { return strings.Contains(s, spaceMark) })
}

func writeSPMini(t *testing.T) {
	if err := os.MkdirAll(spMiniDir, 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := json.MarshalIndent(spMiniInputs(), "", " ")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"tokenizer.model": spModelProto(spMiniConfig(), 2, "identity", false),
		"inputs.json":     append(in, '\n'),
	} {
		if err := os.WriteFile(filepath.Join(spMiniDir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSentencePieceGolden(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(spMiniDir, "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := FromSentencePieceModel(data)
	if err != nil {
		t.Fatal(err)
	}
	var golden []struct {
		Text string `json:"text"`
		IDs  []int  `json:"ids"`
	}
	data, err = os.ReadFile(filepath.Join(spMiniDir, "sp-golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &golden); err != nil {
		t.Fatal(err)
	}
	if len(golden) < 300 {
		t.Fatalf("sp-golden.json has %d cases", len(golden))
	}
	for _, g := range golden {
		got := tok.Encode(g.Text, EncodeOptions{SpecialsAsText: true})
		if !slices.Equal(got, g.IDs) {
			t.Errorf("Encode(%q) = %v (%q)\n  sentencepiece %v (%q)", g.Text, got, pieces(tok, got), g.IDs, pieces(tok, g.IDs))
		}
		// sentencepiece's DecodeIds gives back the text for every case of
		// the fixture, leading and repeated spaces included.
		if d := tok.Decode(g.IDs); d != g.Text {
			t.Errorf("Decode(%v) = %q, want %q", g.IDs, d, g.Text)
		}
	}
}
