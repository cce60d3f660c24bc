package tokenizer

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// spaceMark is SentencePiece's whitespace escape, U+2581 LOWER ONE EIGHTH
// BLOCK, written "▁".
const spaceMark = "\u2581"

// SentencePieceConfig describes a SentencePiece BPE tokenizer (LLaMA-2,
// 1bitLLM, MMfreeLM). Tokens are the pieces as stored in tokenizer.model or
// GGUF tokenizer.ggml.tokens, with "▁" for spaces and "<0xHH>" for byte
// tokens.
type SentencePieceConfig struct {
	Tokens []string
	Scores []float32
	Types  []TokenType
	// AddDummyPrefix puts a space in front of the text (NormalizerSpec
	// add_dummy_prefix; GGUF tokenizer.ggml.add_space_prefix).
	AddDummyPrefix bool
	// BOS, EOS, Unknown and Padding are token ids or NoToken.
	BOS, EOS, Unknown, Padding int
	Stops                      []int
	AddBOS                     bool
}

// sentencePiece is SentencePiece's BPE model (sentencepiece bpe_model.cc) as
// llama.cpp's llm_tokenizer_spm runs it.
//
// Encoding: spaces become "▁"; with AddDummyPrefix a space is put in front
// of the text and, following llama.cpp, in front of each span that follows
// a special token. The span is split into characters; the adjacent pair
// whose concatenation is a normal or user-defined piece with the highest
// score (leftmost on ties) is merged, repeatedly. A final symbol that is not
// a piece becomes its bytes' <0xHH> tokens when the vocabulary has all 256
// of them (byte fallback), else the unknown token.
//
// Decoding reverses it: "▁" becomes a space, byte tokens their byte, and one
// leading space is removed at the start of the output and after a special
// token, so Decode(Encode(s)) == s for text without special tokens.
//
// Divergences from the sentencepiece library: the normalizer is the
// identity (LLaMA's tokenizer.model uses "identity"), and a byte of invalid
// UTF-8 is kept as its own symbol (and so byte-fallback token) where
// sentencepiece would replace it with U+FFFD; both keep the round trip exact.
type sentencePiece struct {
	vocab
	cfg          SentencePieceConfig
	mergeable    map[string]int32
	byteID       [256]int32
	byteFallback bool
	// display is the decoded text of each token: spaces for "▁", the byte
	// for byte tokens.
	display []string
}

// NewSentencePiece builds a SentencePiece BPE tokenizer.
func NewSentencePiece(cfg SentencePieceConfig) (Tokenizer, error) {
	if len(cfg.Scores) != len(cfg.Tokens) {
		return nil, fmt.Errorf("%w: %d tokens but %d scores", ErrFormat, len(cfg.Tokens), len(cfg.Scores))
	}
	cfg.Tokens, cfg.Scores, cfg.Types, cfg.Stops = slices.Clone(cfg.Tokens), slices.Clone(cfg.Scores), slices.Clone(cfg.Types), slices.Clone(cfg.Stops)
	t := &sentencePiece{cfg: cfg}
	if err := t.init(cfg.Tokens, cfg.Types, cfg.BOS, cfg.EOS, cfg.Unknown, cfg.Padding, cfg.Stops); err != nil {
		return nil, err
	}
	t.addBOS = cfg.AddBOS
	t.mergeable = make(map[string]int32, len(cfg.Tokens))
	t.display = make([]string, len(cfg.Tokens))
	for i := range t.byteID {
		t.byteID[i] = -1
	}
	nbytes := 0
	for i, p := range cfg.Tokens {
		switch cfg.Types[i] {
		case TypeNormal, TypeUserDefined:
			if _, dup := t.mergeable[p]; !dup && p != "" {
				t.mergeable[p] = int32(i)
			}
			t.display[i] = strings.ReplaceAll(p, spaceMark, " ")
		case TypeByte:
			b, ok := parseByteToken(p)
			if !ok {
				return nil, fmt.Errorf("%w: byte token %d is %q, want <0xHH>", ErrFormat, i, p)
			}
			if t.byteID[b] < 0 {
				t.byteID[b] = int32(i)
				nbytes++
			}
			t.display[i] = string([]byte{b})
		default:
			t.display[i] = p
		}
	}
	switch nbytes {
	case 256:
		t.byteFallback = true
	case 0:
		if cfg.Unknown == NoToken {
			return nil, fmt.Errorf("%w: vocabulary has neither byte-fallback tokens nor an unknown token", ErrFormat)
		}
	default:
		return nil, fmt.Errorf("%w: vocabulary has %d of the 256 byte-fallback tokens <0x00>..<0xFF>", ErrFormat, nbytes)
	}
	return t, nil
}

