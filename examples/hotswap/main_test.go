package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestHotswap(t *testing.T) {
	var out bytes.Buffer
	err := run("../../testdata/mlp-tiny-release", "../../testdata/mlp-tiny.bwm", 3, 50*time.Millisecond, 2, &out)
	if err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"swapped a-0 -> b-1", "swapped b-1 -> a-2", "swapped a-2 -> b-3", "a-0 unmapped", "b-3 unmapped", "release b-3 served"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	// A model that cannot be opened leaves the running one serving.
	out.Reset()
	if err := run("../../testdata/mlp-tiny-release", "missing.bwm", 1, 20*time.Millisecond, 1, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "a-0 keeps serving") {
		t.Fatalf("output:\n%s", out.String())
	}
}
