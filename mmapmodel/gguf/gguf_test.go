package gguf_test

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/speakez/barewire/mmapmodel/gguf"
	"github.com/speakez/barewire/mmapmodel/gguf/ggufwrite"
)

// sampleWriter builds a small BitNet-like file with every metadata type and
// a tensor of each ternary-relevant ggml type.
func sampleWriter() *ggufwrite.Writer {
	w := &ggufwrite.Writer{}
	w.Add("general.architecture", "bitnet-b1.58").
		Add("general.name", "tiny").
		Add("bitnet-b1.58.context_length", uint32(4096)).
		Add("bitnet-b1.58.attention.layer_norm_rms_epsilon", float32(1e-5)).
		Add("k.u8", uint8(200)).Add("k.i8", int8(-7)).
		Add("k.u16", uint16(65000)).Add("k.i16", int16(-300)).
		Add("k.u32", uint32(4000000000)).Add("k.i32", int32(-70000)).
		Add("k.u64", uint64(1)<<40).Add("k.i64", int64(-1)<<40).
		Add("k.f64", 0.25).Add("k.bool", true).
		Add("tokenizer.ggml.tokens", []string{"a", "b", "Ġc"}).
		Add("tokenizer.ggml.scores", []float32{0, -1.5, 2}).
		Add("tokenizer.ggml.token_type", []int32{1, 3, 6}).
		Add("k.nested", ggufwrite.Array{Elem: gguf.Array, Values: []any{
			ggufwrite.Array{Elem: gguf.Uint8, Values: []any{uint8(1), uint8(2)}},
			ggufwrite.Array{Elem: gguf.String, Values: []any{"x"}},
		}}).
		Add("k.empty", ggufwrite.Array{Elem: gguf.Int64})
	w.AddTensor("token_embd.weight", gguf.TypeF16, []uint64{4, 2}, make([]byte, 16))
	w.AddTensor("output_norm.weight", gguf.TypeF32, []uint64{4}, ggufwrite.F32Bytes([]float32{1, 2, 3, 4}))
	w.AddTensor("blk.0.attn_q.weight", gguf.TypeI2_S, []uint64{128, 2}, seq(256/4+32))
	w.AddTensor("blk.0.ffn_up.weight", gguf.TypeTQ2_0, []uint64{256, 1}, seq(66))
	w.AddTensor("blk.0.ffn_down.weight", gguf.TypeTQ1_0, []uint64{256, 2}, seq(108))
	w.AddTensor("blk.0.b.weight", gguf.TypeBF16, []uint64{3}, seq(6))
	w.AddTensor("blk.0.q.weight", gguf.TypeQ8_0, []uint64{32, 1}, seq(34))
	w.AddTensor("blk.0.i.weight", gguf.TypeI8, []uint64{5}, seq(5))
	return w
}

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return b
}

func writeTemp(t testing.TB, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.gguf")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func openBytes(t testing.TB, data []byte) (*gguf.File, error) {
	t.Helper()
	f, err := gguf.Open(writeTemp(t, data))
	if err == nil {
		t.Cleanup(func() { f.Close() })
	}
	return f, err
}

