package safetensors_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/speakez/barewire/mmapmodel/safetensors"
	"github.com/speakez/barewire/mmapmodel/safetensors/stwrite"
)

// sampleWriter holds a BitNet 2B4T-like packed projection (U8 [out/4, in] +
// BF16 weight_scale [1]), a norm in F32 placed at an odd offset, and other
// dtypes.
func sampleWriter() *stwrite.Writer {
	w := &stwrite.Writer{Metadata: map[string]string{"format": "pt"}}
	w.Add("model.layers.0.self_attn.q_proj.weight", safetensors.U8, []uint64{2, 3}, []byte{0b10100001, 0b00011000, 0x55, 0b10010000, 0b00001010, 0x55})
	w.Add("model.layers.0.self_attn.q_proj.weight_scale", safetensors.BF16, []uint64{1}, stwrite.BF16Bytes([]float32{0.5}))
	w.Add("flag", safetensors.BOOL, []uint64{1}, []byte{1})
	w.Add("model.norm.weight", safetensors.F32, []uint64{3}, stwrite.F32Bytes([]float32{1, -2, 0.25}))
	w.Add("model.embed_tokens.weight", safetensors.F16, []uint64{2, 2}, []byte{0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0x00, 0x00})
	w.Add("ids", safetensors.I64, []uint64{2}, []byte{1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	w.Add("scalar", safetensors.F32, nil, stwrite.F32Bytes([]float32{7}))
	w.Add("empty", safetensors.F32, []uint64{0, 4}, nil)
	return w
}

func writeTemp(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func openBytes(t testing.TB, data []byte) (*safetensors.File, error) {
	t.Helper()
	f, err := safetensors.Open(writeTemp(t, t.TempDir(), "m.safetensors", data))
	if err == nil {
		t.Cleanup(func() { f.Close() })
	}
	return f, err
}

func TestOpenSample(t *testing.T) {
	data, err := sampleWriter().Encode()
	if err != nil {
		t.Fatal(err)
	}
	f, err := openBytes(t, data)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["format"] != "pt" || f.DataOffset%8 != 0 || f.DataOffset != 8+f.HeaderSize {
		t.Fatalf("metadata %v, data offset %d", f.Metadata, f.DataOffset)
	}
	names := []string{}
	for _, ti := range f.Tensors() {
		names = append(names, ti.Name)
	}
	if len(names) != 8 || names[0] != "model.layers.0.self_attn.q_proj.weight" || names[7] != "empty" {
		t.Fatalf("tensors in header order: %v", names)
	}
	q, _ := f.TensorData("model.layers.0.self_attn.q_proj.weight")
	if !slices.Equal(q, []byte{0b10100001, 0b00011000, 0x55, 0b10010000, 0b00001010, 0x55}) {
		t.Fatalf("packed weight bytes %v", q)
	}
	if s, err := f.Scalar("model.layers.0.self_attn.q_proj.weight_scale"); err != nil || s != 0.5 {
		t.Fatalf("weight_scale %v %v", s, err)
	}
	// model.norm.weight starts at byte 6+2+1 = 9 of the buffer: unaligned.
	ti, _ := f.Tensor("model.norm.weight")
	if ti.Begin != 9 || (f.DataOffset+ti.Begin)%4 == 0 {
		t.Fatalf("norm at %d", ti.Begin)
	}
	if v, err := f.Float32s("model.norm.weight"); err != nil || !slices.Equal(v, []float32{1, -2, 0.25}) {
		t.Fatalf("norm %v %v", v, err)
	}
	if v, err := f.Float32s("model.embed_tokens.weight"); err != nil || !slices.Equal(v, []float32{1, -2, 0.5, 0}) {
		t.Fatalf("embed %v %v", v, err)
	}
	if v, err := f.Float32s("ids"); err != nil || !slices.Equal(v, []float32{1, -1}) {
		t.Fatalf("ids %v %v", v, err)
	}
	if v, err := f.Scalar("scalar"); err != nil || v != 7 {
		t.Fatalf("scalar %v %v", v, err)
	}
	if ti, _ := f.Tensor("empty"); ti.Elements() != 0 || ti.Begin != ti.End {
		t.Fatalf("empty %+v", ti)
	}
	if _, err := f.Scalar("model.norm.weight"); !errors.Is(err, safetensors.ErrFormat) {
		t.Fatalf("Scalar of 3 values: %v", err)
	}
	if _, err := f.Float32s("flag"); !errors.Is(err, safetensors.ErrUnsupported) {
		t.Fatalf("BOOL as float: %v", err)
	}
	if _, err := f.TensorData("nope"); !errors.Is(err, safetensors.ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("missing: %v", err)
	}
	f.Close()
	if _, err := f.TensorData("ids"); err == nil {
		t.Fatal("TensorData after Close")
	}
}

func TestF16ToF32(t *testing.T) {
	for bits, want := range map[uint16]float32{0x3c00: 1, 0xc000: -2, 0x0001: 5.960464477539063e-08, 0x7bff: 65504, 0x3555: 0.333251953125} {
		if got := safetensors.F16ToF32(bits); got != want {
			t.Errorf("F16ToF32(%#04x) = %v, want %v", bits, got, want)
		}
	}
	if got := safetensors.BF16ToF32(0xbf80); got != -1 {
		t.Errorf("BF16ToF32 = %v", got)
	}
}

func expectErr(t *testing.T, name string, data []byte, want error, mention string) {
	t.Helper()
	_, err := safetensors.Parse(data)
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", name, err, want)
		return
	}
	if mention != "" && !strings.Contains(err.Error(), mention) {
		t.Errorf("%s: error %q does not mention %q", name, err, mention)
	}
	if _, err := openBytes(t, data); !errors.Is(err, want) {
		t.Errorf("%s (Open): err = %v, want %v", name, err, want)
	}
}

func TestBadFiles(t *testing.T) {
	good := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}}`
	buf := make([]byte, 11)
	as := stwrite.Assemble
	if _, err := safetensors.Parse(as(good, buf)); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	full := as(good, buf)
	hugeLen := slices.Clone(full)
	hugeLen[0], hugeLen[1], hugeLen[2] = 0, 0, 0x10 // 1 MiB > file
	expectErr(t, "header length past end", hugeLen, safetensors.ErrFormat, "past end")
	overMax := slices.Clone(full)
	overMax[3], overMax[4] = 0, 0x10
	expectErr(t, "header length over limit", overMax, safetensors.ErrFormat, "limit")
	expectErr(t, "header not JSON", as("{not json", buf), safetensors.ErrFormat, "header")
	expectErr(t, "header not an object", as("[1,2]", buf), safetensors.ErrFormat, "'{'")
	expectErr(t, "trailing data", as(good+"{}", buf), safetensors.ErrFormat, "after the JSON")
	expectErr(t, "invalid UTF-8", as("{\"\xff\":"+`{"dtype":"U8","shape":[11],"data_offsets":[0,11]}}`, buf), safetensors.ErrFormat, "UTF-8")
	expectErr(t, "unknown dtype", as(strings.Replace(good, `"U8"`, `"Q4"`, 1), buf), safetensors.ErrUnsupported, `tensor "b": dtype "Q4"`)
	expectErr(t, "size mismatch", as(strings.Replace(good, `[3]`, `[4]`, 1), buf), safetensors.ErrFormat, `tensor "b"`)
	expectErr(t, "overlap", as(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[4],"data_offsets":[7,11]}}`, buf), safetensors.ErrFormat, "overlap")
	expectErr(t, "hole", as(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[2],"data_offsets":[9,11]}}`, buf), safetensors.ErrFormat, "unused")
	expectErr(t, "not covering the end", as(good, make([]byte, 12)), safetensors.ErrFormat, "cover 11 bytes of the 12")
	expectErr(t, "offset past end", as(good, make([]byte, 10)), safetensors.ErrFormat, "past end of data")
	expectErr(t, "end before begin", as(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[5,0]}}`, buf), safetensors.ErrFormat, "end before")
	expectErr(t, "duplicate tensor", as(`{"a":{"dtype":"U8","shape":[11],"data_offsets":[0,11]},"a":{"dtype":"U8","shape":[0],"data_offsets":[11,11]}}`, buf), safetensors.ErrFormat, `"a" appears twice`)
	expectErr(t, "duplicate metadata key", as(`{"__metadata__":{"k":"1","k":"2"},"a":{"dtype":"U8","shape":[11],"data_offsets":[0,11]}}`, buf), safetensors.ErrFormat, "twice")
	expectErr(t, "metadata not strings", as(`{"__metadata__":{"k":1},"a":{"dtype":"U8","shape":[11],"data_offsets":[0,11]}}`, buf), safetensors.ErrFormat, "want a string")
	expectErr(t, "missing field", as(`{"a":{"dtype":"U8","data_offsets":[0,11]}}`, buf), safetensors.ErrFormat, `tensor "a"`)
	expectErr(t, "three offsets", as(`{"a":{"dtype":"U8","shape":[11],"data_offsets":[0,11,12]}}`, buf), safetensors.ErrFormat, "data_offsets")
	expectErr(t, "negative shape", as(`{"a":{"dtype":"U8","shape":[-11],"data_offsets":[0,11]}}`, buf), safetensors.ErrFormat, `tensor "a"`)
	expectErr(t, "shape overflow", as(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,11]}}`, buf), safetensors.ErrFormat, "overflow")
	expectErr(t, "bits overflow", as(`{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,11]}}`, buf), safetensors.ErrFormat, "overflow")
	expectErr(t, "F4 half byte", as(`{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}`, buf[:2]), safetensors.ErrFormat, "whole number of bytes")
	expectErr(t, "short file", []byte{1, 2, 3}, safetensors.ErrFormat, "8-byte")
	// F4 with an even count is fine: 4 values in 2 bytes.
	if _, err := safetensors.Parse(as(`{"a":{"dtype":"F4","shape":[4],"data_offsets":[0,2]}}`, buf[:2])); err != nil {
		t.Errorf("F4 ×4: %v", err)
	}
}

func TestTruncatedAtEveryRegionBoundary(t *testing.T) {
	data, err := sampleWriter().Encode()
	if err != nil {
		t.Fatal(err)
	}
	f, _ := safetensors.Parse(data)
	cuts := []int{0, 7, 8, 9, int(f.DataOffset) - 1, int(f.DataOffset)}
	for _, ti := range f.Tensors() {
		cuts = append(cuts, int(f.DataOffset+ti.Begin), int(f.DataOffset+ti.End)-1)
	}
	for _, c := range cuts {
		if c < 0 || c >= len(data) {
			continue
		}
		if _, err := openBytes(t, data[:c]); !errors.Is(err, safetensors.ErrFormat) {
			t.Errorf("cut at %d: %v", c, err)
		}
	}
	for c := 0; c < len(data); c++ {
		if _, err := safetensors.Parse(data[:c]); err == nil {
			t.Fatalf("cut at %d parsed", c)
		}
	}
}
