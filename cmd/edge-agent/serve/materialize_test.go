package serve

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/speakez/barewire/mmapmodel"
)

// A release directory whose component file is no longer the store's
// object (a crash left it half-made, or a file was replaced) is rebuilt,
// not reused: the bytes mapped are the bytes verified.
func TestMaterializeRebuildsBrokenLinks(t *testing.T) {
	e := newEnv(t, 0, nil)
	if resp, body := e.update("r1", releaseSlots(1)); resp.StatusCode != 200 {
		t.Fatalf("update: %d %s", resp.StatusCode, body)
	}
	st := e.fx.store
	m, err := st.Release("r1")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := Materialize(st, m)
	if err != nil {
		t.Fatal(err)
	}
	slot := m.SlotNames()[0]
	c := m.Slots[slot]
	file := filepath.Join(dir, mmapmodel.ManifestComponent{Slot: slot, SHA256: c.SHA256, Size: c.Length}.FileName())
	// Replace the link by a copy of other bytes.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("not the verified component"), 0o444); err != nil {
		t.Fatal(err)
	}
	dir2, err := Materialize(st, m)
	if err != nil {
		t.Fatal(err)
	}
	a, err := os.Stat(filepath.Join(dir2, filepath.Base(file)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.Stat(st.ObjectPath(c.SHA256))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(a, b) {
		t.Fatal("the broken release directory was reused")
	}
	// An intact one is reused as it is.
	before, _ := os.Stat(dir2)
	dir3, err := Materialize(st, m)
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(dir3); !os.SameFile(before, after) {
		t.Fatal("an intact release directory was rebuilt")
	}
}
