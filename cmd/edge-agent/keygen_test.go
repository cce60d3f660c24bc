package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestKeygen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	var out, errb bytes.Buffer
	if code := run([]string{"keygen", "-o", dir}, &out, &errb); code != 0 {
		t.Fatalf("keygen: %d %s", code, errb.String())
	}
	for _, f := range []string{"root.json", "root.key", "targets.key", "snapshot.key", "timestamp.key"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Ext(f) == ".key" && st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s mode %v: readable by others", f, st.Mode())
		}
	}
	if code := run([]string{"keygen", "-o", dir}, &out, &errb); code == 0 {
		t.Fatal("keygen overwrote existing keys")
	}
	if code := run([]string{"keygen"}, &out, &errb); code != 2 {
		t.Fatalf("keygen without -o: exit %d", code)
	}
}