// parseByteToken parses "<0xHH>" (upper- or lower-case hex).
func parseByteToken(p string) (byte, bool) {
	if len(p) != 6 || p[0] != '<' || p[1] != '0' || p[2] != 'x' || p[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexVal(p[3])
	lo, ok2 := hexVal(p[4])
	return hi<<4 | lo, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func (t *sentencePiece) Kind() Kind { return KindSentencePiece }

func (t *sentencePiece) Encode(text string, opts EncodeOptions) []int {
	return encode(t, nil, text, opts)
}

func (t *sentencePiece) EncodeTo(dst []int, text string, opts EncodeOptions) []int {
	return encode(t, dst, text, opts)
}

func (t *sentencePiece) Decode(ids []int) string { return decode(t, ids) }

func (t *sentencePiece) appendToken(dst []byte, id int, first bool) []byte {
	d := t.display[id]
	if first && t.cfg.AddDummyPrefix && t.types[id] == TypeNormal && strings.HasPrefix(d, " ") {
		d = d[1:]
	}
	return append(dst, d...)
}

func (t *sentencePiece) encodeSpan(dst []int, span string, first bool, sc *scratch) []int {
	// Escape: optional dummy prefix, then every ' ' as "▁".
	buf := sc.buf[:0]
	if first && t.cfg.AddDummyPrefix {
		buf = append(buf, spaceMark...)
	}
	for i := 0; i < len(span); i++ {
		if span[i] == ' ' {
			buf = append(buf, spaceMark...)
		} else {
			buf = append(buf, span[i])
		}
	}
	sc.buf = buf
	w := string(buf)

	syms := sc.syms[:0]
	for i := 0; i < len(w); {
		_, n := utf8.DecodeRuneInString(w[i:])
		syms = append(syms, symbol{start: int32(i), end: int32(i + n), prev: int32(len(syms) - 1), next: int32(len(syms) + 1)})
		i += n
	}
	syms[len(syms)-1].next = -1
	h := sc.heap[:0]
	push := func(pos int32) {
		if pos < 0 {
			return
		}
		nx := syms[pos].next
		if nx < 0 {
			return
		}
		l, r := syms[pos], syms[nx]
		if id, ok := t.mergeable[w[l.start:r.end]]; ok {
			h = heapPush(h, candidate{key: -float64(t.cfg.Scores[id]), pos: pos, a: l.end - l.start, b: r.end - r.start, id: id})
		}
	}
	for i := range syms {
		push(int32(i))
	}
	for len(h) > 0 {
		var c candidate
		c, h = heapPop(h)
		l := &syms[c.pos]
		if l.end-l.start != c.a || l.next < 0 || syms[l.next].end-syms[l.next].start != c.b {
			continue // stale: one side has merged since
		}
		r := l.next
		l.end = syms[r].end
		l.next = syms[r].next
		if l.next >= 0 {
			syms[l.next].prev = c.pos
		}
		syms[r].start, syms[r].end = 0, 0
		push(l.prev)
		push(c.pos)
	}
	for i := int32(0); i >= 0; i = syms[i].next {
		s := w[syms[i].start:syms[i].end]
		if id, ok := t.mergeable[s]; ok {
			dst = append(dst, int(id))
			continue
		}
		if t.byteFallback {
			for j := 0; j < len(s); j++ {
				dst = append(dst, int(t.byteID[s[j]]))
			}
			continue
		}
		dst = append(dst, t.unk)
	}
	sc.syms, sc.heap = syms, h
	return dst
}
