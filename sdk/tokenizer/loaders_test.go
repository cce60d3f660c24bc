package tokenizer

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// ggufFromSpec writes a byte-level spec as GGUF metadata: normal tokens in
// byte-to-unicode spelling, merges as "a b".
func ggufFromSpec(t testing.TB, s bpeSpec) GGUFVocab {
	cfg := s.config(t)
	v := GGUFVocab{Model: "gpt2", Pre: "llama-bpe", BOS: cfg.BOS, EOS: cfg.EOS, EOT: NoToken, Unknown: NoToken, Padding: cfg.EOS, AddBOS: true}
	for i, p := range cfg.Tokens {
		if cfg.Types[i] == TypeNormal {
			p = mapBytes(p)
		}
		v.Tokens = append(v.Tokens, p)
		v.TokenTypes = append(v.TokenTypes, int32(cfg.Types[i]))
		v.Scores = append(v.Scores, 0)
	}
	for _, m := range cfg.Merges {
		v.Merges = append(v.Merges, v.Tokens[m[0]]+" "+v.Tokens[m[1]])
	}
	return v
}

func sameEncodings(t *testing.T, name string, got, want Tokenizer) {
	t.Helper()
	for _, s := range roundTripCorpus {
		for _, opts := range []EncodeOptions{{}, {AddBOS: true, SpecialsAsText: true}} {
			if g, w := got.Encode(s, opts), want.Encode(s, opts); !slices.Equal(g, w) {
				t.Errorf("%s: Encode(%q, %+v) = %v, want %v", name, s, opts, g, w)
			}
		}
	}
}

func TestFromGGUFByteBPE(t *testing.T) {
	spec := helloSpec
	spec.ignore = true
	v := ggufFromSpec(t, spec)
	tok, err := FromGGUF(v)
	if err != nil {
		t.Fatal(err)
	}
	sameEncodings(t, "gguf gpt2", tok, spec.build(t))
	// The merge " w" is stored as "Ġw".
	if !slices.Contains(v.Merges, "Ġ w") {
		t.Fatalf("test setup: merges %q lack \"Ġ w\"", v.Merges)
	}
	eot, _ := tok.TokenID("<|eot_id|>")
	if !tok.IsStop(eot) || !tok.AddsBOSByDefault() || tok.Kind() != KindByteBPE {
		t.Errorf("IsStop(eot) %v AddsBOSByDefault %v Kind %v", tok.IsStop(eot), tok.AddsBOSByDefault(), tok.Kind())
	}

	// An absent pre key selects LLaMA-3 too (the official BitNet 2B4T file).
	v.Pre = ""
	if _, err := FromGGUF(v); err != nil {
		t.Errorf("absent pre: %v", err)
	}
	// The eot_token_id key adds a stop token.
	v.EOT = 'x'
	if tok, err := FromGGUF(v); err != nil || !tok.IsStop('x') {
		t.Errorf("eot_token_id: err %v", err)
	}
	v.EOT = NoToken

	for _, tc := range []struct {
		edit func(*GGUFVocab)
		want error
		text string
	}{
		{func(v *GGUFVocab) { v.Pre = "qwen2" }, ErrUnsupported, `"qwen2"`},
		{func(v *GGUFVocab) { v.Model = "bert" }, ErrUnsupported, `"bert"`},
		{func(v *GGUFVocab) { v.Merges = append(slices.Clone(v.Merges), "Ġw") }, ErrFormat, "one space"},
		{func(v *GGUFVocab) { v.Merges = append(slices.Clone(v.Merges), "Ġ zzz") }, ErrFormat, `"zzz" is not a normal token`},
		{func(v *GGUFVocab) { v.TokenTypes = v.TokenTypes[:10] }, ErrFormat, "token types"},
		{func(v *GGUFVocab) { v.EOS = len(v.Tokens) }, ErrFormat, "eos_token_id"},
		{func(v *GGUFVocab) {
			v.TokenTypes = slices.Clone(v.TokenTypes)
			v.TokenTypes[3] = 9
		}, ErrFormat, "type 9"},
	} {
		w := v
		tc.edit(&w)
		_, err := FromGGUF(w)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("FromGGUF: err = %v, want %v mentioning %s", err, tc.want, tc.text)
		}
	}
}

func TestFromGGUFSentencePiece(t *testing.T) {
	cfg := spHello.config()
	v := GGUFVocab{Model: "llama", Tokens: cfg.Tokens, Scores: cfg.Scores, BOS: 1, EOS: 2, EOT: NoToken, Unknown: 0, Padding: NoToken, AddBOS: true, AddSpacePrefix: true}
	for _, ty := range cfg.Types {
		v.TokenTypes = append(v.TokenTypes, int32(ty))
	}
	tok, err := FromGGUF(v)
	if err != nil {
		t.Fatal(err)
	}
	sameEncodings(t, "gguf llama", tok, spHello.build(t))
	v.Scores = v.Scores[:5]
	if _, err := FromGGUF(v); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "scores") {
		t.Errorf("short scores: err = %v", err)
	}
}