func TestOpenSample(t *testing.T) {
	data, lay, err := sampleWriter().Encode()
	if err != nil {
		t.Fatal(err)
	}
	f, err := openBytes(t, data)
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 3 || f.Alignment != 32 || f.DataOffset != uint64(lay.DataStart) || lay.DataStart%32 != 0 {
		t.Fatalf("version %d alignment %d data %d (layout %d)", f.Version, f.Alignment, f.DataOffset, lay.DataStart)
	}
	if s, err := f.String("general.name"); err != nil || s != "tiny" {
		t.Errorf("general.name = %q, %v", s, err)
	}
	if n, err := f.ArchUint("context_length"); err != nil || n != 4096 {
		t.Errorf("context_length = %d, %v", n, err)
	}
	if k, _ := f.ArchKey("context_length"); k != "bitnet-b1.58.context_length" {
		t.Errorf("ArchKey = %q", k)
	}
	if e, err := f.ArchFloat("attention.layer_norm_rms_epsilon"); err != nil || e != float64(float32(1e-5)) {
		t.Errorf("eps = %v, %v", e, err)
	}
	ints := map[string]int64{"k.u8": 200, "k.i8": -7, "k.u16": 65000, "k.i16": -300, "k.u32": 4000000000, "k.i32": -70000, "k.u64": 1 << 40, "k.i64": -1 << 40}
	for k, want := range ints {
		if got, err := f.Int(k); err != nil || got != want {
			t.Errorf("Int(%s) = %d, %v; want %d", k, got, err, want)
		}
	}
	if _, err := f.Uint("k.i8"); !errors.Is(err, gguf.ErrWrongType) || !strings.Contains(err.Error(), `"k.i8"`) {
		t.Errorf("Uint of negative: %v", err)
	}
	if x, err := f.Float("k.f64"); err != nil || x != 0.25 {
		t.Errorf("k.f64 = %v %v", x, err)
	}
	if b, err := f.Bool("k.bool"); err != nil || !b {
		t.Errorf("k.bool = %v %v", b, err)
	}
	if s, err := f.Strings("tokenizer.ggml.tokens"); err != nil || !slices.Equal(s, []string{"a", "b", "Ġc"}) {
		t.Errorf("tokens = %q %v", s, err)
	}
	if s, err := f.Float32s("tokenizer.ggml.scores"); err != nil || !slices.Equal(s, []float32{0, -1.5, 2}) {
		t.Errorf("scores = %v %v", s, err)
	}
	if s, err := f.Int32s("tokenizer.ggml.token_type"); err != nil || !slices.Equal(s, []int32{1, 3, 6}) {
		t.Errorf("token_type = %v %v", s, err)
	}
	nested, _ := f.Lookup("k.nested")
	if got := nested.String(); got != `array[2]{uint8[2]{1, 2}, string[1]{"x"}}` {
		t.Errorf("nested = %s", got)
	}
	if v, _ := f.Lookup("k.empty"); v.Len() != 0 || v.ElemType() != gguf.Int64 {
		t.Errorf("empty array: %v", v)
	}
	if _, err := f.String("nope"); !errors.Is(err, gguf.ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("missing key: %v", err)
	}
	if _, err := f.String("k.u8"); !errors.Is(err, gguf.ErrWrongType) || !strings.Contains(err.Error(), `"k.u8"`) {
		t.Errorf("wrong type: %v", err)
	}
	if _, err := f.Strings("tokenizer.ggml.scores"); !errors.Is(err, gguf.ErrWrongType) {
		t.Errorf("wrong array type: %v", err)
	}
	if len(f.KVs()) != 19 || f.KVs()[0].Key != "general.architecture" {
		t.Errorf("KVs: %d", len(f.KVs()))
	}
	wantSizes := map[string]uint64{"token_embd.weight": 16, "output_norm.weight": 16, "blk.0.attn_q.weight": 96,
		"blk.0.ffn_up.weight": 66, "blk.0.ffn_down.weight": 108, "blk.0.b.weight": 6, "blk.0.q.weight": 34, "blk.0.i.weight": 5}
	if len(f.Tensors()) != len(wantSizes) {
		t.Fatalf("%d tensors", len(f.Tensors()))
	}
	for i, ti := range f.Tensors() {
		if ti.Size != wantSizes[ti.Name] {
			t.Errorf("%s: size %d, want %d", ti.Name, ti.Size, wantSizes[ti.Name])
		}
		d, err := f.TensorData(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if uint64(len(d)) != ti.Size || (f.DataOffset+ti.Offset)%32 != 0 || int(f.DataOffset+ti.Offset) != lay.TensorOffsets[i] {
			t.Errorf("%s: data at %d, len %d", ti.Name, f.DataOffset+ti.Offset, len(d))
		}
	}
	d, _ := f.TensorData("output_norm.weight")
	if math.Float32frombits(binary.LittleEndian.Uint32(d[12:])) != 4 {
		t.Error("output_norm data wrong")
	}
	if ti, _ := f.Tensor("blk.0.attn_q.weight"); ti.Elements() != 256 || ti.Type != gguf.TypeI2_S || ti.Type.String() != "I2_S" {
		t.Errorf("attn_q info %+v", ti)
	}
	if _, err := f.TensorData("nope"); !errors.Is(err, gguf.ErrNotFound) {
		t.Errorf("missing tensor: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.TensorData("blk.0.i.weight"); err == nil {
		t.Error("TensorData after Close succeeded")
	}
}

func TestVersion2AndAlignment(t *testing.T) {
	w := sampleWriter()
	w.Version = 2
	w.Alignment = 64
	data, lay, err := w.Encode()
	if err != nil {
		t.Fatal(err)
	}
	f, err := openBytes(t, data)
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 2 || f.Alignment != 64 || f.DataOffset%64 != 0 || int(f.DataOffset) != lay.DataStart {
		t.Fatalf("v%d align %d data %d", f.Version, f.Alignment, f.DataOffset)
	}
	for _, ti := range f.Tensors() {
		if ti.Offset%64 != 0 {
			t.Errorf("%s at %d", ti.Name, ti.Offset)
		}
	}
}

func TestTensorSize(t *testing.T) {
	cases := []struct {
		typ  gguf.GGMLType
		dims []uint64
		want uint64
	}{
		{gguf.TypeF32, []uint64{3, 5}, 60},
		{gguf.TypeF16, []uint64{2560, 128256}, 2560 * 128256 * 2},
		{gguf.TypeBF16, []uint64{7}, 14},
		{gguf.TypeQ8_0, []uint64{64, 3}, 2 * 34 * 3},
		{gguf.TypeI8, []uint64{9}, 9},
		{gguf.TypeTQ1_0, []uint64{512, 2}, 2 * 54 * 2},
		{gguf.TypeTQ2_0, []uint64{2560, 6912}, 10 * 66 * 6912},
		// I2_S: n/4 + 32 (the 2B4T attn_q is 2560×2560).
		{gguf.TypeI2_S, []uint64{2560, 2560}, 2560*2560/4 + 32},
		{gguf.TypeQ6_K, []uint64{256}, 210},
		{gguf.TypeF32, nil, 4},
	}
	for _, c := range cases {
		got, err := gguf.TensorSize(c.typ, c.dims)
		if err != nil || got != c.want {
			t.Errorf("TensorSize(%v, %v) = %d, %v; want %d", c.typ, c.dims, got, err, c.want)
		}
	}
	bad := []struct {
		typ  gguf.GGMLType
		dims []uint64
		want error
	}{
		{gguf.TypeQ8_0, []uint64{33}, gguf.ErrFormat},
		{gguf.TypeTQ2_0, []uint64{128, 2}, gguf.ErrFormat},
		{gguf.TypeI2_S, []uint64{6}, gguf.ErrFormat},
		{gguf.TypeF32, []uint64{1 << 32, 1 << 32}, gguf.ErrFormat},
		{gguf.TypeF32, []uint64{1 << 62}, gguf.ErrFormat},
		{gguf.GGMLType(99), []uint64{1}, gguf.ErrUnsupported},
	}
	for _, c := range bad {
		if _, err := gguf.TensorSize(c.typ, c.dims); !errors.Is(err, c.want) {
			t.Errorf("TensorSize(%v, %v): %v, want %v", c.typ, c.dims, err, c.want)
		}
	}
}
