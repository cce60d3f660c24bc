package gguf_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/speakez/barewire/mmapmodel/gguf"
	"github.com/speakez/barewire/mmapmodel/gguf/ggufwrite"
	"github.com/speakez/barewire/mmapmodel/ternary"
)

// walkValue touches every byte of a metadata value.
func walkValue(v gguf.Value) int {
	n := 0
	switch v.Type() {
	case gguf.Array:
		for e := range v.Elems() {
			n += walkValue(e)
		}
	case gguf.String:
		s, _ := v.Str()
		n += len(s)
	default:
		_ = v.String()
		n++
	}
	return n
}

// decodeTernary runs the ternary decoders over a tensor of a ternary type.
func decodeTernary(ti gguf.TensorInfo, data []byte) {
	if len(ti.Dims) == 0 || ti.Dims[0] == 0 {
		return
	}
	cols := ti.Dims[0]
	rows := ti.Elements() / cols
	if rows == 0 || cols > 1<<30 || rows > 1<<30 {
		return
	}
	drain := func(r interface{ Row(int, []int8) error }, rows, cols int) {
		buf := make([]int8, cols)
		for i := 0; i < rows; i++ {
			if r.Row(i, buf) != nil {
				return
			}
		}
	}
	switch ti.Type {
	case gguf.TypeI2_S:
		_, _ = ternary.DetectI2SLayout(data, int(rows), int(cols), ternary.I2SEvidence{})
		if q, err := ternary.NewI2S(data, int(rows), int(cols), ternary.I2SX86); err == nil {
			drain(q, int(rows), int(cols))
		}
	case gguf.TypeTQ1_0, gguf.TypeTQ2_0:
		kind := ternary.TQ1
		if ti.Type == gguf.TypeTQ2_0 {
			kind = ternary.TQ2
		}
		if q, err := ternary.NewTQ(kind, data, int(rows), int(cols)); err == nil {
			_, _ = q.TensorScale()
			drain(q, int(rows), int(cols))
		} else {
			panic(fmt.Sprintf("tensor %q accepted by gguf but not by the TQ decoder: %v", ti.Name, err))
		}
	}
}

func FuzzOpenGGUF(f *testing.F) {
	// The committed corpus under testdata/fuzz/FuzzOpenGGUF holds the files
	// written by TestWriteFuzzCorpus; add the sample too in case it is absent.
	data, _, _ := sampleWriter().Encode()
	f.Add(data)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := writeFuzzFile(t, dir, data)
		defer os.Remove(p)
		file, err := gguf.Open(p)
		if err != nil {
			if !errors.Is(err, gguf.ErrFormat) && !errors.Is(err, gguf.ErrUnsupported) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		defer file.Close()
		for _, kv := range file.KVs() {
			walkValue(kv.Value)
		}
		for _, ti := range file.Tensors() {
			d, err := file.TensorData(ti.Name)
			if err != nil || uint64(len(d)) != ti.Size {
				t.Fatalf("tensor %q: %d bytes, %v", ti.Name, len(d), err)
			}
			sum := 0
			for _, b := range d {
				sum += int(b)
			}
			_ = sum
			decodeTernary(ti, d)
		}
	})
}

// TestWriteFuzzCorpus regenerates the seed corpus when GGUF_WRITE_CORPUS=1.
// ggufSeeds returns the seed corpus of FuzzOpenGGUF by file name.
func ggufSeeds(t *testing.T) map[string][]byte {
	sample, lay := encodeSample(t)
	v2 := sampleWriter()
	v2.Version, v2.Alignment = 2, 64
	v2data, _, _ := v2.Encode()
	empty, _, _ := (&ggufwrite.Writer{}).Encode()
	tern := &ggufwrite.Writer{}
	tern.Add("general.architecture", "bitnet")
	i2s := make([]byte, 256/4+32)
	for i := range 64 {
		i2s[i] = 0x96 // codes 2,1,1,2
	}
	i2s[64+3] = 0x3f // scale 0.5 (0x3f000000)
	tq2 := make([]byte, 66)
	for i := range 64 {
		tq2[i] = 0x46
	}
	tq2[65] = 0x3c // d = 1
	tq1 := make([]byte, 54)
	for i := range 52 {
		tq1[i] = byte(i * 5)
	}
	tq1[53] = 0x3c
	tern.AddTensor("blk.0.attn_q.weight", gguf.TypeI2_S, []uint64{128, 2}, i2s)
	tern.AddTensor("blk.0.ffn_up.weight", gguf.TypeTQ2_0, []uint64{256}, tq2)
	tern.AddTensor("blk.0.ffn_down.weight", gguf.TypeTQ1_0, []uint64{256}, tq1)
	terndata, _, err := tern.Encode()
	if err != nil {
		t.Fatal(err)
	}
	corrupt := func(off int, b ...byte) []byte {
		d := append([]byte(nil), sample...)
		copy(d[off:], b)
		return d
	}
	seeds := map[string][]byte{
		"sample_v3":         sample,
		"sample_v2_align64": v2data,
		"empty":             empty,
		"ternary":           terndata,
		"truncated_data":    sample[:lay.DataStart+3],
		"truncated_kv":      sample[:lay.KVOffsets[5]+2],
		"bad_version":       corrupt(4, 1),
		"huge_array":        corrupt(lay.KVOffsets[14]+8+len("tokenizer.ggml.tokens")+8, 0, 0, 0, 0, 0, 0, 0, 1),
		"bad_type":          corrupt(tensorField(lay, 7, "blk.0.i.weight", 1), 77),
	}
	return seeds
}

func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("GGUF_WRITE_CORPUS") != "1" {
		t.Skip("set GGUF_WRITE_CORPUS=1 to rewrite testdata/fuzz/FuzzOpenGGUF")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzOpenGGUF")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	seeds := ggufSeeds(t)
	for name, d := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", d)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFuzzCorpusIsCurrent: the committed seed corpus is what ggufSeeds
// makes (rewrite it with GGUF_WRITE_CORPUS=1 after changing either).
func TestFuzzCorpusIsCurrent(t *testing.T) {
	for name, d := range ggufSeeds(t) {
		got, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzOpenGGUF", name))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", d); string(got) != want {
			t.Errorf("testdata/fuzz/FuzzOpenGGUF/%s is stale (rewrite it with GGUF_WRITE_CORPUS=1)", name)
		}
	}
}

// writeFuzzFile writes one input to its own file: a mapped file must never
// be rewritten while mapped (that is a SIGBUS), and fuzz workers run in
// parallel.
func writeFuzzFile(t *testing.T, dir string, data []byte) string {
	fh, err := os.CreateTemp(dir, "fuzz-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
	return fh.Name()
}
