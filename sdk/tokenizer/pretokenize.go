package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// Llama3Pattern is the pre-tokenizer regular expression of the LLaMA-3
// tokenizer (the Split pre-tokenizer of Meta's tokenizer.json, behaviour
// "Isolated"; llama.cpp llama-vocab.cpp LLAMA_VOCAB_PRE_TYPE_LLAMA3). Go's
// regexp cannot express the look-ahead in `\s+(?!\S)`, so llama3End below is
// a hand-written scanner with the same leftmost-first semantics; the pattern
// is kept to recognise it in tokenizer.json files and to test the scanner
// against.
const Llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// Character classes of the pattern. \p{L} and \p{N} are Unicode general
// categories; \s is the Unicode White_Space property in Oniguruma and the
// Rust regex crate, which is exactly unicode.IsSpace. The tables follow Go's
// Unicode version, which may differ from the reference implementation's for
// characters assigned in very recent Unicode versions.
func isLetter(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r|0x20 && r|0x20 <= 'z'
	}
	return unicode.IsLetter(r)
}

func isNumber(r rune) bool {
	if r < utf8.RuneSelf {
		return '0' <= r && r <= '9'
	}
	return unicode.IsNumber(r)
}

func isSpace(r rune) bool { return unicode.IsSpace(r) }

func isNewline(r rune) bool { return r == '\r' || r == '\n' }

// isOther is [^\s\p{L}\p{N}]: punctuation, symbols, controls. A byte of
// invalid UTF-8 decodes as U+FFFD (a symbol) and lands here too; Rust
// strings cannot hold invalid UTF-8, so this case has no reference.
func isOther(r rune) bool { return !isSpace(r) && !isLetter(r) && !isNumber(r) }

func runeAt(s string, i int) (rune, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// llama3End returns the end of the pre-token that starts at s[i] (i <
// len(s)). The alternatives are tried in the pattern's order and the first
// that matches wins, as in a backtracking regex engine.
func llama3End(s string, i int) int {
	r, n := runeAt(s, i)

	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if r == '\'' && i+1 < len(s) {
		if e := contractionEnd(s, i+1); e > 0 {
			return e
		}
	}

	// [^\r\n\p{L}\p{N}]?\p{L}+ — the optional prefix is tried first (greedy).
	if isLetter(r) {
		return lettersEnd(s, i+n)
	}
	if !isNewline(r) && !isNumber(r) && i+n < len(s) {
		if r2, n2 := runeAt(s, i+n); isLetter(r2) {
			return lettersEnd(s, i+n+n2)
		}
	}

	// \p{N}{1,3}
	if isNumber(r) {
		j := i + n
		for k := 1; k < 3 && j < len(s); k++ {
			r2, n2 := runeAt(s, j)
			if !isNumber(r2) {
				break
			}
			j += n2
		}
		return j
	}

	//  ?[^\s\p{L}\p{N}]+[\r\n]*
	j := i
	if r == ' ' {
		j = i + 1
	}
	if j < len(s) {
		if r2, n2 := runeAt(s, j); isOther(r2) {
			j += n2
			for j < len(s) {
				r3, n3 := runeAt(s, j)
				if !isOther(r3) {
					break
				}
				j += n3
			}
			for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
				j++
			}
			return j
		}
	}

	// What is left starts with white space (every other character was
	// taken above). Scan the whole run once.
	end, lastNL, lastStart := i, -1, i
	for end < len(s) {
		r2, n2 := runeAt(s, end)
		if !isSpace(r2) {
			break
		}
		if isNewline(r2) {
			lastNL = end + n2
		}
		lastStart = end
		end += n2
	}
	// \s*[\r\n]+ : \s* backtracks until [\r\n]+ can match, so the match ends
	// just after the run's last newline.
	if lastNL >= 0 {
		return lastNL
	}
	// \s+(?!\S) : the whole run at the end of the text; otherwise the run
	// gives its last character back so that the next pre-token (" hello")
	// keeps its leading space.
	if end == len(s) {
		return end
	}
	if lastStart > i {
		return lastStart
	}
	// \s+ : a single white-space character before a non-space.
	if end > i {
		return end
	}
	return i + n // unreachable: every character belongs to some class
}

// contractionEnd matches 's 't 're 've 'm 'll 'd case-insensitively after
// the apostrophe at s[j-1]; it returns the end or 0. Unicode simple case
// folding, which (?i) applies in Oniguruma, Rust regex and Go regexp alike,
// also folds 'ſ' (U+017F LATIN SMALL LETTER LONG S) to 's'.
func contractionEnd(s string, j int) int {
	r, n := runeAt(s, j)
	switch r {
	case 's', 'S', 't', 'T', 'm', 'M', 'd', 'D', 'ſ':
		return j + n
	}
	if j+1 < len(s) {
		a, b := s[j]|0x20, s[j+1]|0x20
		if (a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l') {
			return j + 2
		}
	}
	return 0
}

func lettersEnd(s string, j int) int {
	for j < len(s) {
		r, n := runeAt(s, j)
		if !isLetter(r) {
			break
		}
		j += n
	}
	return j
}
