package tokenizer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// spSpec is a hand-made LLaMA-2 style vocabulary: <unk> 0, <s> 1, </s> 2,
// byte tokens <0x00>..<0xFF> at 3..258 (when bytes is set), then the
// pieces with their scores.
type spSpec struct {
	pieces []string
	scores []float32
	bytes  bool
	prefix bool
}

func (s spSpec) config() SentencePieceConfig {
	cfg := SentencePieceConfig{
		Tokens: []string{"<unk>", "<s>", "</s>"},
		Scores: []float32{0, 0, 0},
		Types:  []TokenType{TypeUnknown, TypeControl, TypeControl},
		BOS:    1, EOS: 2, Unknown: 0, Padding: NoToken,
		AddDummyPrefix: s.prefix,
		AddBOS:         true,
	}
	if s.bytes {
		for b := 0; b < 256; b++ {
			cfg.Tokens = append(cfg.Tokens, fmt.Sprintf("<0x%02X>", b))
			cfg.Scores = append(cfg.Scores, 0)
			cfg.Types = append(cfg.Types, TypeByte)
		}
	}
	cfg.Tokens = append(cfg.Tokens, s.pieces...)
	cfg.Scores = append(cfg.Scores, s.scores...)
	for range s.pieces {
		cfg.Types = append(cfg.Types, TypeNormal)
	}
	return cfg
}

