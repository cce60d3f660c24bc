package mmapmodel_test

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speakez/barewire/mmapmodel"
)

var (
	mathFloat32frombits = math.Float32frombits
	mathFloat64frombits = math.Float64frombits
)

// copyRelease copies the shipped release into a temporary directory.
func copyRelease(t *testing.T) (string, *mmapmodel.Manifest) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rel")
	if err := os.CopyFS(dir, os.DirFS(shippedRelease)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	man, err := mmapmodel.ParseManifest("manifest.json", b)
	if err != nil {
		t.Fatal(err)
	}
	return dir, man
}

func writeManifest(t *testing.T, dir string, man *mmapmodel.Manifest) {
	t.Helper()
	b, err := man.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReleaseMissingComponent(t *testing.T) {
	dir, man := copyRelease(t)
	c := man.Components[1]
	if err := os.Remove(filepath.Join(dir, c.FileName())); err != nil {
		t.Fatal(err)
	}
	_, err := mmapmodel.Open(dir)
	wantErr(t, err, mmapmodel.ErrFormat, c.FileName(), `component file for slot "hidden.0" is missing`)
}

func TestReleaseComponentIsDirectory(t *testing.T) {
	dir, man := copyRelease(t)
	p := filepath.Join(dir, man.Components[0].FileName())
	os.Remove(p)
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := mmapmodel.Open(dir)
	wantErr(t, err, mmapmodel.ErrFormat, `component file for slot "input" is a directory; a file is expected`)
}

// TestReleaseHashDiffers: same size, one byte of tensor data changed and
// its CRC left alone. Open (O(header)) succeeds; Verify reports both the
// SHA-256 against the manifest and the tensor's CRC.
func TestReleaseHashDiffers(t *testing.T) {
	dir, man := copyRelease(t)
	c := man.Components[2]
	p := filepath.Join(dir, c.FileName())
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1 // last byte of labels
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := mmapmodel.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	err = m.Verify()
	wantErr(t, err, mmapmodel.ErrChecksum, c.FileName(), "sha256:", "manifest says "+c.SHA256, `tensor "labels"`, "crc:")
}

func TestReleaseSizeDiffers(t *testing.T) {
	dir, man := copyRelease(t)
	c := man.Components[0]
	f, err := os.OpenFile(filepath.Join(dir, c.FileName()), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0})
	f.Close()
	_, err = mmapmodel.Open(dir)
	wantErr(t, err, mmapmodel.ErrChecksum, `slot "input"`, "manifest says")
}

func TestReleaseSlotAndArchMismatch(t *testing.T) {
	dir, man := copyRelease(t)
	man.Components[0].Slot, man.Components[1].Slot = man.Components[1].Slot, man.Components[0].Slot
	writeManifest(t, dir, man)
	_, err := mmapmodel.Open(dir)
	wantErr(t, err, mmapmodel.ErrFormat, "components[0].slot:", `fills slot "input", manifest says "hidden.0"`)

	dir, man = copyRelease(t)
	man.Arch = "bitnet"
	writeManifest(t, dir, man)
	_, err = mmapmodel.Open(dir)
	wantErr(t, err, mmapmodel.ErrFormat, "arch:", `architecture "mlp", manifest says "bitnet"`)
}

