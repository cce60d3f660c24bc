package tokenizer

import (
	"fmt"
	"unicode/utf8"
)

// CharConfig describes a tokenizer for small models with one token per byte
// or per character of a fixed alphabet.
type CharConfig struct {
	// Alphabet lists the characters, token i being the i-th character. An
	// empty Alphabet means one token per byte value (ids 0..255).
	Alphabet string
	// Unknown is the character that stands for characters outside the
	// alphabet (it must be in the alphabet); ignored for the byte form.
	Unknown rune
	// BOS and EOS add a beginning- and an end-of-sequence token after the
	// characters (ids len(alphabet) and len(alphabet)+1, or 256 and 257).
	BOS, EOS bool
}

// charTokenizer maps each byte or alphabet character to one id.
type charTokenizer struct {
	vocab
	cfg    CharConfig
	runes  []rune
	ids    map[rune]int
	unknID int
}

// NewChar builds a byte or char tokenizer.
func NewChar(cfg CharConfig) (Tokenizer, error) {
	t := &charTokenizer{cfg: cfg, unknID: NoToken}
	var pieces []string
	if cfg.Alphabet == "" {
		for b := 0; b < 256; b++ {
			pieces = append(pieces, string([]byte{byte(b)}))
		}
	} else {
		if !utf8.ValidString(cfg.Alphabet) {
			return nil, fmt.Errorf("%w: char alphabet is not valid UTF-8", ErrFormat)
		}
		t.ids = make(map[rune]int)
		for _, r := range cfg.Alphabet {
			if _, dup := t.ids[r]; dup {
				return nil, fmt.Errorf("%w: char alphabet repeats %q", ErrFormat, r)
			}
			t.ids[r] = len(t.runes)
			t.runes = append(t.runes, r)
			pieces = append(pieces, string(r))
		}
		id, ok := t.ids[cfg.Unknown]
		if !ok {
			return nil, fmt.Errorf("%w: char unknown character %q is not in the alphabet", ErrFormat, cfg.Unknown)
		}
		t.unknID = id
	}
	types := make([]TokenType, len(pieces))
	for i := range types {
		types[i] = TypeNormal
	}
	bos, eos := NoToken, NoToken
	// BOS and EOS have no text, so they are never matched in input and
	// decode to nothing.
	if cfg.BOS {
		bos = len(pieces)
		pieces, types = append(pieces, ""), append(types, TypeControl)
	}
	if cfg.EOS {
		eos = len(pieces)
		pieces, types = append(pieces, ""), append(types, TypeControl)
	}
	if err := t.init(pieces, types, bos, eos, NoToken, NoToken, nil); err != nil {
		return nil, err
	}
	t.addBOS = cfg.BOS
	return t, nil
}

func (t *charTokenizer) Kind() Kind {
	if t.runes == nil {
		return KindByte
	}
	return KindChar
}

func (t *charTokenizer) Encode(text string, opts EncodeOptions) []int {
	return encode(t, make([]int, 0, len(text)+2), text, opts)
}

func (t *charTokenizer) EncodeTo(dst []int, text string, opts EncodeOptions) []int {
	return encode(t, dst, text, opts)
}

func (t *charTokenizer) Decode(ids []int) string { return decode(t, ids) }

func (t *charTokenizer) appendToken(dst []byte, id int, _ bool) []byte {
	return append(dst, t.pieces[id]...)
}

func (t *charTokenizer) encodeSpan(dst []int, span string, _ bool, _ *scratch) []int {
	if t.runes == nil {
		for i := 0; i < len(span); i++ {
			dst = append(dst, int(span[i]))
		}
		return dst
	}
	for _, r := range span {
		id, ok := t.ids[r]
		if !ok {
			id = t.unknID
		}
		dst = append(dst, id)
	}
	return dst
}
