package update

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// countingReader counts bytes read from an endless source.
type countingReader struct{ n int64 }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'A'
	}
	r.n += int64(len(p))
	return len(p), nil
}

// TestAddComponentEndless: a source longer than signed is cut off just
// after the signed length (TUF's endless-data attack).
func TestAddComponentEndless(t *testing.T) {
	s := openTestStore(t, nil, t.TempDir(), nil)
	c := Component{SHA256: strings.Repeat("ab", 32), Length: 1 << 20}
	r := &countingReader{}
	err := s.AddComponent(r, c)
	if !errors.Is(err, ErrLength) {
		t.Fatalf("endless source: %v", err)
	}
	if r.n > c.Length+64<<10 {
		t.Fatalf("read %d bytes for a %d-byte component", r.n, c.Length)
	}
	checkNoTemps(t, s)
	if names, _ := s.fs.ReadDir(filepath.Join(s.dir, ObjectsDir)); len(names) != 0 {
		t.Fatalf("objects left: %v", names)
	}
}

func TestAddComponentRefusals(t *testing.T) {
	tr := newTestRelease("r1", seedsV1)
	c := tr.m.Slots["embed"]
	data := tr.files[c.SHA256]
	flipped := append([]byte(nil), data...)
	flipped[len(flipped)-1] ^= 0x80
	noMagic := append([]byte(nil), data...)
	noMagic[0] = 'X'
	for _, tc := range []struct {
		name string
		data []byte
		c    Component
		want error
	}{
		{"truncated", data[:len(data)-1], c, ErrLength},
		{"bit flipped", flipped, c, ErrHash},
		{"format refused", noMagic, componentOf(noMagic, "embed", 64, 64), ErrVerify},
		{"bad hash field", data, Component{SHA256: "../../etc/passwd", Length: 10}, ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTestStore(t, nil, t.TempDir(), nil)
			if err := s.AddComponent(bytes.NewReader(tc.data), tc.c); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			checkNoTemps(t, s)
			if names, _ := s.fs.ReadDir(filepath.Join(s.dir, ObjectsDir)); len(names) != 0 {
				t.Fatalf("objects left: %v", names)
			}
		})
	}
}

func TestAddComponentReusesVerifiedFile(t *testing.T) {
	s := openTestStore(t, nil, t.TempDir(), nil)
	tr := newTestRelease("r1", seedsV1)
	c := tr.m.Slots["embed"]
	if err := s.AddComponent(bytes.NewReader(tr.files[c.SHA256]), c); err != nil {
		t.Fatal(err)
	}
	// A second add must not read the source at all.
	if err := s.AddComponent(iotestErrReader{}, c); err != nil {
		t.Fatalf("re-add: %v", err)
	}
	fi, err := os.Stat(s.ObjectPath(c.SHA256))
	if err != nil || fi.Mode().Perm() != 0o444 {
		t.Fatalf("published file: %v %v", fi, err)
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("source must not be read") }

func TestShapeReaderRefusesMismatch(t *testing.T) {
	tr := newTestRelease("r1", seedsV1)
	c := tr.m.Slots["embed"]
	s, err := Open(t.TempDir(), Options{Shapes: func(string) ([]TensorShape, error) {
		return []TensorShape{{Name: "embed.weight", DType: "ternary2", Shape: []int64{64, 65}}}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddComponent(bytes.NewReader(tr.files[c.SHA256]), c); !errors.Is(err, ErrShape) {
		t.Fatalf("got %v, want ErrShape", err)
	}
}

func TestMapVerifiesFirst(t *testing.T) {
	tr := newTestRelease("r1", seedsV1)
	c := tr.m.Slots["embed"]
	var mapped []string
	dir := t.TempDir()
	s, err := Open(dir, Options{Map: func(p string) (io.Closer, error) {
		mapped = append(mapped, p)
		return io.NopCloser(nil), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Map(c); err == nil {
		t.Fatal("mapped a component that is not in the store")
	}
	if err := s.AddComponent(bytes.NewReader(tr.files[c.SHA256]), c); err != nil {
		t.Fatal(err)
	}
	// Corrupt it behind the store's back in a fresh process: Map must refuse.
	s2, _ := Open(dir, Options{Map: s.opt.Map})
	p := s.ObjectPath(c.SHA256)
	os.Chmod(p, 0o644)
	os.WriteFile(p, bytes.Repeat([]byte{1}, int(c.Length)), 0o444)
	if _, err := s2.Map(c); !errors.Is(err, ErrHash) {
		t.Fatalf("mapped a corrupt file: %v", err)
	}
	if len(mapped) != 0 {
		t.Fatalf("mapper called for %v", mapped)
	}
}

func TestGC(t *testing.T) {
	f := newFixture(t, nil)
	activate(t, f.s, f.k, f.k.bundleOf(t, f.r2, 2, nil))
	r3 := newTestRelease("r3", map[string]uint64{"embed": 21, "block0": 22, "head": 23})
	activate(t, f.s, f.k, f.k.bundleOf(t, r3, 3, nil))
	os.WriteFile(filepath.Join(f.s.dir, ObjectsDir, tempPrefix+"leftover"), []byte("x"), 0o600)
	// Now current r3, previous r2: r1 and its own components go.
	removed, err := f.s.GC()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{filepath.Join(ReleasesDir, "r1.json"): true, filepath.Join(ObjectsDir, tempPrefix+"leftover"): true}
	only1 := f.r1.m.Slots["block0"] // r2 shares embed and head with r1
	want[filepath.Join(ObjectsDir, only1.ObjectName())] = true
	if len(removed) != len(want) {
		t.Fatalf("removed %v, want %v", removed, want)
	}
	for _, r := range removed {
		if !want[r] {
			t.Fatalf("removed %s; want %v", r, want)
		}
	}
	for _, id := range []string{"r2", "r3"} {
		if err := f.s.VerifyRelease(id); err != nil {
			t.Fatalf("%s after GC: %v", id, err)
		}
	}
}

// TestCorruptObjectReplacedOnlyWhenUnused: a published file that no longer
// verifies is replaced (unlinked, written anew) when no release in the
// state uses it, and refused when one does (it may be mapped).
func TestCorruptObjectReplacedOnlyWhenUnused(t *testing.T) {
	f := newFixture(t, nil)
	corrupt := func(c Component) {
		p := f.s.ObjectPath(c.SHA256)
		os.Chmod(p, 0o644)
		os.WriteFile(p, bytes.Repeat([]byte{7}, int(c.Length)), 0o444)
	}
	used := f.r1.m.Slots["head"]
	corrupt(used)
	if err := f.s.AddComponent(bytes.NewReader(f.r1.files[used.SHA256]), used); !errors.Is(err, ErrHash) {
		t.Fatalf("in-use corrupt file: %v", err)
	}
	fresh := f.r2.m.Slots["block0"]
	os.WriteFile(f.s.ObjectPath(fresh.SHA256), []byte("junk"), 0o444)
	if err := f.s.AddComponent(bytes.NewReader(f.r2.files[fresh.SHA256]), fresh); err != nil {
		t.Fatalf("unused corrupt file not replaced: %v", err)
	}
}
