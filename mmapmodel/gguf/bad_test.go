package gguf_test

import (
	"encoding/binary"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/speakez/barewire/mmapmodel/gguf"
	"github.com/speakez/barewire/mmapmodel/gguf/ggufwrite"
)

func encodeSample(t *testing.T) ([]byte, ggufwrite.Layout) {
	t.Helper()
	data, lay, err := sampleWriter().Encode()
	if err != nil {
		t.Fatal(err)
	}
	return data, lay
}

// tensorField returns the file offset of tensor i's type field (+4 is its
// offset field), given its name and number of dims.
func tensorField(lay ggufwrite.Layout, i int, name string, ndims int) int {
	return lay.TensorInfoOffsets[i] + 8 + len(name) + 4 + 8*ndims
}

func expectErr(t *testing.T, name string, data []byte, want error, mention string) {
	t.Helper()
	_, err := gguf.Parse(data)
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", name, err, want)
		return
	}
	if mention != "" && !strings.Contains(err.Error(), mention) {
		t.Errorf("%s: error %q does not mention %q", name, err, mention)
	}
	// The same through a mapped file.
	if _, err := openBytes(t, data); !errors.Is(err, want) {
		t.Errorf("%s (Open): err = %v, want %v", name, err, want)
	}
}

func TestTruncatedAtEveryRegionBoundary(t *testing.T) {
	data, lay := encodeSample(t)
	cuts := []int{0, 3, 4, 8, 16, 23, lay.KVStart, lay.TensorInfoStart, lay.DataStart, lay.Size - 1}
	cuts = append(cuts, lay.KVOffsets...)
	cuts = append(cuts, lay.TensorInfoOffsets...)
	for _, o := range lay.TensorOffsets {
		cuts = append(cuts, o, o+1)
	}
	for _, c := range cuts {
		if c >= len(data) {
			continue
		}
		if _, err := gguf.Parse(data[:c]); !errors.Is(err, gguf.ErrFormat) {
			t.Errorf("cut at %d: err = %v", c, err)
		}
		if c%7 == 0 || c == lay.DataStart {
			if _, err := openBytes(t, data[:c]); !errors.Is(err, gguf.ErrFormat) {
				t.Errorf("Open cut at %d: err = %v", c, err)
			}
		}
	}
	// And at every byte: never a panic, never success.
	for c := 0; c < len(data); c++ {
		if _, err := gguf.Parse(data[:c]); err == nil {
			t.Fatalf("cut at %d parsed", c)
		}
	}
}

func TestBadHeader(t *testing.T) {
	data, _ := encodeSample(t)
	patch := func(off int, b ...byte) []byte {
		d := slices.Clone(data)
		copy(d[off:], b)
		return d
	}
	expectErr(t, "wrong magic", patch(0, 'G', 'G', 'M', 'L'), gguf.ErrFormat, "magic")
	expectErr(t, "version 1", patch(4, 1, 0, 0, 0), gguf.ErrUnsupported, "version 1")
	expectErr(t, "version 4", patch(4, 4, 0, 0, 0), gguf.ErrUnsupported, "version 4")
	expectErr(t, "big-endian", patch(4, 0, 0, 0, 3), gguf.ErrUnsupported, "big-endian")
	expectErr(t, "tensor count huge", patch(8, 0, 0, 0, 0, 0, 0, 0, 0x10), gguf.ErrFormat, "tensor count")
	expectErr(t, "metadata count huge", patch(16, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0), gguf.ErrFormat, "metadata count")
}

func TestBadMetadata(t *testing.T) {
	data, lay := encodeSample(t)
	// Key length of the first pair past the end.
	d := slices.Clone(data)
	binary.LittleEndian.PutUint64(d[lay.KVOffsets[0]:], 1<<50)
	expectErr(t, "key length past end", d, gguf.ErrFormat, "past end")

	// The general.name value's string length (after key and type) past end.
	nameKV := lay.KVOffsets[1] + 8 + len("general.name") + 4
	d = slices.Clone(data)
	binary.LittleEndian.PutUint64(d[nameKV:], uint64(len(data)))
	expectErr(t, "string length past end", d, gguf.ErrFormat, `"general.name"`)

	// Token array count huge (pair 14: tokenizer.ggml.tokens).
	tok := lay.KVOffsets[14] + 8 + len("tokenizer.ggml.tokens") + 4 + 4
	d = slices.Clone(data)
	binary.LittleEndian.PutUint64(d[tok:], 1<<60)
	expectErr(t, "array count huge", d, gguf.ErrFormat, `"tokenizer.ggml.tokens"`)
	// Float array count huge.
	sc := lay.KVOffsets[15] + 8 + len("tokenizer.ggml.scores") + 4 + 4
	d = slices.Clone(data)
	binary.LittleEndian.PutUint64(d[sc:], 1<<62)
	expectErr(t, "float array count huge", d, gguf.ErrFormat, `"tokenizer.ggml.scores"`)

	// Unknown value type.
	d = slices.Clone(data)
	binary.LittleEndian.PutUint32(d[lay.KVOffsets[1]+8+len("general.name"):], 13)
	expectErr(t, "unknown value type", d, gguf.ErrUnsupported, `"general.name"`)

	// Bool that is neither 0 nor 1.
	b := lay.KVOffsets[13] + 8 + len("k.bool") + 4
	d = slices.Clone(data)
	d[b] = 2
	expectErr(t, "bool 2", d, gguf.ErrFormat, `"k.bool"`)

	// Duplicate key.
	w := &ggufwrite.Writer{}
	w.Add("a", uint8(1)).Add("a", uint8(2))
	d, _, _ = w.Encode()
	expectErr(t, "duplicate key", d, gguf.ErrFormat, `"a"`)

	// Key longer than the spec's 2^16-1 bytes.
	w = &ggufwrite.Writer{}
	w.Add(strings.Repeat("k", 1<<16), uint8(1))
	d, _, _ = w.Encode()
	expectErr(t, "key too long", d, gguf.ErrFormat, "key")

	// Arrays nested too deep.
	var v any = ggufwrite.Array{Elem: gguf.Uint8}
	for range 9 {
		v = ggufwrite.Array{Elem: gguf.Array, Values: []any{v}}
	}
	w = &ggufwrite.Writer{}
	w.Add("deep", v)
	d, _, _ = w.Encode()
	expectErr(t, "nesting", d, gguf.ErrFormat, "nested")

	// Bad alignments.
	for _, a := range []uint32{48, 1 << 21} {
		w = &ggufwrite.Writer{Alignment: a}
		w.Add("x", uint8(1))
		d, _, _ = w.Encode()
		expectErr(t, "alignment", d, gguf.ErrFormat, "general.alignment")
	}
	w = &ggufwrite.Writer{}
	w.Add("general.alignment", "32")
	d, _, _ = w.Encode()
	expectErr(t, "alignment as string", d, gguf.ErrFormat, "general.alignment")
}

