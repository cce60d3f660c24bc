package tokenizer

import (
	"encoding/binary"
	"fmt"
	"math"
)

// The marshalled form, version 1. All integers are unsigned LEB128 varints
// (encoding/binary.Uvarint) unless said otherwise; token ids are stored plus
// one so that NoToken is 0.
//
//	magic "BWTK", version byte (1), kind byte (Kind), flags byte
//	kind byte-level BPE or SentencePiece:
//	  token count, then per token: type byte, [SentencePiece: score float32
//	  little-endian], content length, content bytes
//	  BOS+1, EOS+1, unknown+1, padding+1, stop count, stop ids
//	  [byte-level BPE: pre-tokenizer byte, merge count, merges as id pairs]
//	kind byte or char: alphabet length, alphabet bytes, unknown rune
//
// Every count is checked against the bytes left before anything is
// allocated, so a hostile blob cannot make Unmarshal allocate much more than
// its own length.
const (
	marshalMagic   = "BWTK"
	marshalVersion = 1

	flagAddBOS       = 1 << 0
	flagIgnoreMerges = 1 << 1
	flagDummyPrefix  = 1 << 2
	flagCharBOS      = 1 << 3
	flagCharEOS      = 1 << 4
)

// Marshal encodes t for storage inside a model file.
func Marshal(t Tokenizer) ([]byte, error) {
	b := append([]byte(marshalMagic), marshalVersion, byte(t.Kind()), 0)
	flags := &b[len(b)-1]
	v := t.base()
	if v.addBOS {
		*flags |= flagAddBOS
	}
	putTable := func(scores []float32) {
		b = binary.AppendUvarint(b, uint64(len(v.pieces)))
		for i, p := range v.pieces {
			b = append(b, byte(v.types[i]))
			if scores != nil {
				b = binary.LittleEndian.AppendUint32(b, math.Float32bits(scores[i]))
			}
			b = binary.AppendUvarint(b, uint64(len(p)))
			b = append(b, p...)
		}
		for _, id := range []int{v.bos, v.eos, v.unk, v.pad} {
			b = binary.AppendUvarint(b, uint64(id+1))
		}
		b = binary.AppendUvarint(b, uint64(len(v.stops)))
		for _, id := range v.stops {
			b = binary.AppendUvarint(b, uint64(id))
		}
	}
	switch t := t.(type) {
	case *byteBPE:
		if t.cfg.IgnoreMerges {
			b[6] |= flagIgnoreMerges
		}
		putTable(nil)
		b = append(b, byte(t.cfg.PreTokenizer))
		b = binary.AppendUvarint(b, uint64(len(t.cfg.Merges)))
		for _, m := range t.cfg.Merges {
			b = binary.AppendUvarint(b, uint64(m[0]))
			b = binary.AppendUvarint(b, uint64(m[1]))
		}
	case *sentencePiece:
		if t.cfg.AddDummyPrefix {
			b[6] |= flagDummyPrefix
		}
		putTable(t.cfg.Scores)
	case *charTokenizer:
		if t.cfg.BOS {
			b[6] |= flagCharBOS
		}
		if t.cfg.EOS {
			b[6] |= flagCharEOS
		}
		b = binary.AppendUvarint(b, uint64(len(t.cfg.Alphabet)))
		b = append(b, t.cfg.Alphabet...)
		b = binary.AppendUvarint(b, uint64(t.cfg.Unknown))
	default:
		return nil, fmt.Errorf("tokenizer: cannot marshal %T", t)
	}
	return b, nil
}

// blobReader reads the marshalled form; the first error sticks.
type blobReader struct {
	b   []byte
	off int
	err error
}

func (r *blobReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: tokenizer blob at offset %d: %s", ErrFormat, r.off, fmt.Sprintf(format, args...))
	}
}

func (r *blobReader) left() int { return len(r.b) - r.off }

func (r *blobReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad varint for %s", what)
		return 0
	}
	r.off += n
	return v
}

