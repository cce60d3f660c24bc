package tokenizer

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// bpeSpec is a hand-made byte-level vocabulary: ids 0..255 are the single
// bytes in byte order, then extra normal tokens, then specials (control
// tokens). Merges are pairs of token contents, lowest rank first.
type bpeSpec struct {
	extra    []string
	merges   [][2]string
	specials []string
	ignore   bool
}

func (s bpeSpec) config(t testing.TB) ByteBPEConfig {
	t.Helper()
	var cfg ByteBPEConfig
	for b := 0; b < 256; b++ {
		cfg.Tokens = append(cfg.Tokens, string([]byte{byte(b)}))
		cfg.Types = append(cfg.Types, TypeNormal)
	}
	for _, e := range s.extra {
		cfg.Tokens = append(cfg.Tokens, e)
		cfg.Types = append(cfg.Types, TypeNormal)
	}
	for _, e := range s.specials {
		cfg.Tokens = append(cfg.Tokens, e)
		cfg.Types = append(cfg.Types, TypeControl)
	}
	id := func(p string) int32 {
		i := slices.Index(cfg.Tokens, p)
		if i < 0 {
			t.Fatalf("test vocabulary lacks %q", p)
		}
		return int32(i)
	}
	for _, m := range s.merges {
		cfg.Merges = append(cfg.Merges, [2]int32{id(m[0]), id(m[1])})
	}
	cfg.IgnoreMerges = s.ignore
	cfg.PreTokenizer = PreLlama3
	cfg.BOS, cfg.EOS, cfg.Unknown, cfg.Padding = NoToken, NoToken, NoToken, NoToken
	if i := slices.Index(cfg.Tokens, "<|begin_of_text|>"); i >= 0 {
		cfg.BOS = i
	}
	if i := slices.Index(cfg.Tokens, "<|end_of_text|>"); i >= 0 {
		cfg.EOS = i
	}
	cfg.Stops = namedStops(cfg.Tokens, cfg.Types)
	return cfg
}

func (s bpeSpec) build(t testing.TB) Tokenizer {
	t.Helper()
	tok, err := NewByteBPE(s.config(t))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// pieces renders ids as token contents, for readable failures.
func pieces(tok Tokenizer, ids []int) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = tok.base().pieces[id]
	}
	return out
}

func expectPieces(t *testing.T, tok Tokenizer, text string, opts EncodeOptions, want ...string) {
	t.Helper()
	got := pieces(tok, tok.Encode(text, opts))
	if !slices.Equal(got, want) {
		t.Errorf("Encode(%q) = %q, want %q", text, got, want)
	}
}

// helloSpec: "hello" is reachable only through four merges in rank order.
var helloSpec = bpeSpec{
	extra: []string{"ll", "he", "llo", "hello", " w", " wo", "or", " wor", " world", "ld"},
	merges: [][2]string{
		{"l", "l"}, {"h", "e"}, {"ll", "o"}, {"he", "llo"},
		{" ", "w"}, {"o", "r"}, {" w", "or"}, {"l", "d"},
	},
	specials: []string{"<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|eot|>"},
}

func TestByteBPEMergeOrder(t *testing.T) {
	tok := helloSpec.build(t)
	// h e l l o: (l,l) rank 0 -> h e ll o; (h,e) rank 1 -> he ll o;
	// (ll,o) rank 2 -> he llo; (he,llo) rank 3 -> hello.
	expectPieces(t, tok, "hello", EncodeOptions{}, "hello")
	// " world": ( ,w) rank 4 -> " w" o r l d; (o,r) rank 5 -> " w" or l d;
	// (" w",or) rank 6 -> " wor" l d; (l,d) rank 7 -> " wor" ld. No merge
	// makes " world" from " wor" + "ld", so it stays two tokens.
	expectPieces(t, tok, "hello world", EncodeOptions{}, "hello", " wor", "ld")
	// Both halves of one pre-token merge the same way; no merge joins them.
	expectPieces(t, tok, "hellohello!", EncodeOptions{}, "hello", "hello", "!")
	// (" ",h) has no merge, so the space stays alone.
	expectPieces(t, tok, "hello hello", EncodeOptions{}, "hello", " ", "hello")
}

