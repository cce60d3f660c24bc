package tokenizer

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Sentinel errors callers can branch on with errors.Is.
var (
	// ErrFormat reports tokenizer data (tokenizer.json, GGUF metadata, a
	// tokenizer.model file or a marshalled blob) that is malformed or
	// inconsistent.
	ErrFormat = errors.New("tokenizer: malformed tokenizer data")
	// ErrUnsupported reports well-formed tokenizer data that asks for a kind of
	// model, normalizer, pre-tokenizer or decoder this package does not
	// implement. The error text names the kind.
	ErrUnsupported = errors.New("tokenizer: unsupported tokenizer kind")
)

// NoToken is the id used for a special token the vocabulary does not have.
const NoToken = -1

// Kind names the tokenization algorithm of a Tokenizer.
type Kind uint8

const (
	// KindByteBPE is byte-level BPE (GPT-2 / LLaMA-3): text is split by a
	// pre-tokenizer pattern, each piece's bytes are mapped to printable
	// characters and merged by merge rank.
	KindByteBPE Kind = 1
	// KindSentencePiece is SentencePiece BPE (LLaMA-2): spaces become "▁",
	// adjacent pieces are merged by highest score, unknown characters fall
	// back to byte tokens.
	KindSentencePiece Kind = 2
	// KindByte has one token per byte value.
	KindByte Kind = 3
	// KindChar has one token per character of a fixed alphabet.
	KindChar Kind = 4
)

func (k Kind) String() string {
	switch k {
	case KindByteBPE:
		return "byte-level BPE"
	case KindSentencePiece:
		return "SentencePiece BPE"
	case KindByte:
		return "byte"
	case KindChar:
		return "char"
	}
	return "unknown kind"
}

// TokenType is the role of a vocabulary entry. The values are those of the
// GGUF key tokenizer.ggml.token_type (GGML docs/gguf.md, llama.cpp
// llama_token_type), which are also the values of SentencePiece's
// ModelProto.SentencePiece.Type.
type TokenType uint8

const (
	TypeNormal      TokenType = 1
	TypeUnknown     TokenType = 2
	TypeControl     TokenType = 3
	TypeUserDefined TokenType = 4
	TypeUnused      TokenType = 5
	TypeByte        TokenType = 6
)

// EncodeOptions controls Encode and EncodeTo. The zero value adds no BOS or
// EOS and matches special tokens written in the text.
type EncodeOptions struct {
	// AddBOS prepends the BOS token (if the vocabulary has one).
	AddBOS bool
	// AddEOS appends the EOS token (if the vocabulary has one).
	AddEOS bool
	// SpecialsAsText encodes special-token strings found in the text (such as
	// "<|eot_id|>") as ordinary text instead of as the special token.
	//
	// The default (false) matches them as whole tokens, which is what
	// Hugging Face tokenizers does (split_special_tokens=False) and what a
	// rendered chat template needs. Text that comes from an untrusted user
	// and is spliced into a template should be encoded separately with
	// SpecialsAsText set, so that a user cannot forge a turn boundary.
	SpecialsAsText bool
}

