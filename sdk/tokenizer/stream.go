package tokenizer

import "unicode/utf8"

// StreamDecoder turns tokens into text one token at a time, as generation
// produces them. A token may end in the middle of a UTF-8 character (byte
// tokens, byte-level BPE pieces of emoji and CJK); those bytes are held back
// until the character is complete, so every piece of output is valid UTF-8.
// A byte that cannot start or continue a character is written as U+FFFD,
// one per byte, as Go's conversion []rune(s) does.
//
// After the first few tokens Next does not allocate. A StreamDecoder is used
// by one goroutine at a time.
type StreamDecoder struct {
	// SkipSpecial leaves control tokens (BOS, EOS, <|eot_id|>, ...) out of
	// the text.
	SkipSpecial bool

	t       Tokenizer
	first   bool
	pending []byte // bytes of an incomplete character, at most 3
	raw     []byte
	out     []byte
}

// NewStreamDecoder returns a decoder for the tokens of t.
func NewStreamDecoder(t Tokenizer) *StreamDecoder {
	return &StreamDecoder{t: t, first: true, pending: make([]byte, 0, utf8.UTFMax), raw: make([]byte, 0, 64), out: make([]byte, 0, 64)}
}

// Reset forgets held-back bytes and starts a new text.
func (d *StreamDecoder) Reset() {
	d.first = true
	d.pending = d.pending[:0]
}

// Next adds token id and returns the text that became complete, possibly
// empty. The returned slice is valid until the next call. Ids outside the
// vocabulary are ignored.
func (d *StreamDecoder) Next(id int) []byte {
	v := d.t.base()
	if id < 0 || id >= len(v.pieces) {
		return d.out[:0]
	}
	first := d.first
	d.first = isBoundary(v.types[id])
	d.raw = append(d.raw[:0], d.pending...)
	if !(d.SkipSpecial && v.types[id] == TypeControl) {
		d.raw = d.t.appendToken(d.raw, id, first)
	}
	d.pending = d.pending[:0]
	out := d.out[:0]
	raw := d.raw
	for i := 0; i < len(raw); {
		c := raw[i]
		if c < utf8.RuneSelf {
			out = append(out, c)
			i++
			continue
		}
		if !utf8.FullRune(raw[i:]) {
			// A valid prefix of a character: wait for the rest.
			d.pending = append(d.pending, raw[i:]...)
			break
		}
		r, n := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, raw[i:i+n]...)
		}
		i += n
	}
	d.out = out
	return out
}

// Flush returns the held-back bytes of an unfinished character, each as
// U+FFFD, and resets the decoder for a new text.
func (d *StreamDecoder) Flush() []byte {
	out := d.out[:0]
	for range d.pending {
		out = utf8.AppendRune(out, utf8.RuneError)
	}
	d.out = out
	d.Reset()
	return out
}
