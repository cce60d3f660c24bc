package tokenizer

import (
	"fmt"
	"strings"
)

// GGUFVocab holds the tokenizer.* metadata of a GGUF file (GGML
// docs/gguf.md, "Tokenizer"), filled in by the GGUF importer.
type GGUFVocab struct {
	// Model is tokenizer.ggml.model: "gpt2" (byte-level BPE) or "llama"
	// (SentencePiece BPE).
	Model string
	// Pre is tokenizer.ggml.pre, "" when the key is absent.
	Pre string
	// Tokens is tokenizer.ggml.tokens. For "gpt2" normal tokens are spelled
	// in GPT-2's byte-to-unicode characters; for "llama" they are
	// SentencePiece pieces.
	Tokens []string
	// Scores is tokenizer.ggml.scores (needed for "llama", ignored for
	// "gpt2", where it is all zeros).
	Scores []float32
	// TokenTypes is tokenizer.ggml.token_type (TokenType values); nil means
	// every token is normal.
	TokenTypes []int32
	// Merges is tokenizer.ggml.merges ("a b", for "gpt2").
	Merges []string
	// BOS, EOS, EOT, Unknown and Padding are tokenizer.ggml.bos_token_id,
	// eos_token_id, eot_token_id, unknown_token_id and padding_token_id.
	// An absent key is NoToken (0 is a valid id); see NewGGUFVocab.
	BOS, EOS, EOT, Unknown, Padding int
	// AddBOS is tokenizer.ggml.add_bos_token.
	AddBOS bool
	// AddSpacePrefix is tokenizer.ggml.add_space_prefix; llama.cpp treats an
	// absent key as true for "llama" models, and the importer should too.
	AddSpacePrefix bool
}

// NewGGUFVocab returns a GGUFVocab holding the values of absent keys: every
// special id NoToken and AddSpacePrefix true. An importer starts from it
// and sets the keys the file has.
func NewGGUFVocab() GGUFVocab {
	return GGUFVocab{BOS: NoToken, EOS: NoToken, EOT: NoToken, Unknown: NoToken, Padding: NoToken, AddSpacePrefix: true}
}

// llama3PreNames are the tokenizer.ggml.pre values for which llama.cpp uses
// the LLaMA-3 split pattern (llama-vocab.cpp: LLAMA_VOCAB_PRE_TYPE_LLAMA3,
// DBRX and SMAUG share it).
var llama3PreNames = map[string]bool{"llama-bpe": true, "llama3": true, "dbrx": true, "smaug-bpe": true}