func (r *blobReader) byte1(what string) byte {
	if r.err != nil {
		return 0
	}
	if r.left() < 1 {
		r.fail("end of data reading %s", what)
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *blobReader) bytes(n uint64, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(r.left()) {
		r.fail("%s of %d bytes past end of data (%d left)", what, n, r.left())
		return nil
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

// count reads an element count and checks that the rest of the blob can
// hold that many elements of at least min bytes each.
func (r *blobReader) count(what string, min int) int {
	n := r.uvarint(what)
	if r.err == nil && n > uint64(r.left()/min) {
		r.fail("%s count %d cannot fit in the %d bytes left", what, n, r.left())
		return 0
	}
	return int(n)
}

// id reads a token id stored plus one.
func (r *blobReader) id(what string, n int) int {
	v := r.uvarint(what)
	if r.err == nil && v > uint64(n) {
		r.fail("%s id %d outside vocabulary of %d tokens", what, int64(v)-1, n)
		return NoToken
	}
	return int(v) - 1
}

// index reads a token id stored as it is.
func (r *blobReader) index(what string, n int) int32 {
	v := r.uvarint(what)
	if r.err == nil && v >= uint64(n) {
		r.fail("%s id %d outside vocabulary of %d tokens", what, v, n)
		return 0
	}
	return int32(v)
}

// Unmarshal decodes a tokenizer written by Marshal. Malformed input gives an
// error wrapping ErrFormat, never a panic.
func Unmarshal(data []byte) (Tokenizer, error) {
	if len(data) < 7 || string(data[:4]) != marshalMagic {
		return nil, fmt.Errorf("%w: tokenizer blob does not start with %q", ErrFormat, marshalMagic)
	}
	if data[4] != marshalVersion {
		return nil, fmt.Errorf("%w: tokenizer blob version %d (this build reads %d)", ErrFormat, data[4], marshalVersion)
	}
	kind, flags := Kind(data[5]), data[6]
	r := &blobReader{b: data, off: 7}
	var (
		t   Tokenizer
		err error
	)
	switch kind {
	case KindByteBPE, KindSentencePiece:
		sp := kind == KindSentencePiece
		minTok := 2
		if sp {
			minTok = 6
		}
		n := r.count("token", minTok)
		tokens := make([]string, n)
		types := make([]TokenType, n)
		var scores []float32
		if sp {
			scores = make([]float32, n)
		}
		for i := 0; i < n && r.err == nil; i++ {
			types[i] = TokenType(r.byte1("token type"))
			if sp {
				s := r.bytes(4, "score")
				if s != nil {
					scores[i] = math.Float32frombits(binary.LittleEndian.Uint32(s))
				}
			}
			tokens[i] = string(r.bytes(r.uvarint("token length"), "token"))
		}
		bos, eos, unk, pad := r.id("BOS", n), r.id("EOS", n), r.id("unknown", n), r.id("padding", n)
		stops := make([]int, r.count("stop", 1))
		for i := range stops {
			stops[i] = int(r.index("stop", n))
		}
		if sp {
			if r.err != nil {
				return nil, r.err
			}
			t, err = NewSentencePiece(SentencePieceConfig{
				Tokens: tokens, Scores: scores, Types: types,
				AddDummyPrefix: flags&flagDummyPrefix != 0,
				BOS:            bos, EOS: eos, Unknown: unk, Padding: pad,
				Stops: stops, AddBOS: flags&flagAddBOS != 0,
			})
			break
		}
		pre := PreTokenizer(r.byte1("pre-tokenizer"))
		merges := make([][2]int32, r.count("merge", 2))
		for i := range merges {
			merges[i][0] = r.index("merge", n)
			merges[i][1] = r.index("merge", n)
		}
		if r.err != nil {
			return nil, r.err
		}
		t, err = NewByteBPE(ByteBPEConfig{
			Tokens: tokens, Types: types, Merges: merges,
			IgnoreMerges: flags&flagIgnoreMerges != 0, PreTokenizer: pre,
			BOS: bos, EOS: eos, Unknown: unk, Padding: pad,
			Stops: stops, AddBOS: flags&flagAddBOS != 0,
		})
	case KindByte, KindChar:
		alphabet := r.bytes(r.uvarint("alphabet length"), "alphabet")
		unknown := r.uvarint("unknown rune")
		if r.err == nil && unknown > math.MaxInt32 {
			r.fail("unknown rune %d out of range", unknown)
		}
		if r.err == nil && (kind == KindByte) != (len(alphabet) == 0) {
			r.fail("kind %v with an alphabet of %d bytes", kind, len(alphabet))
		}
		if r.err != nil {
			return nil, r.err
		}
		t, err = NewChar(CharConfig{Alphabet: string(alphabet), Unknown: rune(unknown), BOS: flags&flagCharBOS != 0, EOS: flags&flagCharEOS != 0})
	default:
		return nil, fmt.Errorf("%w: tokenizer blob kind %d", ErrFormat, kind)
	}
	if r.err != nil {
		return nil, r.err
	}
	if err != nil {
		return nil, fmt.Errorf("tokenizer blob: %w", err)
	}
	if r.left() != 0 {
		return nil, fmt.Errorf("%w: tokenizer blob has %d trailing bytes", ErrFormat, r.left())
	}
	return t, nil
}
