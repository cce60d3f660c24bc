package tokenizer

import (
	"slices"
	"testing"
	"unicode/utf8"
)

// streamAll feeds ids one at a time and checks each piece is valid UTF-8.
func streamAll(t *testing.T, d *StreamDecoder, ids []int) string {
	t.Helper()
	var out []byte
	for _, id := range ids {
		p := d.Next(id)
		if !utf8.Valid(p) {
			t.Fatalf("Next(%d) returned invalid UTF-8 %q", id, p)
		}
		out = append(out, p...)
	}
	p := d.Flush()
	if !utf8.Valid(p) {
		t.Fatalf("Flush returned invalid UTF-8 %q", p)
	}
	return string(append(out, p...))
}

func TestStreamDecoderMatchesDecode(t *testing.T) {
	for name, tok := range allKinds(t) {
		d := NewStreamDecoder(tok)
		for _, s := range roundTripCorpus {
			ids := tok.Encode(s, EncodeOptions{AddBOS: true})
			got := streamAll(t, d, ids)
			// Decode keeps bytes as they are; the stream writes U+FFFD for
			// each byte that is not part of a valid character.
			if want := string([]rune(tok.Decode(ids))); got != want {
				t.Errorf("%s: stream of %q = %q, want %q", name, s, got, want)
			}
		}
	}
}

func TestStreamDecoderHoldsPartialCharacters(t *testing.T) {
	tok := helloSpec.build(t) // multi-byte characters become single-byte tokens
	d := NewStreamDecoder(tok)
	ids := tok.Encode("a🙂", EncodeOptions{})
	if len(ids) != 5 {
		t.Fatalf("Encode(a🙂) = %v, want 5 byte tokens", ids)
	}
	want := []string{"a", "", "", "", "🙂"}
	for i, id := range ids {
		if got := string(d.Next(id)); got != want[i] {
			t.Errorf("token %d: Next = %q, want %q", i, got, want[i])
		}
	}
	// An unfinished character at the end comes out as U+FFFD per byte.
	d.Next(ids[1])
	d.Next(ids[2])
	if got := string(d.Flush()); got != "\uFFFD\uFFFD" {
		t.Errorf("Flush = %q", got)
	}
	// A byte that cannot continue the held character is replaced and the
	// new token's text still comes out.
	d.Next(ids[1])
	if got := string(d.Next(int('x'))); got != "\uFFFDx" {
		t.Errorf("broken sequence: %q", got)
	}
}

func TestStreamDecoderSkipSpecial(t *testing.T) {
	tok := spHello.build(t)
	d := NewStreamDecoder(tok)
	d.SkipSpecial = true
	ids := tok.Encode("hello</s>hello world", EncodeOptions{AddBOS: true})
	if got := streamAll(t, d, ids); got != "hellohello world" {
		t.Errorf("SkipSpecial stream = %q", got)
	}
}

func TestStreamDecoderNoAllocs(t *testing.T) {
	for name, tok := range allKinds(t) {
		ids := tok.Encode("hello world, naïve 日本 🙂 hello hello", EncodeOptions{})
		d := NewStreamDecoder(tok)
		for _, id := range ids { // warm the buffers
			d.Next(id)
		}
		i := 0
		allocs := testing.AllocsPerRun(1000, func() {
			d.Next(ids[i%len(ids)])
			i++
		})
		if allocs != 0 {
			t.Errorf("%s: Next allocates %.1f times per token", name, allocs)
		}
	}
}

func TestCharTokenizer(t *testing.T) {
	byteTok, err := NewChar(CharConfig{BOS: true, EOS: true})
	if err != nil {
		t.Fatal(err)
	}
	got := byteTok.Encode("hé\xff", EncodeOptions{AddBOS: true, AddEOS: true})
	if want := []int{256, 'h', 0xC3, 0xA9, 0xFF, 257}; !slices.Equal(got, want) {
		t.Errorf("byte Encode = %v, want %v", got, want)
	}
	if byteTok.VocabSize() != 258 || byteTok.Kind() != KindByte || byteTok.Decode(got) != "hé\xff" {
		t.Errorf("byte: size %d kind %v decode %q", byteTok.VocabSize(), byteTok.Kind(), byteTok.Decode(got))
	}
	charTok, err := NewChar(CharConfig{Alphabet: "ab日?", Unknown: '?', EOS: true})
	if err != nil {
		t.Fatal(err)
	}
	got = charTok.Encode("a日zb", EncodeOptions{AddEOS: true, AddBOS: true})
	if want := []int{0, 2, 3, 1, 4}; !slices.Equal(got, want) {
		t.Errorf("char Encode = %v, want %v (no BOS token, unknown z -> ?)", got, want)
	}
	if d := charTok.Decode(got); d != "a日?b" {
		t.Errorf("char Decode = %q", d)
	}
	if !charTok.IsStop(4) || charTok.BOS() != NoToken {
		t.Errorf("char stops %v BOS %d", charTok.StopIDs(), charTok.BOS())
	}
	for _, bad := range []CharConfig{{Alphabet: "abca", Unknown: 'a'}, {Alphabet: "ab", Unknown: '?'}, {Alphabet: "a\xff", Unknown: 'a'}} {
		if _, err := NewChar(bad); err == nil {
			t.Errorf("NewChar(%+v) accepted", bad)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	for name, tok := range allKinds(t) {
		want := make([][]int, len(roundTripCorpus))
		for i, s := range roundTripCorpus {
			want[i] = tok.Encode(s, EncodeOptions{AddBOS: true})
		}
		errs := make(chan string, 4)
		for range 4 {
			go func() {
				for i, s := range roundTripCorpus {
					if got := tok.Encode(s, EncodeOptions{AddBOS: true}); !slices.Equal(got, want[i]) {
						errs <- s
						return
					}
					_ = tok.Decode(want[i])
				}
				errs <- ""
			}()
		}
		for range 4 {
			if s := <-errs; s != "" {
				t.Errorf("%s: concurrent Encode(%q) differed", name, s)
			}
		}
	}
}
