package safetensors_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/speakez/barewire/mmapmodel/safetensors"
	"github.com/speakez/barewire/mmapmodel/safetensors/stwrite"
	"github.com/speakez/barewire/mmapmodel/ternary"
)

func FuzzOpenSafetensors(f *testing.F) {
	data, _ := sampleWriter().Encode()
	f.Add(data)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := writeFuzzFile(t, dir, data)
		defer os.Remove(p)
		file, err := safetensors.Open(p)
		if err != nil {
			if !errors.Is(err, safetensors.ErrFormat) && !errors.Is(err, safetensors.ErrUnsupported) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		defer file.Close()
		var covered uint64
		for _, ti := range file.Tensors() {
			d, err := file.TensorData(ti.Name)
			if err != nil || uint64(len(d)) != ti.End-ti.Begin {
				t.Fatalf("tensor %q: %d bytes, %v", ti.Name, len(d), err)
			}
			covered += uint64(len(d))
			if ti.DType.Bits()%8 == 0 && ti.Elements() <= 1<<16 {
				_, _ = file.Float32s(ti.Name)
			}
			// A 2-D U8 tensor may be a BitNet packed weight.
			if ti.DType == safetensors.U8 && len(ti.Shape) == 2 && ti.Shape[0] > 0 && ti.Shape[1] > 0 && ti.Elements() <= 1<<16 {
				h, err := ternary.NewHFPacked(d, int(ti.Shape[0]), int(ti.Shape[1]), 1, ternary.HFScaleReciprocal)
				if err != nil {
					t.Fatalf("tensor %q accepted by safetensors, refused by the unpacker: %v", ti.Name, err)
				}
				row := make([]int8, h.Cols())
				for r := 0; r < h.Rows(); r++ {
					_ = h.Row(r, row)
				}
			}
		}
		if covered != uint64(len(data))-file.DataOffset {
			t.Fatalf("tensors cover %d of %d bytes", covered, uint64(len(data))-file.DataOffset)
		}
	})
}

// TestWriteFuzzCorpus regenerates the seed corpus when ST_WRITE_CORPUS=1.
// stSeeds returns the seed corpus of FuzzOpenSafetensors by file name.
func stSeeds(t *testing.T) map[string][]byte {
	sample, err := sampleWriter().Encode()
	if err != nil {
		t.Fatal(err)
	}
	good := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}}`
	seeds := map[string][]byte{
		"sample":       sample,
		"empty_header": stwrite.Assemble("{}", nil),
		"small":        stwrite.Assemble(good, make([]byte, 11)),
		"overlap":      stwrite.Assemble(`{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[4],"data_offsets":[7,11]}}`, make([]byte, 11)),
		"hole":         stwrite.Assemble(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, make([]byte, 3)),
		"not_json":     stwrite.Assemble("{nope", nil),
		"truncated":    sample[:len(sample)-3],
		"huge_length":  append([]byte{0, 0, 0, 0, 1, 0, 0, 0}, sample[8:]...),
	}
	return seeds
}

func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("ST_WRITE_CORPUS") != "1" {
		t.Skip("set ST_WRITE_CORPUS=1 to rewrite testdata/fuzz/FuzzOpenSafetensors")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzOpenSafetensors")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	seeds := stSeeds(t)
	for name, d := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", d)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFuzzCorpusIsCurrent: the committed seed corpus is what stSeeds
// makes (rewrite it with ST_WRITE_CORPUS=1 after changing either).
func TestFuzzCorpusIsCurrent(t *testing.T) {
	for name, d := range stSeeds(t) {
		got, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzOpenSafetensors", name))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", d); string(got) != want {
			t.Errorf("testdata/fuzz/FuzzOpenSafetensors/%s is stale (rewrite it with ST_WRITE_CORPUS=1)", name)
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
