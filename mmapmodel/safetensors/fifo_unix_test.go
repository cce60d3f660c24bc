//go:build unix

package safetensors_test

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/speakez/barewire/mmapmodel/safetensors"
)

// A shard that is a FIFO is refused at once (opening it would block until
// a writer appears, for ever).
func TestShardFIFO(t *testing.T) {
	dir := t.TempDir()
	writeShard(t, dir, "s1.safetensors", map[string][]float32{"a": {1}})
	if err := syscall.Mkfifo(filepath.Join(dir, "s2.safetensors"), 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	p := writeTemp(t, dir, safetensors.IndexFileName, []byte(`{"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}}`))
	done := make(chan error, 1)
	go func() {
		m, err := safetensors.OpenIndex(p)
		if err == nil {
			m.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, safetensors.ErrFormat) || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("FIFO shard: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OpenIndex blocked on a FIFO shard")
	}
}