// Tokenizer turns text into token ids and back. A Tokenizer is immutable and
// safe for concurrent use. It is implemented only by the types of this
// package, so that Marshal can serialize any Tokenizer.
type Tokenizer interface {
	// Kind reports the algorithm.
	Kind() Kind
	// Encode returns the token ids of text.
	Encode(text string, opts EncodeOptions) []int
	// EncodeTo appends the token ids of text to dst and returns the extended
	// slice; with enough capacity in dst it does not grow it.
	EncodeTo(dst []int, text string, opts EncodeOptions) []int
	// Decode returns the text of ids. Special tokens are rendered as their
	// literal content; bytes are returned as they are, so the result may be
	// invalid UTF-8 when ids end inside a character (see StreamDecoder for
	// text that is always valid). Ids outside the vocabulary are skipped.
	Decode(ids []int) string
	// VocabSize is the number of token ids (the model's logits width may be
	// padded beyond it).
	VocabSize() int
	// BOS and EOS return the beginning- and end-of-sequence ids, or NoToken.
	BOS() int
	EOS() int
	// IsStop reports whether generation should stop at id (EOS and the chat
	// template's end-of-turn tokens such as <|eot_id|>).
	IsStop(id int) bool
	// StopIDs returns the stop tokens in increasing order.
	StopIDs() []int
	// IsSpecial reports whether id is a control token (BOS, EOS, chat
	// markers), which a streaming decoder may choose not to print.
	IsSpecial(id int) bool
	// TokenID finds a token by its literal content, e.g. "<|eot_id|>".
	// For byte-level BPE the content is the token's bytes, not its
	// byte-to-unicode spelling; for SentencePiece it is the piece as stored
	// (with "▁" for spaces).
	TokenID(content string) (int, bool)
	// AddsBOSByDefault reports whether the model files ask for BOS to be
	// prepended (GGUF tokenizer.ggml.add_bos_token, or a tokenizer.json
	// TemplateProcessing post-processor that begins with a special token).
	AddsBOSByDefault() bool

	base() *vocab
	// encodeSpan appends the ids of a span of text that holds no special
	// tokens. first is true at the start of the text and after a special
	// token (SentencePiece adds its dummy prefix there).
	encodeSpan(dst []int, span string, first bool, sc *scratch) []int
	// appendToken appends the bytes of token id. first is true at the start
	// of the output and after a special token (SentencePiece removes the
	// dummy prefix there).
	appendToken(dst []byte, id int, first bool) []byte
}

// vocab holds what every tokenizer shares: the token table and the special
// tokens.
type vocab struct {
	// pieces is the content of each token: raw bytes for byte-level BPE,
	// the piece as stored for SentencePiece, literal text for special tokens.
	pieces []string
	types  []TokenType
	// byContent finds a token by content; normal tokens win over others with
	// the same content.
	byContent map[string]int32

	bos, eos, unk, pad int
	stops              []int
	addBOS             bool

	// specialsByByte lists, per first byte, the tokens matched in raw text
	// (control, user-defined and unknown tokens, as llama.cpp's
	// tokenizer_st_partition and Hugging Face's added-token matching do),
	// longest first so that the leftmost-longest match wins.
	specialsByByte [256][]int32
}

// init validates the token table and the special ids and builds the
// lookup tables.
func (v *vocab) init(pieces []string, types []TokenType, bos, eos, unk, pad int, extraStops []int) error {
	if len(pieces) != len(types) {
		return fmt.Errorf("%w: %d tokens but %d token types", ErrFormat, len(pieces), len(types))
	}
	v.pieces, v.types = pieces, types
	v.byContent = make(map[string]int32, len(pieces))
	for i, p := range pieces {
		t := types[i]
		if t < TypeNormal || t > TypeByte {
			return fmt.Errorf("%w: token %d (%q) has type %d, want 1..6", ErrFormat, i, p, t)
		}
		if old, ok := v.byContent[p]; !ok || (types[old] != TypeNormal && t == TypeNormal) {
			v.byContent[p] = int32(i)
		}
		if (t == TypeControl || t == TypeUserDefined || t == TypeUnknown) && p != "" {
			v.specialsByByte[p[0]] = append(v.specialsByByte[p[0]], int32(i))
		}
	}
	for b := range v.specialsByByte {
		l := v.specialsByByte[b]
		slices.SortStableFunc(l, func(x, y int32) int { return len(pieces[y]) - len(pieces[x]) })
	}
	n := len(pieces)
	for _, s := range []struct {
		name string
		id   *int
	}{{"BOS", &bos}, {"EOS", &eos}, {"unknown", &unk}, {"padding", &pad}} {
		if *s.id < NoToken || *s.id >= n {
			return fmt.Errorf("%w: %s token id %d outside vocabulary of %d tokens", ErrFormat, s.name, *s.id, n)
		}
	}
	v.bos, v.eos, v.unk, v.pad = bos, eos, unk, pad
	v.stops = v.stops[:0]
	if eos != NoToken {
		v.stops = append(v.stops, eos)
	}
	for _, id := range extraStops {
		if id < 0 || id >= n {
			return fmt.Errorf("%w: stop token id %d outside vocabulary of %d tokens", ErrFormat, id, n)
		}
		v.stops = append(v.stops, id)
	}
	slices.Sort(v.stops)
	v.stops = slices.Compact(v.stops)
	return nil
}

