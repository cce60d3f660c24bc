package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	testModel   = "../../testdata/mlp-tiny.bwm"
	testRelease = "../../testdata/mlp-tiny-release"
)

// runCmd runs edge-agent in-process and checks that no panic text leaked.
func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	for _, s := range []string{out.String(), errb.String()} {
		if strings.Contains(s, "panic") || strings.Contains(s, "goroutine ") || strings.Contains(s, "internal error") {
			t.Fatalf("edge-agent %v printed panic text:\n%s", args, s)
		}
	}
	return code, out.String(), errb.String()
}

func TestInspectText(t *testing.T) {
	code, out, errs := runCmd(t, "inspect", testModel)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{
		"arch:   mlp", "hidden_dim = 64 (int)", "format v1, 26644 bytes",
		"hidden.0.weight  hidden.0  t2     i2b128  [64 784]  14336  10752   0.0625",
		"head.weight      head      i8     -       [10 64]   640",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestInspectJSON(t *testing.T) {
	for _, model := range []string{testModel, testRelease} {
		// --json is accepted after MODEL as well as before.
		code, out, errs := runCmd(t, "inspect", model, "--json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", model, code, errs)
		}
		var d inspectJSON
		dec := json.NewDecoder(strings.NewReader(out))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&d); err != nil {
			t.Fatal(err)
		}
		if d.Arch != "mlp" || len(d.Tensors) != 7 || len(d.Components) != 3 || len(d.Params) != 6 {
			t.Fatalf("%s: %+v", model, d)
		}
		w := d.Tensors[2]
		if w.Name != "hidden.0.weight" || w.DType != "t2" || w.Layout != "i2b128" || w.Bytes != 14336 ||
			w.Scale != 0.0625 || len(w.Shape) != 2 || w.Shape[0] != 64 || w.Shape[1] != 784 || len(w.CRC32C) != 8 {
			t.Fatalf("%s: hidden.0.weight = %+v", model, w)
		}
		h := d.Tensors[4]
		if h.DType != "i8" || h.ScalesBytes != 40 || h.ScalesOffset%256 != 0 {
			t.Fatalf("%s: head.weight = %+v", model, h)
		}
	}
	// The field names are a contract: check the raw keys.
	_, out, _ := runCmd(t, "inspect", "--json", testModel)
	for _, key := range []string{`"path"`, `"kind": "single"`, `"format_version": 1`, `"header_length"`, `"data_start": 4096`,
		`"dtype": "t2"`, `"layout": "i2b128"`, `"shape": [`, `"offset"`, `"bytes"`, `"crc32c"`, `"scale": 0.0625`, `"scales_offset"`, `"scales_bytes": 40`} {
		if !strings.Contains(out, key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}

func TestInspectErrors(t *testing.T) {
	code, _, errs := runCmd(t, "inspect")
	if code != 2 || !strings.Contains(errs, "want exactly one MODEL") {
		t.Fatalf("no args: exit %d: %s", code, errs)
	}
	code, _, errs = runCmd(t, "inspect", "a", "b")
	if code != 2 {
		t.Fatalf("two args: exit %d: %s", code, errs)
	}
	bad := filepath.Join(t.TempDir(), "bad.bwm")
	os.WriteFile(bad, []byte("not a model at all, just some text long enough"), 0o644)
	code, _, errs = runCmd(t, "inspect", bad)
	if code != 1 || !strings.Contains(errs, bad+": magic:") {
		t.Fatalf("bad file: exit %d: %s", code, errs)
	}
	code, _, errs = runCmd(t, "inspect", "-h")
	if code != 0 || !strings.Contains(errs, "usage: edge-agent inspect MODEL [--json]") {
		t.Fatalf("-h: exit %d: %s", code, errs)
	}
}
