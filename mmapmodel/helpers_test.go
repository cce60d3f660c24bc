package mmapmodel_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/mmapmodel/internal/testmodel"
)

const (
	shippedFile    = "../testdata/" + testmodel.MLPFile
	shippedRelease = "../testdata/" + testmodel.MLPRelease
)

var (
	tinyOnce  sync.Once
	tinyBytes []byte
	tinyErr   error
)

// tiny returns the bytes of testmodel.WriteTiny's file (built once).
func tiny(t testing.TB) []byte {
	tinyOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tiny-*")
		if err != nil {
			tinyErr = err
			return
		}
		defer os.RemoveAll(dir)
		p := filepath.Join(dir, "tiny.bwm")
		if tinyErr = testmodel.WriteTiny(p); tinyErr == nil {
			tinyBytes, tinyErr = os.ReadFile(p)
		}
	})
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return append([]byte(nil), tinyBytes...)
}

// writeTemp writes b to a fresh file and returns its path.
func writeTemp(t testing.TB, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.bwm")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// openBytes writes b to a file and opens it; the model is closed at the
// end of the test.
func openBytes(t testing.TB, b []byte) (*mmapmodel.Model, error) {
	t.Helper()
	m, err := mmapmodel.Open(writeTemp(t, b))
	if err == nil {
		t.Cleanup(func() { m.Close() })
	}
	return m, err
}

// wantErr checks that err wraps sentinel and mentions every fragment.
func wantErr(t testing.TB, err, sentinel error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v mentioning %q", sentinel, fragments)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %q does not wrap %v", err, sentinel)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Fatalf("error %q does not mention %q", err, f)
		}
	}
}

func mustOpen(t testing.TB, path string) *mmapmodel.Model {
	t.Helper()
	m, err := mmapmodel.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func rewrite(t testing.TB, b []byte, mutate func(h *mmapmodel.HeaderForTest)) []byte {
	t.Helper()
	out, err := mmapmodel.RewriteHeader(b, mutate)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tensorIndex finds a tensor entry by name.
func tensorIndex(h *mmapmodel.HeaderForTest, name string) int {
	for i := range h.Tensors {
		if h.Tensors[i].Name == name {
			return i
		}
	}
	panic("no tensor " + name)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
