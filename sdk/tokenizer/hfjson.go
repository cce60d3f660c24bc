package tokenizer

import (
	"encoding/json"
	"fmt"
)

// The subset of Hugging Face tokenizers' tokenizer.json
// (tokenizers/src/tokenizer/serialization.rs, models/bpe/serialization.rs)
// that a LLaMA-3 style byte-level BPE uses.
type hfTokenizer struct {
	AddedTokens []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         struct {
		Type                    string          `json:"type"`
		Vocab                   map[string]int  `json:"vocab"`
		Merges                  json.RawMessage `json:"merges"`
		IgnoreMerges            bool            `json:"ignore_merges"`
		ByteFallback            bool            `json:"byte_fallback"`
		Dropout                 *float64        `json:"dropout"`
		ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
		UnkToken                *string         `json:"unk_token"`
	} `json:"model"`
}

type hfComponent struct {
	Type string `json:"type"`
	// Sequence
	Pretokenizers []json.RawMessage `json:"pretokenizers"`
	Processors    []json.RawMessage `json:"processors"`
	// Split
	Pattern struct {
		Regex  *string `json:"Regex"`
		String *string `json:"String"`
	} `json:"pattern"`
	Behavior string `json:"behavior"`
	Invert   bool   `json:"invert"`
	// ByteLevel
	AddPrefixSpace bool  `json:"add_prefix_space"`
	UseRegex       *bool `json:"use_regex"`
	// TemplateProcessing
	Single []struct {
		SpecialToken *struct {
			ID string `json:"id"`
		} `json:"SpecialToken"`
	} `json:"single"`
}

func isNull(m json.RawMessage) bool { return len(m) == 0 || string(m) == "null" }

