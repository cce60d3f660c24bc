package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speakez/barewire/update"
)

func TestBundle(t *testing.T) {
	model, _ := filepath.Abs("../../testdata/mlp-tiny-release")
	if _, err := os.Stat(model); err != nil {
		t.Skip("shipped test model missing")
	}
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	var out, errb bytes.Buffer
	run([]string{"keygen", "-o", keys}, &out, &errb)
	b := filepath.Join(dir, "b.bwb")
	if code := run([]string{"bundle", "--keys", keys, "--model", model, "-o", b, "--version", "2"}, &out, &errb); code != 0 {
		t.Fatalf("bundle: %d %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "3 component files carried") {
		t.Fatalf("output %q", out.String())
	}
	// A device with the trust root verifies and installs it.
	root, _ := os.ReadFile(filepath.Join(keys, update.RootName))
	st, err := update.Open(filepath.Join(dir, "state"), update.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.ApplyBundle(b, root)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.ID, "r-") || len(m.Slots) != 3 || m.Arch != "mlp" {
		t.Fatalf("release %+v", m)
	}
	// --only-changed against itself carries nothing.
	out.Reset()
	if code := run([]string{"bundle", "--keys", keys, "--model", model, "-o", b, "--only-changed", model}, &out, &errb); code != 0 || !strings.Contains(out.String(), "0 component files") {
		t.Fatalf("only-changed: %d %s %s", code, out.String(), errb.String())
	}
	// A single-file model is refused: updates ship release directories.
	if code := run([]string{"bundle", "--keys", keys, "--model", "../../testdata/mlp-tiny.bwm", "-o", b, "--release", "x1"}, &out, &errb); code != 1 {
		t.Fatalf("single file: exit %d", code)
	}
	if code := run([]string{"bundle", "--keys", keys}, &out, &errb); code != 2 {
		t.Fatalf("missing flags: exit %d", code)
	}
	if code := run([]string{"bundle", "--keys", keys, "--model", model, "-o", b, "--publish", dir}, &out, &errb); code != 2 {
		t.Fatalf("-o and --publish together: exit %d", code)
	}
	// --publish writes a static repository a polling device installs from.
	www := filepath.Join(dir, "www")
	out.Reset()
	if code := run([]string{"bundle", "--keys", keys, "--model", model, "--publish", www, "--version", "3"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "published") {
		t.Fatalf("publish: %d %s %s", code, out.String(), errb.String())
	}
	web := httptest.NewServer(http.FileServer(http.Dir(www)))
	defer web.Close()
	st2, err := update.Open(filepath.Join(dir, "state2"), update.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pm, staged, err := st2.Poll(context.Background(), web.Client(), web.URL, root)
	if err != nil || !staged || pm.ID != m.ID {
		t.Fatalf("poll of the published repository: %+v staged=%v err=%v", pm, staged, err)
	}
}
