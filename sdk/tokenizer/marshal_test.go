package tokenizer

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpus under testdata/fuzz and the reference fixtures in testdata/llama3-mini and testdata/sp-mini")

// allKinds returns one tokenizer of each kind.
func allKinds(t testing.TB) map[string]Tokenizer {
	t.Helper()
	ignore := helloSpec
	ignore.ignore = true
	byteTok, err := NewChar(CharConfig{BOS: true, EOS: true})
	if err != nil {
		t.Fatal(err)
	}
	charTok, err := NewChar(CharConfig{Alphabet: "\n !?abcdehlorwé日", Unknown: '?', EOS: true})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Tokenizer{
		"bpe":        helloSpec.build(t),
		"bpe-ignore": ignore.build(t),
		"sp":         spHello.build(t),
		"sp-noprefix": spSpec{
			pieces: []string{"▁", "a", "b", "ab"}, scores: []float32{-1, -2, -3, 0.5}, bytes: true,
		}.build(t),
		"byte": byteTok,
		"char": charTok,
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	for name, tok := range allKinds(t) {
		blob, err := Marshal(tok)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back, err := Unmarshal(blob)
		if err != nil {
			t.Fatalf("%s: Unmarshal: %v", name, err)
		}
		if back.Kind() != tok.Kind() || back.VocabSize() != tok.VocabSize() || back.BOS() != tok.BOS() ||
			back.EOS() != tok.EOS() || !slices.Equal(back.StopIDs(), tok.StopIDs()) || back.AddsBOSByDefault() != tok.AddsBOSByDefault() {
			t.Errorf("%s: properties differ after round trip", name)
		}
		sameEncodings(t, name, back, tok)
		again, err := Marshal(back)
		if err != nil || !bytes.Equal(again, blob) {
			t.Errorf("%s: Marshal(Unmarshal(b)) differs from b (err %v)", name, err)
		}
		// Every proper prefix is refused, never a panic.
		for n := 0; n < len(blob); n++ {
			if _, err := Unmarshal(blob[:n]); !errors.Is(err, ErrFormat) {
				t.Fatalf("%s: Unmarshal of %d-byte prefix: err = %v", name, n, err)
			}
		}
	}
}

func TestUnmarshalRefuses(t *testing.T) {
	blob, err := Marshal(helloSpec.build(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		text string
	}{
		{"magic", append([]byte("XXXX"), blob[4:]...), "does not start"},
		{"version", append(append([]byte{}, blob[:4]...), append([]byte{9}, blob[5:]...)...), "version 9"},
		{"kind", append(append([]byte{}, blob[:5]...), append([]byte{77}, blob[6:]...)...), "kind 77"},
		{"trailing", append(slices.Clone(blob), 0), "trailing"},
		// A token count far beyond what the blob can hold.
		{"count", append([]byte("BWTK\x01\x01\x00"), 0xff, 0xff, 0xff, 0xff, 0x0f), "cannot fit"},
	} {
		if _, err := Unmarshal(tc.b); !errors.Is(err, ErrFormat) || !bytes.Contains([]byte(err.Error()), []byte(tc.text)) {
			t.Errorf("%s: err = %v, want ErrFormat mentioning %q", tc.name, err, tc.text)
		}
	}
}

// TestWriteSeedCorpus rewrites the committed seed corpus under
// testdata/fuzz when run with -update-corpus.
func TestWriteSeedCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite the seed corpus")
	}
	write := func(target, name, value string) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte("go test fuzz v1\n"+value+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	kinds := allKinds(t)
	for _, name := range []string{"bpe", "bpe-ignore", "sp", "sp-noprefix", "byte", "char"} {
		blob, err := Marshal(kinds[name])
		if err != nil {
			t.Fatal(err)
		}
		write("FuzzUnmarshal", name, fmt.Sprintf("[]byte(%s)", strconv.Quote(string(blob))))
	}
	small := spSpec{pieces: []string{"▁", "a", "b", "ab"}, scores: []float32{0, 0, 0, 1}}.config()
	write("FuzzSentencePieceModel", "llama2-like", fmt.Sprintf("[]byte(%s)", strconv.Quote(string(spModelProto(spHello.config(), 2, "identity", false)))))
	write("FuzzSentencePieceModel", "no-byte-fallback", fmt.Sprintf("[]byte(%s)", strconv.Quote(string(spModelProto(small, 2, "identity", false)))))
	writeLlama3Mini(t)
	writeSPMini(t)
	for i, s := range []string{"I'm they'll DON'T", "12345  hello\n\n!!!\n$x", "日本 🙂\xff \t\r\n "} {
		write("FuzzLlama3Split", strconv.Itoa(i), fmt.Sprintf("string(%s)", strconv.Quote(s)))
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte("BWTK\x01\x03\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := Unmarshal(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error %v wraps neither ErrFormat nor ErrUnsupported", err)
			}
			return
		}
		for _, s := range []string{"", "hello world", "a\xffé日 <s>"} {
			ids := tok.Encode(s, EncodeOptions{AddBOS: true, AddEOS: true})
			for _, id := range ids {
				if id < 0 || id >= tok.VocabSize() {
					t.Fatalf("Encode(%q) gave id %d outside vocabulary of %d", s, id, tok.VocabSize())
				}
			}
			_ = tok.Decode(ids)
		}
		blob, err := Marshal(tok)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Unmarshal(blob)
		if err != nil {
			t.Fatalf("Unmarshal(Marshal(t)) failed: %v", err)
		}
		if again, _ := Marshal(back); !bytes.Equal(again, blob) {
			t.Fatal("Marshal is not stable across Unmarshal")
		}
	})
}