func (s spSpec) build(t testing.TB) Tokenizer {
	t.Helper()
	tok, err := NewSentencePiece(s.config())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// spHello has single characters with low scores and longer pieces whose
// scores decide the merge order.
var spHello = spSpec{
	pieces: []string{"▁", "h", "e", "l", "o", "w", "r", "d", "ll", "he", "▁he", "llo", "▁hello", "▁w", "or", "▁wor", "ld", "▁world"},
	scores: []float32{-100, -100, -100, -100, -100, -100, -100, -100, -1, -2, -3, -4, -5, -6, -7, -8, -9, -10},
	bytes:  true,
	prefix: true,
}

func TestSentencePieceMergeByScore(t *testing.T) {
	tok := spHello.build(t)
	// "▁hello": ll(-1) -> ▁ h e ll o; he(-2) -> ▁ he ll o; ▁he(-3) ->
	// ▁he ll o; llo(-4) -> ▁he llo; ▁hello(-5).
	expectPieces(t, tok, "hello", EncodeOptions{}, "▁hello")
	// "▁hello▁world": no piece spans the space, so each word merges alone;
	// in "▁world", ▁w(-6) or(-7) ▁wor(-8) ld(-9) ▁world(-10).
	expectPieces(t, tok, "hello world", EncodeOptions{}, "▁hello", "▁world")
	// Two spaces: the dummy prefix and the text's own space.
	expectPieces(t, tok, " hello", EncodeOptions{}, "▁", "▁hello")

	hi := spSpec{pieces: []string{"▁", "a", "b", "c", "ab", "bc"}, scores: []float32{-9, -9, -9, -9, -1, -2}, bytes: true}
	expectPieces(t, hi.build(t), "abc", EncodeOptions{}, "ab", "c")
	hi.scores = []float32{-9, -9, -9, -9, -2, -1}
	expectPieces(t, hi.build(t), "abc", EncodeOptions{}, "a", "bc")
	// Equal scores: leftmost first.
	hi.scores = []float32{-9, -9, -9, -9, -1, -1}
	expectPieces(t, hi.build(t), "abc", EncodeOptions{}, "ab", "c")
}

func TestSentencePieceDummyPrefix(t *testing.T) {
	tok := spHello.build(t)
	ids := tok.Encode("hello", EncodeOptions{AddBOS: true})
	if ids[0] != 1 || len(ids) != 2 {
		t.Fatalf("Encode(hello, AddBOS) = %v", ids)
	}
	// The prefix is added at the start and after each special token
	// (llama.cpp's rule), and removed there again by Decode.
	expectPieces(t, tok, "hello</s>hello", EncodeOptions{}, "▁hello", "</s>", "▁hello")
	if got := tok.Decode(tok.Encode("hello</s>hello", EncodeOptions{})); got != "hello</s>hello" {
		t.Errorf("Decode = %q", got)
	}
	noPrefix := spHello
	noPrefix.prefix = false
	expectPieces(t, noPrefix.build(t), "hello world", EncodeOptions{}, "he", "llo", "▁world")
}

func TestSentencePieceByteFallback(t *testing.T) {
	tok := spHello.build(t)
	// 'é' is C3 A9 and 'z' is not a piece either.
	expectPieces(t, tok, "hé", EncodeOptions{}, "▁", "h", "<0xC3>", "<0xA9>")
	expectPieces(t, tok, "z", EncodeOptions{}, "▁", "<0x7A>")
	// Invalid UTF-8 keeps its bytes.
	expectPieces(t, tok, "h\xff", EncodeOptions{}, "▁", "h", "<0xFF>")
	// Without byte tokens an unknown character is <unk>.
	noBytes := spHello
	noBytes.bytes = false
	expectPieces(t, noBytes.build(t), "hez", EncodeOptions{}, "▁he", "<unk>")
}

func TestSentencePieceRoundTrip(t *testing.T) {
	tok := spHello.build(t)
	r := rand.New(rand.NewPCG(3, 4))
	inputs := slices.Clone(roundTripCorpus)
	alphabet := []string{"h", "e", "l", "o", " ", "  ", "w", "r", "d", "é", "日", "\n", "\xff", "▁", "🙂"}
	for range 300 {
		var b strings.Builder
		for range r.IntN(12) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		inputs = append(inputs, b.String())
	}
	for _, s := range inputs {
		if strings.Contains(s, "▁") {
			// A literal "▁" in the text is indistinguishable from an escaped
			// space, as in sentencepiece itself.
			continue
		}
		ids := tok.Encode(s, EncodeOptions{SpecialsAsText: true})
		if got := tok.Decode(ids); got != s {
			t.Errorf("Decode(Encode(%q)) = %q (%q)", s, got, pieces(tok, ids))
		}
	}
}

func TestNewSentencePieceErrors(t *testing.T) {
	cfg := spHello.config()
	cfg.Tokens = slices.Clone(cfg.Tokens)
	cfg.Tokens[3+0x41] = "<0x4G>"
	if _, err := NewSentencePiece(cfg); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "<0x4G>") {
		t.Errorf("bad byte token: err = %v", err)
	}
	cfg = spHello.config()
	cfg.Types = slices.Clone(cfg.Types)
	cfg.Types[3+0x41] = TypeNormal
	if _, err := NewSentencePiece(cfg); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "255 of the 256") {
		t.Errorf("partial byte tokens: err = %v", err)
	}
	cfg = spHello.config()
	cfg.Scores = cfg.Scores[:3]
	if _, err := NewSentencePiece(cfg); !errors.Is(err, ErrFormat) {
		t.Errorf("short scores: err = %v", err)
	}
}

// protoWriter writes protobuf wire format for test models.
type protoWriter []byte

func (w *protoWriter) varint(field int, v uint64) {
	*w = binary.AppendUvarint(*w, uint64(field)<<3|wireVarint)
	*w = binary.AppendUvarint(*w, v)
}

func (w *protoWriter) bytes(field int, b []byte) {
	*w = binary.AppendUvarint(*w, uint64(field)<<3|wireBytes)
	*w = binary.AppendUvarint(*w, uint64(len(b)))
	*w = append(*w, b...)
}

func (w *protoWriter) float(field int, f float32) {
	*w = binary.AppendUvarint(*w, uint64(field)<<3|wireFixed32)
	*w = binary.LittleEndian.AppendUint32(*w, math.Float32bits(f))
}