// FromTokenizerJSON loads a Hugging Face tokenizer.json holding a
// byte-level BPE model with the LLaMA-3 pre-tokenizer: model.type "BPE",
// no normalizer, pre_tokenizer Sequence[Split(Llama3Pattern, Isolated),
// ByteLevel(add_prefix_space=false, use_regex=false)] and decoder ByteLevel.
// Anything else is refused with ErrUnsupported naming the component.
//
// BOS is the first special token of a TemplateProcessing post-processor
// (which also sets AddsBOSByDefault) or else the token named
// <|begin_of_text|> or <s>; EOS is <|end_of_text|>, <|endoftext|> or </s>;
// stop tokens add <|eot_id|> and <|eom_id|>. Added tokens are matched in
// text; their lstrip/rstrip/normalized flags are not applied (LLaMA-3 sets
// them all false).
func FromTokenizerJSON(data []byte) (Tokenizer, error) {
	var f hfTokenizer
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: tokenizer.json: %v", ErrFormat, err)
	}
	m := &f.Model
	switch {
	case m.Type != "BPE":
		return nil, fmt.Errorf("%w: tokenizer.json model.type %q (implemented: \"BPE\")", ErrUnsupported, m.Type)
	case m.ByteFallback:
		return nil, fmt.Errorf("%w: tokenizer.json BPE with byte_fallback (a SentencePiece-style model; load its tokenizer.model instead)", ErrUnsupported)
	case m.Dropout != nil && *m.Dropout != 0:
		return nil, fmt.Errorf("%w: tokenizer.json BPE dropout %v", ErrUnsupported, *m.Dropout)
	case m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "":
		return nil, fmt.Errorf("%w: tokenizer.json BPE continuing_subword_prefix %q", ErrUnsupported, *m.ContinuingSubwordPrefix)
	case m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "":
		return nil, fmt.Errorf("%w: tokenizer.json BPE end_of_word_suffix %q", ErrUnsupported, *m.EndOfWordSuffix)
	}
	if !isNull(f.Normalizer) {
		var c hfComponent
		_ = json.Unmarshal(f.Normalizer, &c)
		return nil, fmt.Errorf("%w: tokenizer.json normalizer %q (implemented: none)", ErrUnsupported, c.Type)
	}
	if err := checkPreTokenizer(f.PreTokenizer); err != nil {
		return nil, err
	}
	if err := checkDecoder(f.Decoder); err != nil {
		return nil, err
	}

	// Token table: model.vocab entries are normal tokens spelled in
	// byte-to-unicode characters; added tokens are literal.
	n := 0
	for _, id := range m.Vocab {
		n = max(n, id+1)
	}
	for _, a := range f.AddedTokens {
		n = max(n, a.ID+1)
	}
	if total := len(m.Vocab) + len(f.AddedTokens); n > total {
		return nil, fmt.Errorf("%w: tokenizer.json token ids are not contiguous: largest id %d but %d entries", ErrFormat, n-1, total)
	}
	tokens := make([]string, n)
	types := make([]TokenType, n)
	index := make(map[string]int32, len(m.Vocab))
	for s, id := range m.Vocab {
		if id < 0 {
			return nil, fmt.Errorf("%w: tokenizer.json vocab entry %q has negative id %d", ErrFormat, s, id)
		}
		tokens[id], _ = unmapBytes(s)
		types[id] = TypeNormal
		index[s] = int32(id)
	}
	for _, a := range f.AddedTokens {
		if a.ID < 0 {
			return nil, fmt.Errorf("%w: tokenizer.json added token %q has negative id %d", ErrFormat, a.Content, a.ID)
		}
		tokens[a.ID] = a.Content
		types[a.ID] = TypeUserDefined
		if a.Special {
			types[a.ID] = TypeControl
		}
		if i, ok := index[a.Content]; ok && int(i) == a.ID {
			delete(index, a.Content)
		}
	}
	for id, t := range types {
		if t == 0 {
			return nil, fmt.Errorf("%w: tokenizer.json token ids are not contiguous: id %d missing", ErrFormat, id)
		}
	}

	merges, err := parseHFMerges(m.Merges, index)
	if err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}

	find := func(names ...string) int {
		for _, name := range names {
			for id, p := range tokens {
				if p == name && types[id] != TypeNormal {
					return id
				}
			}
		}
		return NoToken
	}
	bos, addBOS := templateBOS(f.PostProcessor, tokens, types)
	if bos == NoToken {
		bos = find("<|begin_of_text|>", "<s>")
	}
	eos := find("<|end_of_text|>", "<|endoftext|>", "</s>")
	unk := NoToken
	if m.UnkToken != nil {
		unk = find(*m.UnkToken)
	}
	t, err := NewByteBPE(ByteBPEConfig{
		Tokens: tokens, Types: types, Merges: merges,
		IgnoreMerges: m.IgnoreMerges, PreTokenizer: PreLlama3,
		BOS: bos, EOS: eos, Unknown: unk, Padding: NoToken,
		Stops: namedStops(tokens, types), AddBOS: addBOS,
	})
	if err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	return t, nil
}

