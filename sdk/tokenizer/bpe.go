package tokenizer

import (
	"fmt"
	"slices"
)

// PreTokenizer names the split applied before byte-level BPE.
type PreTokenizer uint8

const (
	// PreLlama3 is the LLaMA-3 split pattern (Llama3Pattern).
	PreLlama3 PreTokenizer = 1
)

// ByteBPEConfig describes a byte-level BPE tokenizer. Tokens holds the bytes
// of each token (not the byte-to-unicode spelling of the model files);
// special tokens hold their literal text.
type ByteBPEConfig struct {
	Tokens []string
	Types  []TokenType
	// Merges lists merge pairs of token ids, lowest rank (applied first)
	// first. The concatenation of each pair must be a normal token.
	Merges [][2]int32
	// IgnoreMerges emits a pre-token that is itself a vocabulary entry
	// without running merges (tokenizer.json model.ignore_merges, set by
	// LLaMA-3; llama.cpp does the same for its llama3 pre-tokenizer type).
	IgnoreMerges bool
	PreTokenizer PreTokenizer
	// BOS, EOS, Unknown and Padding are token ids or NoToken.
	BOS, EOS, Unknown, Padding int
	// Stops are end-of-turn ids besides EOS.
	Stops  []int
	AddBOS bool
}

type mergeRule struct {
	rank, id int32
}

// byteBPE is byte-level BPE as Hugging Face tokenizers' models/bpe and
// llama.cpp's llm_tokenizer_bpe run it.
type byteBPE struct {
	vocab
	cfg    ByteBPEConfig
	byteID [256]int32
	// normal maps the bytes of a normal token to its id, for ignore_merges
	// and merge results.
	normal map[string]int32
	merges map[uint64]mergeRule
}

// NewByteBPE builds a byte-level BPE tokenizer. Every one of the 256 single
// bytes must be a normal token, so that any input can be encoded and
// Decode(Encode(s)) == s for every s.
func NewByteBPE(cfg ByteBPEConfig) (Tokenizer, error) {
	if cfg.PreTokenizer != PreLlama3 {
		return nil, fmt.Errorf("%w: pre-tokenizer %d (only PreLlama3 is implemented)", ErrUnsupported, cfg.PreTokenizer)
	}
	// Own copies, so that the caller changing its slices cannot change an
	// immutable tokenizer.
	cfg.Tokens, cfg.Types, cfg.Merges, cfg.Stops = slices.Clone(cfg.Tokens), slices.Clone(cfg.Types), slices.Clone(cfg.Merges), slices.Clone(cfg.Stops)
	t := &byteBPE{cfg: cfg}
	if err := t.init(cfg.Tokens, cfg.Types, cfg.BOS, cfg.EOS, cfg.Unknown, cfg.Padding, cfg.Stops); err != nil {
		return nil, err
	}
	t.addBOS = cfg.AddBOS
	t.normal = make(map[string]int32, len(cfg.Tokens))
	for i, p := range cfg.Tokens {
		if cfg.Types[i] != TypeNormal || p == "" {
			continue
		}
		if _, dup := t.normal[p]; !dup {
			t.normal[p] = int32(i)
		}
	}
	for b := 0; b < 256; b++ {
		id, ok := t.normal[string([]byte{byte(b)})]
		if !ok {
			return nil, fmt.Errorf("%w: byte 0x%02X (%q) is not a normal token; byte-level BPE needs all 256", ErrFormat, b, string(byteToRune[b]))
		}
		t.byteID[b] = id
	}
	t.merges = make(map[uint64]mergeRule, len(cfg.Merges))
	n := int32(len(cfg.Tokens))
	for rank, m := range cfg.Merges {
		a, b := m[0], m[1]
		if a < 0 || a >= n || b < 0 || b >= n {
			return nil, fmt.Errorf("%w: merge %d (%d, %d) names a token outside the vocabulary of %d", ErrFormat, rank, a, b, n)
		}
		id, ok := t.normal[cfg.Tokens[a]+cfg.Tokens[b]]
		if !ok || cfg.Types[a] != TypeNormal || cfg.Types[b] != TypeNormal {
			return nil, fmt.Errorf("%w: merge %d (%q + %q): operands and result must be normal tokens", ErrFormat, rank, cfg.Tokens[a], cfg.Tokens[b])
		}
		k := uint64(a)<<32 | uint64(b)
		// The first (lowest-rank) occurrence of a repeated pair wins, as in
		// llama.cpp's bpe_ranks.emplace.
		if _, dup := t.merges[k]; !dup {
			t.merges[k] = mergeRule{rank: int32(rank), id: id}
		}
	}
	return t, nil
}