func TestReleaseRefusesSingleFile(t *testing.T) {
	dir, man := copyRelease(t)
	b, err := os.ReadFile(shippedFile)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256Hex(b)
	if err := os.WriteFile(filepath.Join(dir, sum+".bwm"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	man.Components = []mmapmodel.ManifestComponent{{Slot: "all", SHA256: sum, Size: int64(len(b))}}
	writeManifest(t, dir, man)
	_, err = mmapmodel.Open(dir)
	wantErr(t, err, mmapmodel.ErrFormat, "kind:", `kind "single" in a release`)
}

func TestParseManifestErrors(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(shippedRelease, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	hash := strings.Repeat("a", 64)
	for _, tc := range []struct {
		name, in string
		sentinel error
		want     string
	}{
		{"empty", ``, mmapmodel.ErrFormat, "cannot decode"},
		{"unknown field", `{"format":"barewire-release","version":1,"extra":1}`, mmapmodel.ErrFormat, "unknown field"},
		{"trailing", string(good) + "{}", mmapmodel.ErrFormat, "data after the manifest"},
		{"format", `{"format":"x","version":1}`, mmapmodel.ErrFormat, `format: format "x"`},
		{"newer", `{"format":"barewire-release","version":2}`, mmapmodel.ErrVersion, "manifest version 2 is newer than this reader (max 1)"},
		{"no components", `{"format":"barewire-release","version":1,"arch":"a"}`, mmapmodel.ErrFormat, "0 components"},
		{"path in hash", `{"format":"barewire-release","version":1,"arch":"a","components":[{"slot":"s","sha256":"../../etc/passwd","size":5000}]}`,
			mmapmodel.ErrFormat, "components[0].sha256: \"../../etc/passwd\" is not 64 lowercase hex"},
		{"upper hex", `{"format":"barewire-release","version":1,"arch":"a","components":[{"slot":"s","sha256":"` + strings.ToUpper(hash) + `","size":5000}]}`,
			mmapmodel.ErrFormat, "not 64 lowercase hex"},
		{"dup slot", `{"format":"barewire-release","version":1,"arch":"a","components":[{"slot":"s","sha256":"` + hash + `","size":5000},{"slot":"s","sha256":"` + strings.Repeat("b", 64) + `","size":5000}]}`,
			mmapmodel.ErrFormat, `slot "s" appears twice`},
		{"dup file", `{"format":"barewire-release","version":1,"arch":"a","components":[{"slot":"s","sha256":"` + hash + `","size":5000},{"slot":"t","sha256":"` + hash + `","size":5000}]}`,
			mmapmodel.ErrFormat, "fills two slots"},
		{"tiny size", `{"format":"barewire-release","version":1,"arch":"a","components":[{"slot":"s","sha256":"` + hash + `","size":10}]}`,
			mmapmodel.ErrFormat, "size 10"},
		{"two values", `{"format":"barewire-release","version":1,"arch":"a","params":[{"key":"k","int":1,"string":"x"}],"components":[{"slot":"s","sha256":"` + hash + `","size":5000}]}`,
			mmapmodel.ErrFormat, `parameter "k" has 2 values`},
		{"no value", `{"format":"barewire-release","version":1,"arch":"a","params":[{"key":"k"}],"components":[{"slot":"s","sha256":"` + hash + `","size":5000}]}`,
			mmapmodel.ErrFormat, `parameter "k" has 0 values`},
		{"too big", strings.Repeat(" ", mmapmodel.MaxManifestSize+1), mmapmodel.ErrFormat, "max 1048576"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mmapmodel.ParseManifest("m.json", []byte(tc.in))
			wantErr(t, err, tc.sentinel, "m.json", tc.want)
		})
	}
}

// TestReleaseWriterReusesComponents builds a second release that shares two
// unchanged component files with the first and replaces the third.
func TestReleaseWriterReusesComponents(t *testing.T) {
	dir, man := copyRelease(t)
	rw, err := mmapmodel.NewReleaseWriter(dir, man.Arch, man.ParamList())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range man.Components[:2] {
		rw.AddExisting(c.Slot, c.SHA256, mmapmodel.Bytes(c.Size))
	}
	w := rw.Component("head")
	w.Add(mmapmodel.TensorSpec{Name: "labels", DType: mmapmodel.U8, Shape: []mmapmodel.Elems{3}, Data: strings.NewReader("a\nb")})
	wr, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(wr.Path) != wr.SHA256+".bwm" {
		t.Fatalf("component written to %s", wr.Path)
	}
	if _, err := rw.Commit(); err != nil {
		t.Fatal(err)
	}
	m := mustOpen(t, dir)
	if err := m.Verify(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Tensor("head.weight"); err == nil {
		t.Fatal("old head still listed")
	}
	lt, err := m.Tensor("labels")
	if err != nil || lt.Slot != "head" || lt.File().SHA256 != wr.SHA256 {
		t.Fatalf("labels: %+v, %v", lt, err)
	}

	// A reused component that is not there is refused before the
	// manifest is written.
	rw, _ = mmapmodel.NewReleaseWriter(dir, man.Arch, nil)
	rw.AddExisting("x", strings.Repeat("0", 64), 5000)
	_, err = rw.Commit()
	wantErr(t, err, mmapmodel.ErrFormat, `component file for slot "x" is missing`)
}
