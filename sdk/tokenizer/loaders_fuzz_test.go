package tokenizer

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkLoaded exercises a tokenizer a loader accepted: every id it encodes
// is inside the vocabulary and decoding them does not fail.
func checkLoaded(t *testing.T, tok Tokenizer) {
	t.Helper()
	if tok.VocabSize() <= 0 {
		t.Fatalf("accepted a tokenizer with %d tokens", tok.VocabSize())
	}
	for _, s := range []string{"", "hello world", "I'm 12345 \n\n", "a\xffé日 <|begin_of_text|>"} {
		for _, opts := range []EncodeOptions{{}, {AddBOS: true, AddEOS: true, SpecialsAsText: true}} {
			ids := tok.Encode(s, opts)
			for _, id := range ids {
				if id < 0 || id >= tok.VocabSize() {
					t.Fatalf("Encode(%q) gave id %d outside the vocabulary of %d", s, id, tok.VocabSize())
				}
			}
			_ = tok.Decode(ids)
		}
	}
}

// loaderErr fails unless err names one of the package's error kinds.
func loaderErr(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnsupported) {
		t.Fatalf("error %v wraps neither ErrFormat nor ErrUnsupported", err)
	}
}

// FuzzTokenizerJSON: a Hugging Face tokenizer.json comes from outside; any
// bytes give a tokenizer that works or ErrFormat/ErrUnsupported, never a
// panic.
func FuzzTokenizerJSON(f *testing.F) {
	for _, pairs := range []bool{false, true} {
		data, err := json.Marshal(hfJSONFromSpec(f, helloSpec, pairs))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	if data, err := os.ReadFile(filepath.Join("testdata", "llama3-mini", "tokenizer.json")); err == nil {
		f.Add(data)
	} else {
		f.Fatal(err)
	}
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}`))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := FromTokenizerJSON(data)
		if err != nil {
			loaderErr(t, err)
			return
		}
		checkLoaded(t, tok)
	})
}

// FuzzFromGGUF: GGUF tokenizer metadata (tokenizer.ggml.*) comes from
// outside. Tokens are NUL-separated, merges newline-separated, one byte a
// token type.
func FuzzFromGGUF(f *testing.F) {
	add := func(v GGUFVocab) {
		types := make([]byte, len(v.TokenTypes))
		for i, x := range v.TokenTypes {
			types[i] = byte(x)
		}
		f.Add(v.Model, v.Pre, strings.Join(v.Tokens, "\x00"), strings.Join(v.Merges, "\n"), types, v.BOS, v.EOS, v.Unknown, v.AddBOS)
	}
	add(ggufFromSpec(f, helloSpec))
	f.Add("llama", "", "<unk>\x00<s>\x00</s>\x00▁a\x00b", "", []byte{2, 3, 3, 1, 1}, 1, 2, 0, true)
	f.Fuzz(func(t *testing.T, model, pre, tokens, merges string, types []byte, bos, eos, unk int, addBOS bool) {
		v := NewGGUFVocab()
		v.Model, v.Pre, v.BOS, v.EOS, v.Unknown, v.AddBOS = model, pre, bos, eos, unk, addBOS
		if tokens != "" {
			v.Tokens = strings.Split(tokens, "\x00")
		}
		if merges != "" {
			v.Merges = strings.Split(merges, "\n")
		}
		if types != nil {
			v.TokenTypes = make([]int32, len(types))
			for i, b := range types {
				v.TokenTypes[i] = int32(int8(b))
			}
		}
		v.Scores = make([]float32, len(v.Tokens))
		for i := range v.Scores {
			v.Scores[i] = float32(i % 7)
		}
		tok, err := FromGGUF(v)
		if err != nil {
			loaderErr(t, err)
			return
		}
		checkLoaded(t, tok)
	})
}
