package tokenizer

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// Each expected split below was worked out by hand from Llama3Pattern,
// trying the alternatives left to right at each position as a backtracking
// engine does.
var llama3Golden = []struct {
	in   string
	want []string
}{
	{"", nil},
	{"hello", []string{"hello"}},
	{"hello world", []string{"hello", " world"}},
	// Contractions are their own pre-token, case-insensitively.
	{"I'm", []string{"I", "'m"}},
	{"they'll", []string{"they", "'ll"}},
	{"DON'T", []string{"DON", "'T"}},
	{"we'RE we'Ve", []string{"we", "'RE", " we", "'Ve"}},
	{"'sa", []string{"'s", "a"}},
	// An apostrophe not starting a contraction is the optional prefix of a
	// letter run.
	{"'hello", []string{"'hello"}},
	// Numbers: at most three digits per pre-token.
	{"12345", []string{"123", "45"}},
	{"1234567", []string{"123", "456", "7"}},
	{"abc123def", []string{"abc", "123", "def"}},
	// A space before digits is not absorbed: \s+ takes it alone.
	{" 123", []string{" ", "123"}},
	// White-space runs give their last character to the following word.
	{"  hello", []string{" ", " hello"}},
	{"a  b", []string{"a", " ", " b"}},
	{"\t\thi", []string{"\t", "\thi"}},
	// ... but not at the end of the text.
	{"hello   ", []string{"hello", "   "}},
	{"  ", []string{"  "}},
	// Runs holding newlines end after their last newline.
	{"\n\n", []string{"\n\n"}},
	{"x \n\n y", []string{"x", " \n\n", " y"}},
	{"a\r\nb", []string{"a", "\r\n", "b"}},
	{"a\n  b", []string{"a", "\n", " ", " b"}},
	// Punctuation runs take an optional leading space and trailing newlines.
	{"!!!\n", []string{"!!!\n"}},
	{"...\n\nfoo", []string{"...\n\n", "foo"}},
	{"Hello, world!", []string{"Hello", ",", " world", "!"}},
	{"  !!", []string{" ", " !!"}},
	{"a !?", []string{"a", " !?"}},
	// One non-letter, non-digit, non-newline character prefixes a letter run.
	{"$hello", []string{"$hello"}},
	{"!!hello", []string{"!!", "hello"}},
	{"x\u00a0y", []string{"x", "\u00a0y"}},
	{"\nhello", []string{"\n", "hello"}},
	{"5x", []string{"5", "x"}},
	// Non-ASCII letters, numbers and symbols.
	{"日本語テキスト", []string{"日本語テキスト"}},
	{"🙂🙂 ok", []string{"🙂🙂", " ok"}},
	{"naïve café", []string{"naïve", " café"}},
	{"٣٤٥٦", []string{"٣٤٥", "٦"}},
	// Invalid UTF-8 bytes count as symbols (U+FFFD).
	{"a\xff\xfeb", []string{"a", "\xff\xfe", "b"}},
	{"\xffb", []string{"\xffb"}},
}

func TestLlama3SplitGolden(t *testing.T) {
	for _, tc := range llama3Golden {
		got := splitLlama3(tc.in)
		if !slices.Equal(got, tc.want) {
			t.Errorf("split(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// referenceSplit runs Llama3Pattern through Go's regexp, which shares the
// leftmost-first alternation semantics, with two adjustments: \s is spelled
// as the Unicode White_Space set (Go's \s is ASCII only), and the
// look-ahead alternative \s+(?!\S) is applied by hand when the plain \s+
// alternative matched.
var referenceRE = func() *regexp.Regexp {
	const ws = `\t\n\v\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}`
	p := `^(?:(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\pL\pN]?\pL+|\pN{1,3}| ?[^` + ws + `\pL\pN]+[\r\n]*|[` + ws + `]*[\r\n]+|([` + ws + `]+))`
	return regexp.MustCompile(p)
}()

func referenceSplit(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		m := referenceRE.FindStringSubmatchIndex(s[i:])
		if m == nil {
			return append(out, "<no match>")
		}
		end := i + m[1]
		if m[2] >= 0 && end < len(s) {
			// \s+(?!\S) comes before \s+: if the run has two or more
			// characters, it matches the run less its last character.
			run := s[i:end]
			if _, n := utf8.DecodeLastRuneInString(run); n < len(run) {
				end -= n
			}
		}
		out = append(out, s[i:end])
		i = end
	}
	return out
}

func TestLlama3SplitMatchesRegexp(t *testing.T) {
	inputs := []string{
		"The quick brown fox's 3 jumps over 1000000 lazy dogs!!\n\n  Next paragraph\t\tend.  ",
		"'S 'T 'RE 'VE 'M 'LL 'D 'x 'ſ ſ'ſt",
		"a \u3000b\u2028c\u0085d\v\fe",
		"x  \r\n\r\n  y\r z",
	}
	for _, tc := range llama3Golden {
		inputs = append(inputs, tc.in)
	}
	for _, s := range inputs {
		if got, want := splitLlama3(s), referenceSplit(s); !slices.Equal(got, want) {
			t.Errorf("split(%q) = %q, regexp reference %q", s, got, want)
		}
	}
}

func FuzzLlama3Split(f *testing.F) {
	for _, tc := range llama3Golden {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := splitLlama3(s)
		for _, p := range got {
			if p == "" {
				t.Fatalf("split(%q) has an empty piece: %q", s, got)
			}
		}
		if j := strings.Join(got, ""); j != s {
			t.Fatalf("split(%q) pieces join to %q", s, j)
		}
		if want := referenceSplit(s); !slices.Equal(got, want) {
			t.Fatalf("split(%q) = %q, regexp reference %q", s, got, want)
		}
	})
}

func TestByteToUnicode(t *testing.T) {
	golden := map[byte]rune{
		' ': 'Ġ', '\n': 'Ċ', 0x00: 'Ā', '\t': 'ĉ', 0x7F: 'ġ', 0x80: 'Ģ', 0xA0: 'ł', 0xAD: 'Ń',
		'!': '!', 'A': 'A', '~': '~', 0xA1: '¡', 0xAC: '¬', 0xAE: '®', 0xFF: 'ÿ',
	}
	for b, r := range golden {
		if byteToRune[b] != r {
			t.Errorf("byte 0x%02X maps to %q, want %q", b, byteToRune[b], r)
		}
	}
	if len(runeToByte) != 256 {
		t.Fatalf("byte-to-unicode map has %d distinct characters, want 256", len(runeToByte))
	}
	var all []byte
	for b := 0; b < 256; b++ {
		all = append(all, byte(b))
	}
	raw, ok := unmapBytes(mapBytes(string(all)))
	if !ok || raw != string(all) {
		t.Fatalf("unmapBytes(mapBytes(all bytes)) = %q, %v", raw, ok)
	}
	if got := mapBytes(" hello\n"); got != "ĠhelloĊ" {
		t.Errorf("mapBytes(\" hello\\n\") = %q, want %q", got, "ĠhelloĊ")
	}
}

// splitLlama3 returns the pre-tokens of s.
func splitLlama3(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		e := llama3End(s, i)
		out = append(out, s[i:e])
		i = e
	}
	return out
}

// mapBytes spells raw bytes in byte-to-unicode characters (the inverse of
// unmapBytes), as tokenizer.json and GGUF store them.
func mapBytes(raw string) string {
	b := make([]byte, 0, 2*len(raw))
	for i := 0; i < len(raw); i++ {
		b = utf8.AppendRune(b, byteToRune[raw[i]])
	}
	return string(b)
}