func TestByteBPERankDecidesOverlap(t *testing.T) {
	bcFirst := bpeSpec{extra: []string{"ab", "bc"}, merges: [][2]string{{"b", "c"}, {"a", "b"}}}.build(t)
	abFirst := bpeSpec{extra: []string{"ab", "bc"}, merges: [][2]string{{"a", "b"}, {"b", "c"}}}.build(t)
	expectPieces(t, bcFirst, "abc", EncodeOptions{}, "a", "bc")
	expectPieces(t, abFirst, "abc", EncodeOptions{}, "ab", "c")
	// Equal pairs: the leftmost merges first.
	aa := bpeSpec{extra: []string{"aa"}, merges: [][2]string{{"a", "a"}}}.build(t)
	expectPieces(t, aa, "aaa", EncodeOptions{}, "aa", "a")
	expectPieces(t, aa, "aaaaa", EncodeOptions{}, "aa", "aa", "a")
	// A pair made by an earlier merge competes by rank with the pairs
	// already there: with ranks x y:0, xy z:1, z z:2, "xyzz" gives
	// xy z z -> xyz z, and (z,z) is no longer adjacent.
	q := bpeSpec{extra: []string{"xy", "xyz", "zz"}, merges: [][2]string{{"x", "y"}, {"xy", "z"}, {"z", "z"}}}.build(t)
	expectPieces(t, q, "xyzz", EncodeOptions{}, "xyz", "z")
}

func TestByteBPEIgnoreMerges(t *testing.T) {
	// "hello" is in the vocabulary but only the (h,e) merge exists.
	spec := bpeSpec{extra: []string{"he", "hello"}, merges: [][2]string{{"h", "e"}}}
	expectPieces(t, spec.build(t), "hello", EncodeOptions{}, "he", "l", "l", "o")
	spec.ignore = true
	on := spec.build(t)
	expectPieces(t, on, "hello", EncodeOptions{}, "hello")
	// ignore_merges looks at the whole pre-token only.
	expectPieces(t, on, "hellos", EncodeOptions{}, "he", "l", "l", "o", "s")
}

func TestByteBPESpecialTokens(t *testing.T) {
	tok := helloSpec.build(t)
	bos, _ := tok.TokenID("<|begin_of_text|>")
	eot, _ := tok.TokenID("<|eot_id|>")
	if tok.BOS() != bos {
		t.Fatalf("BOS() = %d, want %d", tok.BOS(), bos)
	}
	got := tok.Encode("hello<|eot_id|>hello", EncodeOptions{AddBOS: true})
	want := []int{bos, -1, eot, -1}
	hello := tok.Encode("hello", EncodeOptions{})[0]
	want[1], want[3] = hello, hello
	if !slices.Equal(got, want) {
		t.Errorf("Encode with specials = %v (%q), want %v", got, pieces(tok, got), want)
	}
	// Leftmost-longest: <|eot_id|> and <|eot|> share a prefix.
	expectPieces(t, tok, "<|eot|><|eot_id|>", EncodeOptions{}, "<|eot|>", "<|eot_id|>")
	// As text the marker is bytes.
	expectPieces(t, tok, "<|eot|>", EncodeOptions{SpecialsAsText: true}, "<", "|", "e", "o", "t", "|", ">")
	if !tok.IsStop(eot) || !tok.IsStop(tok.EOS()) || tok.IsStop(bos) || tok.IsStop(hello) {
		t.Errorf("IsStop: eot %v eos %v bos %v hello %v", tok.IsStop(eot), tok.IsStop(tok.EOS()), tok.IsStop(bos), tok.IsStop(hello))
	}
	if !tok.IsSpecial(eot) || tok.IsSpecial(hello) {
		t.Errorf("IsSpecial(eot) = %v, IsSpecial(hello) = %v", tok.IsSpecial(eot), tok.IsSpecial(hello))
	}
	if d := tok.Decode(got); d != "<|begin_of_text|>hello<|eot_id|>hello" {
		t.Errorf("Decode = %q", d)
	}
	ids := tok.Encode("hi", EncodeOptions{AddBOS: true, AddEOS: true})
	if ids[0] != bos || ids[len(ids)-1] != tok.EOS() {
		t.Errorf("AddBOS/AddEOS gave %v", ids)
	}
}

