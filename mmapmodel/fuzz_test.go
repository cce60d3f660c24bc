package mmapmodel_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/mmapmodel/internal/testmodel"
)

// FuzzOpen writes arbitrary bytes to a file, opens it, verifies it and
// walks a view over every tensor. Nothing may panic, and every error must
// wrap one of the package's sentinels. The committed seeds in
// testdata/fuzz/FuzzOpen are the tiny model and corruptions of it; run
// with -fuzztime=Nx for a bounded count.
func FuzzOpen(f *testing.F) {
	if b, err := os.ReadFile(shippedFile); err == nil {
		f.Add(b)
	}
	// Each input is written to a file; on a RAM file system when there is
	// one, so that a fuzzing run does not turn into disk writeback.
	dir := f.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "fuzzopen-*"); err == nil {
			dir = d
			f.Cleanup(func() { os.RemoveAll(d) })
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "f.bwm")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := mmapmodel.Open(p)
		if err != nil {
			if !knownError(err) {
				t.Fatalf("Open: error wraps no sentinel: %v", err)
			}
			return
		}
		defer m.Close()
		if err := m.Verify(); err != nil && !knownError(err) {
			t.Fatalf("Verify: error wraps no sentinel: %v", err)
		}
		for _, tn := range m.Tensors() {
			walk(t, tn)
		}
	})
}

func knownError(err error) bool {
	for _, s := range []error{mmapmodel.ErrFormat, mmapmodel.ErrChecksum, mmapmodel.ErrVersion, mmapmodel.ErrTooLarge} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// walk reads every byte of every view that Open's validation allows.
func walk(t *testing.T, tn *mmapmodel.Tensor) {
	raw, err := mmapmodel.NewView[uint8](tn)
	if err != nil {
		t.Fatalf("raw view of a validated tensor %q: %v", tn.Name, err)
	}
	var sum byte
	for _, c := range raw.Data() {
		sum += c
	}
	if raw.Size() != tn.Length {
		t.Fatalf("tensor %q: view is %d bytes, entry says %d", tn.Name, raw.Size(), tn.Length)
	}
	raw.Release()
	switch tn.DType {
	case mmapmodel.T2, mmapmodel.T16:
		v, err := mmapmodel.NewTernaryMatrix(tn)
		if err != nil {
			t.Fatal(err)
		}
		for r := 0; r < int(v.Rows); r++ {
			_ = v.Row(r)[v.RowBytes-1]
		}
		v.Release()
	case mmapmodel.I8:
		v, err := mmapmodel.NewInt8Matrix(tn)
		if err != nil {
			t.Fatal(err)
		}
		for r := 0; r < int(v.Rows); r++ {
			_ = v.Row(r)[v.Cols-1]
			_ = v.Scales()[r]
		}
		v.Release()
	case mmapmodel.F32:
		v, err := mmapmodel.NewView[float32](tn)
		if err != nil || v.Len() != tn.NumElems() {
			t.Fatalf("f32 view of %q: %v", tn.Name, err)
		}
		v.Release()
	case mmapmodel.F16:
		v, err := mmapmodel.NewView[mmapmodel.Float16](tn)
		if err != nil || v.Len() != tn.NumElems() {
			t.Fatalf("f16 view of %q: %v", tn.Name, err)
		}
		v.Release()
	case mmapmodel.BF16:
		v, err := mmapmodel.NewView[mmapmodel.BFloat16](tn)
		if err != nil || v.Len() != tn.NumElems() {
			t.Fatalf("bf16 view of %q: %v", tn.Name, err)
		}
		v.Release()
	}
	_ = sum
}

// FuzzManifest parses arbitrary manifests; a manifest that parses must
// survive a Marshal/Parse round trip unchanged.
func FuzzManifest(f *testing.F) {
	if seeds, err := testmodel.ManifestSeeds(); err == nil {
		for _, b := range seeds {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := mmapmodel.ParseManifest("m.json", b)
		if err != nil {
			if !knownError(err) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		enc, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		m2, err := mmapmodel.ParseManifest("m.json", enc)
		if err != nil {
			t.Fatalf("re-parse of a marshalled manifest: %v", err)
		}
		enc2, _ := m2.Marshal()
		if string(enc) != string(enc2) {
			t.Fatalf("round trip changed the manifest:\n%s\n%s", enc, enc2)
		}
	})
}