// spModelProto serializes cfg as a tokenizer.model ModelProto, with the
// LLaMA-2 trainer and normalizer settings unless changed by edit.
func spModelProto(cfg SentencePieceConfig, modelType uint64, normName string, extraWS bool) []byte {
	var m protoWriter
	for i, p := range cfg.Tokens {
		var sp protoWriter
		sp.bytes(1, []byte(p))
		sp.float(2, cfg.Scores[i])
		if cfg.Types[i] != TypeNormal {
			sp.varint(3, uint64(cfg.Types[i]))
		}
		m.bytes(1, sp)
	}
	var tr protoWriter
	tr.bytes(1, []byte("corpus.txt")) // input, skipped
	tr.varint(3, modelType)
	if slices.Contains(cfg.Types, TypeByte) {
		tr.varint(35, 1) // byte_fallback
	}
	tr.varint(4, uint64(len(cfg.Tokens))) // vocab_size, skipped
	tr.varint(40, uint64(cfg.Unknown))
	tr.varint(41, uint64(cfg.BOS))
	tr.varint(42, uint64(cfg.EOS))
	minusOne := int64(-1)
	tr.varint(43, uint64(minusOne)) // pad_id -1: a ten-byte varint
	tr.float(10, 0.99995)           // character_coverage, skipped
	m.bytes(2, tr)
	var ns protoWriter
	ns.bytes(1, []byte(normName))
	if !cfg.AddDummyPrefix {
		ns.varint(3, 0)
	}
	b := uint64(0)
	if extraWS {
		b = 1
	}
	ns.varint(4, b)
	m.bytes(3, ns)
	return m
}

func TestFromSentencePieceModel(t *testing.T) {
	cfg := spHello.config()
	data := spModelProto(cfg, 2, "identity", false)
	tok, err := FromSentencePieceModel(data)
	if err != nil {
		t.Fatal(err)
	}
	want := spHello.build(t)
	if tok.BOS() != 1 || tok.EOS() != 2 || tok.VocabSize() != want.VocabSize() || !tok.AddsBOSByDefault() || !tok.IsStop(2) {
		t.Errorf("loaded BOS %d EOS %d size %d addBOS %v", tok.BOS(), tok.EOS(), tok.VocabSize(), tok.AddsBOSByDefault())
	}
	for _, s := range roundTripCorpus {
		if g, w := tok.Encode(s, EncodeOptions{}), want.Encode(s, EncodeOptions{}); !slices.Equal(g, w) {
			t.Errorf("Encode(%q) from tokenizer.model = %v, from config %v", s, g, w)
		}
	}

	for _, tc := range []struct {
		data []byte
		want error
		text string
	}{
		{spModelProto(cfg, 1, "identity", false), ErrUnsupported, "UNIGRAM"},
		{spModelProto(cfg, 2, "nmt_nfkc", false), ErrUnsupported, "nmt_nfkc"},
		{spModelProto(cfg, 2, "identity", true), ErrUnsupported, "remove_extra_whitespaces"},
		{data[:len(data)-3], ErrFormat, "past end"},
		{[]byte{0x0b}, ErrFormat, "wire type 3"},
		{[]byte{0x0a, 0x80}, ErrFormat, "varint"},
	} {
		_, err := FromSentencePieceModel(tc.data)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("FromSentencePieceModel: err = %v, want %v mentioning %q", err, tc.want, tc.text)
		}
	}
}

func FuzzSentencePieceModel(f *testing.F) {
	f.Add(spModelProto(spHello.config(), 2, "identity", false))
	small := spSpec{pieces: []string{"▁", "a", "b", "ab"}, scores: []float32{0, 0, 0, 1}}.config()
	f.Add(spModelProto(small, 2, "identity", false))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := FromSentencePieceModel(data)
		if err != nil {
			loaderErr(t, err)
			return
		}
		for _, s := range []string{"", "ab ba", "hello world", "\xff日"} {
			ids := tok.Encode(s, EncodeOptions{AddBOS: true})
			for _, id := range ids {
				if id < 0 || id >= tok.VocabSize() {
					t.Fatalf("Encode(%q) gave id %d outside vocabulary of %d", s, id, tok.VocabSize())
				}
			}
			_ = tok.Decode(ids)
		}
	})
}