func checkPreTokenizer(raw json.RawMessage) error {
	if isNull(raw) {
		return fmt.Errorf("%w: tokenizer.json has no pre_tokenizer (implemented: Sequence[Split(LLaMA-3 pattern), ByteLevel])", ErrUnsupported)
	}
	var c hfComponent
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("%w: tokenizer.json pre_tokenizer: %v", ErrFormat, err)
	}
	if c.Type != "Sequence" || len(c.Pretokenizers) != 2 {
		return fmt.Errorf("%w: tokenizer.json pre_tokenizer %q with %d parts (implemented: Sequence[Split(LLaMA-3 pattern), ByteLevel])", ErrUnsupported, c.Type, len(c.Pretokenizers))
	}
	var split, bl hfComponent
	if err := json.Unmarshal(c.Pretokenizers[0], &split); err != nil {
		return fmt.Errorf("%w: tokenizer.json pre_tokenizer: %v", ErrFormat, err)
	}
	if err := json.Unmarshal(c.Pretokenizers[1], &bl); err != nil {
		return fmt.Errorf("%w: tokenizer.json pre_tokenizer: %v", ErrFormat, err)
	}
	switch {
	case split.Type != "Split":
		return fmt.Errorf("%w: tokenizer.json pre_tokenizer part 1 is %q (implemented: Split)", ErrUnsupported, split.Type)
	case split.Pattern.Regex == nil || *split.Pattern.Regex != Llama3Pattern:
		p := "<none>"
		if split.Pattern.Regex != nil {
			p = *split.Pattern.Regex
		}
		return fmt.Errorf("%w: tokenizer.json Split pattern %q (implemented: the LLaMA-3 pattern)", ErrUnsupported, p)
	case split.Behavior != "Isolated" || split.Invert:
		return fmt.Errorf("%w: tokenizer.json Split behavior %q invert=%v (implemented: Isolated, not inverted)", ErrUnsupported, split.Behavior, split.Invert)
	case bl.Type != "ByteLevel":
		return fmt.Errorf("%w: tokenizer.json pre_tokenizer part 2 is %q (implemented: ByteLevel)", ErrUnsupported, bl.Type)
	case bl.AddPrefixSpace:
		return fmt.Errorf("%w: tokenizer.json ByteLevel add_prefix_space=true", ErrUnsupported)
	case bl.UseRegex == nil || *bl.UseRegex:
		return fmt.Errorf("%w: tokenizer.json ByteLevel pre-tokenizer with use_regex (the GPT-2 split)", ErrUnsupported)
	}
	return nil
}

func checkDecoder(raw json.RawMessage) error {
	var c hfComponent
	if !isNull(raw) {
		if err := json.Unmarshal(raw, &c); err != nil {
			return fmt.Errorf("%w: tokenizer.json decoder: %v", ErrFormat, err)
		}
	}
	if c.Type != "ByteLevel" {
		return fmt.Errorf("%w: tokenizer.json decoder %q (implemented: ByteLevel)", ErrUnsupported, c.Type)
	}
	return nil
}

// parseHFMerges reads model.merges in either form written by tokenizers:
// "a b" strings (before 0.20) or ["a", "b"] pairs.
func parseHFMerges(raw json.RawMessage, index map[string]int32) ([][2]int32, error) {
	if isNull(raw) {
		return nil, nil
	}
	var strs []string
	if err := json.Unmarshal(raw, &strs); err == nil {
		return parseMergeStrings(strs, index)
	}
	var pairs [][]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, fmt.Errorf("%w: model.merges is neither [\"a b\", ...] nor [[\"a\", \"b\"], ...]: %v", ErrFormat, err)
	}
	out := make([][2]int32, 0, len(pairs))
	for i, p := range pairs {
		if len(p) != 2 {
			return nil, fmt.Errorf("%w: merge %d has %d parts, want 2", ErrFormat, i, len(p))
		}
		mp, err := mergePair(i, p[0], p[1], index)
		if err != nil {
			return nil, err
		}
		out = append(out, mp)
	}
	return out, nil
}

// templateBOS finds the special token a TemplateProcessing post-processor
// puts first in a single sequence (LLaMA-3: <|begin_of_text|>), looking
// inside a Sequence post-processor too.
func templateBOS(raw json.RawMessage, tokens []string, types []TokenType) (int, bool) {
	if isNull(raw) {
		return NoToken, false
	}
	var c hfComponent
	if json.Unmarshal(raw, &c) != nil {
		return NoToken, false
	}
	switch c.Type {
	case "Sequence":
		for _, p := range c.Processors {
			if id, ok := templateBOS(p, tokens, types); ok {
				return id, ok
			}
		}
	case "TemplateProcessing":
		if len(c.Single) > 0 && c.Single[0].SpecialToken != nil {
			name := c.Single[0].SpecialToken.ID
			for id, p := range tokens {
				if p == name && types[id] != TypeNormal {
					return id, true
				}
			}
		}
	}
	return NoToken, false
}
