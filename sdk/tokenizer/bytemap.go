package tokenizer

import "unicode/utf8"

// byteToRune and runeToByte are GPT-2's bytes_to_unicode table (openai/gpt-2
// src/encoder.py, reused unchanged by Hugging Face tokenizers'
// pre_tokenizers/byte_level.rs): the printable bytes '!'..'~', '¡'..'¬' and
// '®'..'ÿ' stand for themselves; the other 68 bytes, in increasing order,
// map to U+0100, U+0101, ... so that space is 'Ġ' (U+0120) and '\n' is 'Ċ'
// (U+010A). Byte-level BPE vocabularies (tokenizer.json model.vocab, GGUF
// tokenizer.ggml.tokens) spell every normal token in these characters.
var (
	byteToRune [256]rune
	runeToByte = make(map[rune]byte, 256)
)

func init() {
	n := rune(0)
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = 0x100 + n
			n++
		}
		runeToByte[byteToRune[b]] = byte(b)
	}
}

// unmapBytes turns a token spelled in byte-to-unicode characters back into
// its bytes. A character outside the table (which published vocabularies do
// not contain) is kept as its own UTF-8 bytes, as no byte stands for it; ok
// reports whether every character was in the table.
func unmapBytes(s string) (raw string, ok bool) {
	ok = true
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if c, in := runeToByte[r]; in {
			b = append(b, c)
			continue
		}
		ok = false
		b = utf8.AppendRune(b, r)
	}
	return string(b), ok
}
