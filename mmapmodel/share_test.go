package mmapmodel_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speakez/barewire/mmapmodel"
)

// mapsOf counts the lines of /proc/self/maps that map path.
func mapsOf(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skip("no /proc/self/maps")
	}
	abs, _ := filepath.Abs(path)
	return strings.Count(string(b), abs+"\n")
}

// Two opens of releases that share component files map each file once;
// the mapping stays while either holds it and goes with the last.
func TestMappingsSharedBetweenOpens(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Release b is release a with hard links to the same component files,
	// as an update store lays out two releases that share components.
	ents, err := os.ReadDir(shippedRelease)
	if err != nil {
		t.Fatal(err)
	}
	var comps []string
	for _, e := range ents {
		src := filepath.Join(shippedRelease, e.Name())
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(a, e.Name()), data, 0o444); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(filepath.Join(a, e.Name()), filepath.Join(b, e.Name())); err != nil {
			t.Skipf("no hard links here: %v", err)
		}
		if strings.HasSuffix(e.Name(), ".bwm") {
			comps = append(comps, filepath.Join(a, e.Name()))
		}
	}
	before := mmapmodel.SharedMappings()
	ma := mustOpen(t, a)
	mb := mustOpen(t, b)
	if got := mmapmodel.SharedMappings() - before; got != len(comps) {
		t.Errorf("%d files mapped for two releases sharing %d components", got, len(comps))
	}
	for _, c := range comps {
		if n := mapsOf(t, c); n != 1 {
			t.Errorf("%s mapped %d times, want once", c, n)
		}
	}
	tn, err := mb.Tensor("hidden.0.weight")
	if err != nil {
		t.Fatal(err)
	}
	v := mustTernary(t, tn)
	want := append([]byte(nil), v.Data()...)
	v.Release()
	if err := ma.Close(); err != nil {
		t.Fatal(err)
	}
	// b still holds the shared mappings.
	v = mustTernary(t, tn)
	if got := v.Data(); string(got) != string(want) {
		t.Fatal("shared mapping changed after the other release closed")
	}
	v.Release()
	for _, c := range comps {
		if n := mapsOf(t, c); n != 1 {
			t.Errorf("%s mapped %d times after one release closed, want once", c, n)
		}
	}
	if err := mb.Close(); err != nil {
		t.Fatal(err)
	}
	if got := mmapmodel.SharedMappings() - before; got != 0 {
		t.Errorf("%d mappings left after both releases closed", got)
	}
	for _, c := range comps {
		if n := mapsOf(t, c); n != 0 {
			t.Errorf("%s still mapped after both releases closed", c)
		}
	}
}

func mustTernary(t *testing.T, tn *mmapmodel.Tensor) *mmapmodel.TernaryMatrix[mmapmodel.Host] {
	t.Helper()
	v, err := mmapmodel.NewTernaryMatrix(tn)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
