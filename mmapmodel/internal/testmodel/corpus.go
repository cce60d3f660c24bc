package testmodel

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
)

// corpusFile encodes one []byte input in the go test fuzz v1 format.
func corpusFile(b []byte) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b)
}

// OpenSeeds returns the FuzzOpen seeds by name: the tiny file and
// corruptions of it, one per region of the format.
func OpenSeeds() (map[string][]byte, error) {
	dir, err := os.MkdirTemp("", "testmodel-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "tiny.bwm")
	if err := WriteTiny(p); err != nil {
		return nil, err
	}
	good, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	hl := binary.LittleEndian.Uint32(good[12:])
	mod := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	return map[string][]byte{
		"valid":            good,
		"empty":            {},
		"preamble-only":    good[:32],
		"truncated-header": good[:32+hl/2],
		"truncated-data":   good[:len(good)-7],
		"version-2":        mod(func(b []byte) []byte { b[8] = 2; return b }),
		"header-bit":       mod(func(b []byte) []byte { b[40] ^= 4; return b }),
		"data-bit":         mod(func(b []byte) []byte { b[4096+3] ^= 1; return b }),
		"padding-byte":     mod(func(b []byte) []byte { b[32+hl] = 1; return b }),
		"header-len-max":   mod(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 0xffffffff); return b }),
		"trailing-garbage": append(append([]byte(nil), good...), 1, 2, 3),
		"magic-only":       good[:8],
		"reserved-nonzero": mod(func(b []byte) []byte { b[31] = 9; return b }),
	}, nil
}

// ManifestSeeds returns the FuzzManifest seeds: the shipped release's
// manifest and a few malformed ones.
func ManifestSeeds() (map[string][]byte, error) {
	dir, err := os.MkdirTemp("", "testmodel-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := WriteMLPRelease(filepath.Join(dir, "r")); err != nil {
		return nil, err
	}
	good, err := os.ReadFile(filepath.Join(dir, "r", "manifest.json"))
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		"valid":         good,
		"empty-object":  []byte(`{}`),
		"newer-version": []byte(`{"format":"barewire-release","version":9,"arch":"x","params":[],"components":[]}`),
		"two-values":    []byte(`{"format":"barewire-release","version":1,"arch":"x","params":[{"key":"a","int":1,"float":2}],"components":[]}`),
		"bad-hash":      []byte(`{"format":"barewire-release","version":1,"arch":"x","params":[],"components":[{"slot":"s","sha256":"../x","size":5000}]}`),
	}, nil
}

// WriteCorpus writes the seeds, as files named seed-*, under dir/FuzzOpen
// and dir/FuzzManifest.
func WriteCorpus(dir string) error {
	for target, gen := range map[string]func() (map[string][]byte, error){"FuzzOpen": OpenSeeds, "FuzzManifest": ManifestSeeds} {
		seeds, err := gen()
		if err != nil {
			return err
		}
		d := filepath.Join(dir, target)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		// Replace the seeds only: other files there are inputs that once
		// failed, kept as regression tests.
		old, _ := filepath.Glob(filepath.Join(d, "seed-*"))
		for _, p := range old {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
		for name, b := range seeds {
			if err := os.WriteFile(filepath.Join(d, "seed-"+name), corpusFile(b), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
