package serve

import (
	"bytes"
	"encoding/json"
	"testing"
)

// appendJSONText escapes as encoding/json does, for any bytes.
func FuzzAppendJSONText(f *testing.F) {
	for _, s := range []string{"", "hello", "a\"b\\c", "<a href='x'>&amp;</a>", "\x00\x01\b\f\n\r\t\x1f\x7f",
		"日本語 🙂", "\xff\xfe bad \xc3", "\u2028\u2029", "é\u0301", string([]byte{0xed, 0xa0, 0x80})} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		want, err := json.Marshal(string(s))
		if err != nil {
			t.Fatal(err)
		}
		got := append([]byte{'"'}, appendJSONText(nil, s)...)
		got = append(got, '"')
		if !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}

// A frame's event for a piece is the event encoding/json writes for the
// response holding that piece.
func TestPieceFrame(t *testing.T) {
	for _, chat := range []bool{false, true} {
		head := completionResponse{ID: "cmpl-1", Object: "text_completion", Created: 7, Model: "m", SystemFingerprint: "r1"}
		mk := func(text string) any {
			c := head
			if chat {
				c.Choices = []chatChoice{{Delta: &chatMessageOut{Content: text}}}
			} else {
				c.Choices = []completionChoice{{Text: text}}
			}
			return c
		}
		f, err := newPieceFrame(mk(pieceMarker))
		if err != nil {
			t.Fatal(err)
		}
		for _, piece := range []string{"hi", "<\"x\">\n", "\xff日", " "} { // never empty: the stream skips empty pieces
			want, _ := json.Marshal(mk(piece))
			want = append(append([]byte("data: "), want...), '\n', '\n')
			if got := f.appendEvent(nil, []byte(piece)); !bytes.Equal(got, want) {
				t.Errorf("chat=%v %q:\n got %s\nwant %s", chat, piece, got, want)
			}
		}
	}
	if _, err := newPieceFrame(map[string]string{"a": "b"}); err == nil {
		t.Error("a frame without the marker was accepted")
	}
}
