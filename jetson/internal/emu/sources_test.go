package emu

import (
	"bytes"
	"os"
	"testing"
)

// The emulated kernels must be the current sources: the copies made by
// go generate are compared with jetson/kernels.
func TestSourcesCurrent(t *testing.T) {
	for copyName, src := range map[string]string{
		"prelude.h":    "../../kernels/prelude.h",
		"ternary.cu.h": "../../kernels/ternary.cu",
		"float.cu.h":   "../../kernels/float.cu",
	} {
		a, err1 := os.ReadFile(copyName)
		b, err2 := os.ReadFile(src)
		if err1 != nil || err2 != nil {
			t.Fatalf("%v %v", err1, err2)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s: run go generate ./jetson/...", copyName, src)
		}
	}
}