func TestByteBPEEncodeToAppends(t *testing.T) {
	tok := helloSpec.build(t)
	dst := make([]int, 1, 64)
	dst[0] = 42
	got := tok.EncodeTo(dst, "hello world", EncodeOptions{})
	if got[0] != 42 || &got[0] != &dst[0] || !slices.Equal(got[1:], tok.Encode("hello world", EncodeOptions{})) {
		t.Errorf("EncodeTo = %v", got)
	}
}

// roundTripCorpus covers the cases the round trip must survive.
var roundTripCorpus = []string{
	"", " ", "hello", "Hello, world!", "  leading and trailing  ", "\n\n\nnewlines\r\n\r\n",
	"tabs\t\tand\vvertical", "digits 1234567890 and 3.14159", "emoji 🙂👍🏽🇫🇷 zwj 👩‍👩‍👧",
	"CJK 日本語のテキストと中文", "naïve café résumé", "invalid \xff\xfe\x80 bytes \xe2\x82", "\x00\x01\x02",
	"I'm they'll DON'T 'sa", "<|eot_id|> and <|eot", "mixed\u00a0nbsp\u3000ideographic space",
}

func TestByteBPERoundTrip(t *testing.T) {
	tok := helloSpec.build(t)
	r := rand.New(rand.NewPCG(1, 2))
	inputs := slices.Clone(roundTripCorpus)
	for range 200 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		inputs = append(inputs, string(b))
	}
	for _, s := range inputs {
		for _, opts := range []EncodeOptions{{}, {SpecialsAsText: true}} {
			ids := tok.Encode(s, opts)
			if got := tok.Decode(ids); got != s {
				t.Errorf("Decode(Encode(%q, %+v)) = %q", s, opts, got)
			}
		}
	}
}

func TestNewByteBPEErrors(t *testing.T) {
	cfg := helloSpec.config(t)
	cfg.Tokens = slices.Clone(cfg.Tokens)
	cfg.Tokens['A'] = "AA"
	if _, err := NewByteBPE(cfg); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "0x41") {
		t.Errorf("missing byte token: err = %v", err)
	}
	cfg = helloSpec.config(t)
	cfg.Merges = append(cfg.Merges, [2]int32{'x', 'q'}) // "xq" is not a token
	if _, err := NewByteBPE(cfg); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), `"x" + "q"`) {
		t.Errorf("merge result missing: err = %v", err)
	}
	cfg = helloSpec.config(t)
	cfg.Merges = append(cfg.Merges, [2]int32{1 << 20, 0})
	if _, err := NewByteBPE(cfg); !errors.Is(err, ErrFormat) {
		t.Errorf("merge id out of range: err = %v", err)
	}
	cfg = helloSpec.config(t)
	cfg.PreTokenizer = 0
	if _, err := NewByteBPE(cfg); !errors.Is(err, ErrUnsupported) {
		t.Errorf("pre-tokenizer 0: err = %v", err)
	}
	cfg = helloSpec.config(t)
	cfg.BOS = len(cfg.Tokens)
	if _, err := NewByteBPE(cfg); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "BOS") {
		t.Errorf("BOS out of range: err = %v", err)
	}
}