// hfJSONFromSpec writes a byte-level spec as a LLaMA-3 style
// tokenizer.json; pairs selects the ["a", "b"] merge form.
func hfJSONFromSpec(t testing.TB, s bpeSpec, pairs bool) map[string]any {
	cfg := s.config(t)
	vocab := map[string]int{}
	var added []map[string]any
	for i, p := range cfg.Tokens {
		if cfg.Types[i] == TypeNormal {
			vocab[mapBytes(p)] = i
		} else {
			added = append(added, map[string]any{"id": i, "content": p, "special": true, "lstrip": false, "rstrip": false, "normalized": false, "single_word": false})
		}
	}
	var merges any
	if pairs {
		var m [][]string
		for _, mp := range cfg.Merges {
			m = append(m, []string{mapBytes(cfg.Tokens[mp[0]]), mapBytes(cfg.Tokens[mp[1]])})
		}
		merges = m
	} else {
		var m []string
		for _, mp := range cfg.Merges {
			m = append(m, mapBytes(cfg.Tokens[mp[0]])+" "+mapBytes(cfg.Tokens[mp[1]]))
		}
		merges = m
	}
	return map[string]any{
		"version":      "1.0",
		"added_tokens": added,
		"normalizer":   nil,
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": Llama3Pattern}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
		}},
		"post_processor": map[string]any{"type": "Sequence", "processors": []any{
			map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
			map[string]any{"type": "TemplateProcessing",
				"single": []any{
					map[string]any{"SpecialToken": map[string]any{"id": "<|begin_of_text|>", "type_id": 0}},
					map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
				},
				"pair": []any{
					map[string]any{"SpecialToken": map[string]any{"id": "<|begin_of_text|>", "type_id": 0}},
					map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
					map[string]any{"SpecialToken": map[string]any{"id": "<|begin_of_text|>", "type_id": 1}},
					map[string]any{"Sequence": map[string]any{"id": "B", "type_id": 1}},
				},
				"special_tokens": map[string]any{
					"<|begin_of_text|>": map[string]any{"id": "<|begin_of_text|>", "ids": []int{cfg.BOS}, "tokens": []string{"<|begin_of_text|>"}},
				},
			},
		}},
		"decoder": map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model": map[string]any{
			"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": false, "byte_fallback": false,
			"ignore_merges": s.ignore, "vocab": vocab, "merges": merges,
		},
	}
}

func TestFromTokenizerJSON(t *testing.T) {
	spec := helloSpec
	spec.ignore = true
	want := spec.build(t)
	for _, pairs := range []bool{false, true} {
		data, err := json.Marshal(hfJSONFromSpec(t, spec, pairs))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := FromTokenizerJSON(data)
		if err != nil {
			t.Fatalf("pairs=%v: %v", pairs, err)
		}
		sameEncodings(t, "tokenizer.json", tok, want)
		bos, _ := tok.TokenID("<|begin_of_text|>")
		eos, _ := tok.TokenID("<|end_of_text|>")
		if tok.BOS() != bos || tok.EOS() != eos || !tok.AddsBOSByDefault() {
			t.Errorf("BOS %d (want %d) EOS %d (want %d) AddsBOSByDefault %v", tok.BOS(), bos, tok.EOS(), eos, tok.AddsBOSByDefault())
		}
	}
	// ignore_merges is read from the file.
	data, _ := json.Marshal(hfJSONFromSpec(t, bpeSpec{extra: []string{"he", "hello"}, merges: [][2]string{{"h", "e"}}, ignore: true}, false))
	tok, err := FromTokenizerJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	expectPieces(t, tok, "hello", EncodeOptions{}, "hello")
}

func TestFromTokenizerJSONRefuses(t *testing.T) {
	for _, tc := range []struct {
		edit func(m map[string]any)
		want error
		text string
	}{
		{func(m map[string]any) { m["model"].(map[string]any)["type"] = "Unigram" }, ErrUnsupported, `"Unigram"`},
		{func(m map[string]any) { m["model"].(map[string]any)["byte_fallback"] = true }, ErrUnsupported, "byte_fallback"},
		{func(m map[string]any) { m["normalizer"] = map[string]any{"type": "NFC"} }, ErrUnsupported, `"NFC"`},
		{func(m map[string]any) { m["decoder"] = map[string]any{"type": "Metaspace"} }, ErrUnsupported, `"Metaspace"`},
		{func(m map[string]any) { m["pre_tokenizer"] = map[string]any{"type": "Whitespace"} }, ErrUnsupported, `"Whitespace"`},
		{func(m map[string]any) {
			m["pre_tokenizer"] = map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}
		}, ErrUnsupported, `"ByteLevel"`},
		{func(m map[string]any) {
			p := m["pre_tokenizer"].(map[string]any)["pretokenizers"].([]any)[0].(map[string]any)
			p["pattern"] = map[string]any{"Regex": `\s+`}
		}, ErrUnsupported, `Split pattern "\\s+"`},
		{func(m map[string]any) { m["model"].(map[string]any)["merges"] = []string{"Ġw"} }, ErrFormat, "one space"},
		{func(m map[string]any) { m["model"].(map[string]any)["merges"] = [][]string{{"a", "b", "c"}} }, ErrFormat, "3 parts"},
		{func(m map[string]any) { m["model"].(map[string]any)["vocab"].(map[string]int)["zz"] = 100000 }, ErrFormat, "not contiguous"},
	} {
		m := hfJSONFromSpec(t, helloSpec, false)
		tc.edit(m)
		data, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		_, err = FromTokenizerJSON(data)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("FromTokenizerJSON: err = %v, want %v mentioning %s", err, tc.want, tc.text)
		}
	}
	if _, err := FromTokenizerJSON([]byte("{")); !errors.Is(err, ErrFormat) {
		t.Errorf("truncated JSON: err = %v", err)
	}
}
