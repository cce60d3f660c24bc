package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// A streamed response sends one event per generated piece of text. The
// event's JSON is the same for every piece but for the text, so it is
// encoded once per request around a marker, and each piece is escaped
// between the two halves: no reflection and no allocation per token.

// pieceMarker stands in for a piece when the frame is encoded; it cannot
// occur in text a model writes (NUL bytes escape to \u0000).
const pieceMarker = "\x00piece\x00"

// pieceFrame is an event's JSON split around its text: pre + escaped
// piece + post.
type pieceFrame struct{ pre, post []byte }

// newPieceFrame encodes v, which must hold pieceMarker exactly once as a
// string value, and splits it there.
func newPieceFrame(v any) (pieceFrame, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return pieceFrame{}, err
	}
	m := appendJSONText(nil, []byte(pieceMarker))
	i := bytes.Index(b, m)
	if i < 0 || bytes.Index(b[i+len(m):], m) >= 0 {
		return pieceFrame{}, fmt.Errorf("serve: the event holds the piece marker %d times", bytes.Count(b, m))
	}
	return pieceFrame{pre: b[:i], post: b[i+len(m):]}, nil
}

// appendEvent appends the event of one piece: "data: <json>\n\n".
func (f pieceFrame) appendEvent(dst, piece []byte) []byte {
	dst = append(dst, "data: "...)
	dst = append(dst, f.pre...)
	dst = appendJSONText(dst, piece)
	dst = append(dst, f.post...)
	return append(dst, '\n', '\n')
}

// appendJSONText appends s as the inside of a JSON string, escaped as
// encoding/json escapes it (HTML-safe, invalid UTF-8 as U+FFFD, U+2028 and
// U+2029 escaped), so that a frame's event equals json.Marshal's.
func appendJSONText(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}