// FromGGUF builds a tokenizer from GGUF tokenizer metadata.
//
// For "gpt2" an absent tokenizer.ggml.pre selects the LLaMA-3 pattern and
// ignore_merges: the official BitNet b1.58 2B4T GGUF lacks the key and its
// reference tokenizer (Hugging Face tokenizer.json) is LLaMA-3's, whereas
// llama.cpp would fall back to its GPT-2-like "default" split and tokenize
// some digit and punctuation runs differently. Other pre values are refused.
func FromGGUF(v GGUFVocab) (Tokenizer, error) {
	n := len(v.Tokens)
	types := make([]TokenType, n)
	switch {
	case v.TokenTypes == nil:
		for i := range types {
			types[i] = TypeNormal
		}
	case len(v.TokenTypes) != n:
		return nil, fmt.Errorf("%w: gguf: %d tokens but %d token types", ErrFormat, n, len(v.TokenTypes))
	default:
		for i, t := range v.TokenTypes {
			if t == 0 { // LLAMA_TOKEN_TYPE_UNDEFINED: llama.cpp treats it as normal
				t = int32(TypeNormal)
			}
			if t < int32(TypeNormal) || t > int32(TypeByte) {
				return nil, fmt.Errorf("%w: gguf: token %d (%q) has type %d, want 1..6", ErrFormat, i, v.Tokens[i], t)
			}
			types[i] = TokenType(t)
		}
	}
	for _, s := range []struct {
		name string
		id   int
	}{{"bos_token_id", v.BOS}, {"eos_token_id", v.EOS}, {"eot_token_id", v.EOT}, {"unknown_token_id", v.Unknown}, {"padding_token_id", v.Padding}} {
		if s.id < NoToken || s.id >= n {
			return nil, fmt.Errorf("%w: gguf: tokenizer.ggml.%s = %d outside vocabulary of %d tokens", ErrFormat, s.name, s.id, n)
		}
	}
	stops := namedStops(v.Tokens, types)
	if v.EOT != NoToken {
		stops = append(stops, v.EOT)
	}
	switch v.Model {
	case "gpt2":
		if v.Pre != "" && !llama3PreNames[v.Pre] {
			return nil, fmt.Errorf("%w: gguf: tokenizer.ggml.pre %q (implemented: llama-bpe, llama3, dbrx, smaug-bpe, or absent)", ErrUnsupported, v.Pre)
		}
		tokens := make([]string, n)
		index := make(map[string]int32, n)
		for i, s := range v.Tokens {
			if types[i] == TypeNormal {
				tokens[i], _ = unmapBytes(s)
				if _, dup := index[s]; !dup {
					index[s] = int32(i)
				}
			} else {
				tokens[i] = s
			}
		}
		merges, err := parseMergeStrings(v.Merges, index)
		if err != nil {
			return nil, fmt.Errorf("gguf: %w", err)
		}
		t, err := NewByteBPE(ByteBPEConfig{
			Tokens: tokens, Types: types, Merges: merges,
			IgnoreMerges: true, PreTokenizer: PreLlama3,
			BOS: v.BOS, EOS: v.EOS, Unknown: v.Unknown, Padding: v.Padding,
			Stops: stops, AddBOS: v.AddBOS,
		})
		if err != nil {
			return nil, fmt.Errorf("gguf: %w", err)
		}
		return t, nil
	case "llama":
		if len(v.Scores) != n {
			return nil, fmt.Errorf("%w: gguf: %d tokens but %d scores", ErrFormat, n, len(v.Scores))
		}
		t, err := NewSentencePiece(SentencePieceConfig{
			Tokens: v.Tokens, Scores: v.Scores, Types: types,
			AddDummyPrefix: v.AddSpacePrefix,
			BOS:            v.BOS, EOS: v.EOS, Unknown: v.Unknown, Padding: v.Padding,
			Stops: stops, AddBOS: v.AddBOS,
		})
		if err != nil {
			return nil, fmt.Errorf("gguf: %w", err)
		}
		return t, nil
	}
	return nil, fmt.Errorf("%w: gguf: tokenizer.ggml.model %q (implemented: \"gpt2\", \"llama\")", ErrUnsupported, v.Model)
}

// parseMergeStrings turns "a b" merges into id pairs. index maps the
// byte-to-unicode spelling of each normal token to its id. A token never
// contains a plain space in that spelling (space is 'Ġ'), so the single
// space separates the two halves, as in Hugging Face's merges.txt format.
func parseMergeStrings(merges []string, index map[string]int32) ([][2]int32, error) {
	out := make([][2]int32, 0, len(merges))
	for i, m := range merges {
		a, b, ok := strings.Cut(m, " ")
		if !ok || strings.Contains(b, " ") {
			return nil, fmt.Errorf("%w: merge %d is %q, want two tokens separated by one space", ErrFormat, i, m)
		}
		p, err := mergePair(i, a, b, index)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func mergePair(i int, a, b string, index map[string]int32) ([2]int32, error) {
	ia, ok := index[a]
	if !ok {
		return [2]int32{}, fmt.Errorf("%w: merge %d (%q %q): %q is not a normal token", ErrFormat, i, a, b, a)
	}
	ib, ok := index[b]
	if !ok {
		return [2]int32{}, fmt.Errorf("%w: merge %d (%q %q): %q is not a normal token", ErrFormat, i, a, b, b)
	}
	return [2]int32{ia, ib}, nil
}