func (t *byteBPE) Kind() Kind { return KindByteBPE }

func (t *byteBPE) Encode(text string, opts EncodeOptions) []int {
	return encode(t, nil, text, opts)
}

func (t *byteBPE) EncodeTo(dst []int, text string, opts EncodeOptions) []int {
	return encode(t, dst, text, opts)
}

func (t *byteBPE) Decode(ids []int) string { return decode(t, ids) }

func (t *byteBPE) appendToken(dst []byte, id int, _ bool) []byte {
	return append(dst, t.pieces[id]...)
}

func (t *byteBPE) encodeSpan(dst []int, span string, _ bool, sc *scratch) []int {
	for i := 0; i < len(span); {
		e := llama3End(span, i)
		dst = t.encodeWord(dst, span[i:e], sc)
		i = e
	}
	return dst
}

// symbol is one element of the doubly linked list a word is merged in.
type symbol struct {
	id         int32
	prev, next int32
	start, end int32 // byte range in the word (SentencePiece)
}

// candidate is a possible merge of the symbol at pos with its successor:
// for BPE key is the merge rank (lower first), for SentencePiece minus the
// score. a and b are the ids (BPE) or lengths (SentencePiece) of the two
// symbols when the candidate was made, to detect stale entries.
type candidate struct {
	key  float64
	pos  int32
	a, b int32
	id   int32
}

func (c candidate) less(d candidate) bool {
	return c.key < d.key || (c.key == d.key && c.pos < d.pos)
}

func heapPush(h []candidate, c candidate) []candidate {
	h = append(h, c)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h[i].less(h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	return h
}

func heapPop(h []candidate) (candidate, []candidate) {
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		m := l
		if r := l + 1; r < len(h) && h[r].less(h[l]) {
			m = r
		}
		if !h[m].less(h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	return top, h
}

// encodeWord encodes one pre-token. The merge loop applies, among the
// adjacent pairs present, the one with the lowest rank, leftmost on ties,
// until no pair has a rank: the order of Hugging Face's Word::merge_all
// priority queue and of llama.cpp's llm_bigram_bpe comparator.
func (t *byteBPE) encodeWord(dst []int, w string, sc *scratch) []int {
	if len(w) == 1 {
		return append(dst, int(t.byteID[w[0]]))
	}
	if t.cfg.IgnoreMerges {
		if id, ok := t.normal[w]; ok {
			return append(dst, int(id))
		}
	}
	syms := sc.syms[:0]
	for i := 0; i < len(w); i++ {
		syms = append(syms, symbol{id: t.byteID[w[i]], prev: int32(i - 1), next: int32(i + 1)})
	}
	syms[len(syms)-1].next = -1
	h := sc.heap[:0]
	push := func(pos int32) {
		if pos < 0 {
			return
		}
		nx := syms[pos].next
		if nx < 0 {
			return
		}
		a, b := syms[pos].id, syms[nx].id
		if m, ok := t.merges[uint64(a)<<32|uint64(b)]; ok {
			h = heapPush(h, candidate{key: float64(m.rank), pos: pos, a: a, b: b, id: m.id})
		}
	}
	for i := range syms {
		push(int32(i))
	}
	for len(h) > 0 {
		var c candidate
		c, h = heapPop(h)
		l := &syms[c.pos]
		if l.id != c.a || l.next < 0 || syms[l.next].id != c.b {
			continue // stale: one side has merged since
		}
		r := l.next
		l.id = c.id
		l.next = syms[r].next
		if l.next >= 0 {
			syms[l.next].prev = c.pos
		}
		syms[r].id = -1
		push(l.prev)
		push(c.pos)
	}
	for i := int32(0); i >= 0; i = syms[i].next {
		dst = append(dst, int(syms[i].id))
	}
	sc.syms, sc.heap = syms, h
	return dst
}