func TestBadTensorInfo(t *testing.T) {
	data, lay := encodeSample(t)
	// Tensor 7 is blk.0.i.weight, I8 [5].
	typ := tensorField(lay, 7, "blk.0.i.weight", 1)
	d := slices.Clone(data)
	binary.LittleEndian.PutUint64(d[typ+4:], uint64(len(data)))
	expectErr(t, "offset past end", d, gguf.ErrFormat, `tensor "blk.0.i.weight": offset`)

	d = slices.Clone(data)
	binary.LittleEndian.PutUint64(d[typ+4:], binary.LittleEndian.Uint64(d[typ+4:])+1)
	expectErr(t, "misaligned offset", d, gguf.ErrFormat, "not a multiple of the alignment")

	d = slices.Clone(data)
	binary.LittleEndian.PutUint32(d[typ:], 99)
	expectErr(t, "unknown ggml type", d, gguf.ErrUnsupported, `tensor "blk.0.i.weight": ggml type 99`)

	// Tensor 0 is token_embd.weight F16 [4, 2]: make the dims overflow.
	dims := lay.TensorInfoOffsets[0] + 8 + len("token_embd.weight") + 4
	d = slices.Clone(data)
	binary.LittleEndian.PutUint64(d[dims:], 1<<40)
	binary.LittleEndian.PutUint64(d[dims+8:], 1<<40)
	expectErr(t, "dims product overflow", d, gguf.ErrFormat, `"token_embd.weight"`)
	// Large but not overflowing: past end of data.
	d = slices.Clone(data)
	binary.LittleEndian.PutUint64(d[dims:], 1<<30)
	expectErr(t, "size past end", d, gguf.ErrFormat, "past end of data")

	d = slices.Clone(data)
	binary.LittleEndian.PutUint32(d[dims-4:], 5)
	expectErr(t, "n_dims 5", d, gguf.ErrFormat, "n_dims 5")

	// Tensor 1 (output_norm.weight) moved onto tensor 0.
	d = slices.Clone(data)
	binary.LittleEndian.PutUint64(d[tensorField(lay, 1, "output_norm.weight", 1)+4:], 0)
	expectErr(t, "overlap", d, gguf.ErrFormat, "overlaps")

	w := &ggufwrite.Writer{}
	w.AddTensor("a", gguf.TypeF32, []uint64{1}, make([]byte, 4)).AddTensor("a", gguf.TypeF32, []uint64{1}, make([]byte, 4))
	d, _, _ = w.Encode()
	expectErr(t, "duplicate tensor", d, gguf.ErrFormat, `tensor "a" appears twice`)

	w = &ggufwrite.Writer{}
	w.AddTensor(strings.Repeat("n", 64), gguf.TypeF32, []uint64{1}, make([]byte, 4))
	d, _, _ = w.Encode()
	expectErr(t, "long name", d, gguf.ErrFormat, "name")

	w = &ggufwrite.Writer{Unchecked: true}
	w.AddTensor("blk.0.attn_q.weight", gguf.TypeI2_S, []uint64{128, 2}, make([]byte, 64)) // no 32-byte tail
	d, _, _ = w.Encode()
	expectErr(t, "I2_S without its tail", d, gguf.ErrFormat, `"blk.0.attn_q.weight"`)
}

func TestOpenMissingAndTiny(t *testing.T) {
	if _, err := gguf.Open("/nonexistent/x.gguf"); err == nil {
		t.Error("missing file opened")
	}
	if _, err := openBytes(t, nil); !errors.Is(err, gguf.ErrFormat) {
		t.Errorf("empty file: %v", err)
	}
}

// TestHugeCountsDoNotAllocate: counts that the file size allows but the file
// does not hold must not make the reader allocate in proportion to them.
func TestHugeCountsDoNotAllocate(t *testing.T) {
	data := make([]byte, 4<<20)
	copy(data, gguf.Magic)
	binary.LittleEndian.PutUint32(data[4:], 3)
	left := uint64(len(data) - gguf.HeaderSize)
	binary.LittleEndian.PutUint64(data[8:], left/25)
	binary.LittleEndian.PutUint64(data[16:], left/14)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := gguf.Parse(data)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, gguf.ErrFormat) {
		t.Fatalf("err = %v", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Fatalf("Parse allocated %d bytes for a file of %d", got, len(data))
	}
}