// llamaStopNames are the end-of-turn tokens of the LLaMA-3 chat template and
// of other templates in use; llama.cpp collects the same names as
// end-of-generation tokens.
var llamaStopNames = []string{"<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|endoftext|>", "<|im_end|>", "</s>"}

// namedStops returns the ids of the well-known end-of-turn tokens present
// as control tokens.
func namedStops(pieces []string, types []TokenType) []int {
	want := make(map[string]bool, len(llamaStopNames))
	for _, name := range llamaStopNames {
		want[name] = true
	}
	var ids []int
	for i, p := range pieces {
		if i < len(types) && types[i] == TypeControl && want[p] {
			ids = append(ids, i)
		}
	}
	return ids
}

func (v *vocab) base() *vocab           { return v }
func (v *vocab) VocabSize() int         { return len(v.pieces) }
func (v *vocab) BOS() int               { return v.bos }
func (v *vocab) EOS() int               { return v.eos }
func (v *vocab) StopIDs() []int         { return slices.Clone(v.stops) }
func (v *vocab) AddsBOSByDefault() bool { return v.addBOS }

func (v *vocab) IsStop(id int) bool {
	_, ok := slices.BinarySearch(v.stops, id)
	return ok
}

func (v *vocab) IsSpecial(id int) bool {
	return id >= 0 && id < len(v.types) && v.types[id] == TypeControl
}

func (v *vocab) TokenID(content string) (int, bool) {
	id, ok := v.byContent[content]
	return int(id), ok
}

// matchSpecial returns the id and length of the longest special token that
// starts at text[i], or -1.
func (v *vocab) matchSpecial(text string, i int) (int, int) {
	for _, id := range v.specialsByByte[text[i]] {
		if p := v.pieces[id]; strings.HasPrefix(text[i:], p) {
			return int(id), len(p)
		}
	}
	return -1, 0
}

// scratch holds buffers reused across the spans of one Encode call.
type scratch struct {
	syms []symbol
	heap []candidate
	buf  []byte
}

// encode is the common driver: BOS, then spans of text split at special
// tokens (leftmost-longest, as Hugging Face's added-token matcher does),
// then EOS.
func encode(t Tokenizer, dst []int, text string, opts EncodeOptions) []int {
	v := t.base()
	if opts.AddBOS && v.bos != NoToken {
		dst = append(dst, v.bos)
	}
	var sc scratch
	first := true
	if opts.SpecialsAsText {
		if text != "" {
			dst = t.encodeSpan(dst, text, first, &sc)
		}
	} else {
		start := 0
		for i := 0; i < len(text); {
			if len(v.specialsByByte[text[i]]) == 0 {
				i++
				continue
			}
			id, n := v.matchSpecial(text, i)
			if id < 0 {
				i++
				continue
			}
			if i > start {
				dst = t.encodeSpan(dst, text[start:i], first, &sc)
			}
			dst = append(dst, id)
			first = true
			i += n
			start = i
		}
		if start < len(text) {
			dst = t.encodeSpan(dst, text[start:], first, &sc)
		}
	}
	if opts.AddEOS && v.eos != NoToken {
		dst = append(dst, v.eos)
	}
	return dst
}

// decode renders ids through appendToken, tracking where SentencePiece's
// dummy prefix has to be removed.
func decode(t Tokenizer, ids []int) string {
	v := t.base()
	var out []byte
	first := true
	for _, id := range ids {
		if id < 0 || id >= len(v.pieces) {
			continue
		}
		out = t.appendToken(out, id, first)
		first = isBoundary(v.types[id])
	}
	return string(out)
}

// isBoundary reports whether a token of type t starts a new text span for the
// dummy-prefix rule: special tokens do, as in encode.
func isBoundary(t TokenType) bool {
	return t == TypeControl || t == TypeUserDefined || t == TypeUnknown
}
