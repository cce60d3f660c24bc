package update

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// FuzzReleaseManifest: the decoder never panics, and whatever it accepts
// re-encodes to something it accepts again, equal to itself.
func FuzzReleaseManifest(f *testing.F) {
	good, _ := newTestRelease("r1", seedsV1).m.Encode()
	f.Add(good)
	f.Add([]byte(`{"format":"barewire-release/1","id":"x","arch":"a","slots":{}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeReleaseManifest(data)
		if err != nil {
			return
		}
		enc, err := m.Encode()
		if err != nil {
			t.Fatalf("accepted manifest does not encode: %v", err)
		}
		m2, err := DecodeReleaseManifest(enc)
		if err != nil {
			t.Fatalf("re-encoded manifest refused: %v\n%s", err, enc)
		}
		if enc2, _ := m2.Encode(); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable:\n%s\n%s", enc, enc2)
		}
	})
}

// FuzzStateFile: the decoder never panics and round-trips what it accepts.
func FuzzStateFile(f *testing.F) {
	f.Add([]byte(`{"format":1,"current":"r1","previous":"r0","pending":"r2","pending_attempts":2,"bad":["rx"],"metadata_versions":{"root":1,"timestamp":3,"snapshot":3,"targets":3}}`))
	f.Add([]byte(`{"format":1}`))
	f.Add([]byte(`{"format":1,"pending_attempts":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := DecodeState(data)
		if err != nil {
			return
		}
		enc, err := st.Encode()
		if err != nil {
			t.Fatalf("accepted state does not encode: %v", err)
		}
		st2, err := DecodeState(enc)
		if err != nil {
			t.Fatalf("re-encoded state refused: %v\n%s", err, enc)
		}
		if !reflect.DeepEqual(st, st2) {
			t.Fatalf("state changed in a round trip:\n%+v\n%+v", st, st2)
		}
		if enc2, _ := st2.Encode(); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable:\n%s\n%s", enc, enc2)
		}
	})
}

// bundleSeeds are the fuzz seeds for FuzzBundle: a good bundle and its
// hostile variants.
func bundleSeeds(t testing.TB, k *testKeys) [][]byte {
	tr := newTestRelease("r1", map[string]uint64{"embed": 1, "head": 3})
	p := k.bundleOf(t, tr, 1, nil)
	good, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	read := func(p string) []byte { b, _ := os.ReadFile(p); return b }
	return [][]byte{
		good,
		good[:len(good)/2],
		[]byte(bundleMagic),
		[]byte(bundleMagic + "\x00\x00"),
		[]byte(bundleMagic + "\x00\x04../x\x00\x00\x00\x00\x00\x00\x00\x01x\x00\x00"),
		[]byte(bundleMagic + "\x00\x0etimestamp.json\xff\xff\xff\xff\xff\xff\xff\xff"),
		read(writeRaw(t, []rawEntry{{"timestamp.json", 1 << 40, []byte("{}")}})),
	}
}

// FuzzBundle feeds arbitrary bytes to the bundle reader and verifier: it
// never panics, and never allocates past the metadata limits whatever the
// sizes the bytes declare (an entry declaring 2^63 bytes is refused or
// read as a stream, never allocated).
func FuzzBundle(f *testing.F) {
	// The seeds are signed by keys made here, so that mutations of the
	// good bundle get past the signature checks into what follows them.
	k := newTestKeys(f)
	for _, s := range bundleSeeds(f, k) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := readBundle(bytes.NewReader(data), VerifyOptions{TrustedRoot: k.root, Now: time.Now()})
		if err == nil {
			// Signed by a key from this run: only possible by replaying a
			// seed's metadata, which is valid; drain the components.
			for {
				if _, _, err := b.br.Next(); err != nil {
					break
				}
				io.Copy(io.Discard, io.LimitReader(b.br, 1<<20))
			}
		}
		// The container alone, without signatures.
		br, err := newBundleReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		for {
			name, size, err := br.Next()
			if err != nil {
				return
			}
			if checkEntryName(name) != nil {
				t.Fatalf("reader returned unsafe name %q", name)
			}
			br.readSmall(name, size, 1<<16) // refuses, or allocates at most 64 KiB
		}
	})
}

// TestWriteFuzzCorpus writes the committed seed corpora under
// testdata/fuzz when BAREWIRE_WRITE_CORPUS=1 (run it after changing a
// format): go test -run TestWriteFuzzCorpus ./update with that variable set.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("BAREWIRE_WRITE_CORPUS") != "1" {
		t.Skip("set BAREWIRE_WRITE_CORPUS=1 to rewrite testdata/fuzz")
	}
	corpora := fixedSeeds()
	corpora["FuzzBundle"] = bundleSeeds(t, newTestKeys(t)) // signed with new keys: differs each time
	for target, seeds := range corpora {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// fixedSeeds are the seed corpora that do not depend on random keys.
func fixedSeeds() map[string][][]byte {
	good, _ := newTestRelease("r1", seedsV1).m.Encode()
	bad := bytes.Replace(good, []byte(`"arch"`), []byte(`"extra":1,"arch"`), 1)
	return map[string][][]byte{
		"FuzzReleaseManifest": {good, bad, good[:len(good)/3]},
		"FuzzStateFile": {
			[]byte(`{"format":1,"current":"r1","previous":"r0","pending":"r2","pending_attempts":2,"bad":["rx"],"metadata_versions":{"root":1,"timestamp":3,"snapshot":3,"targets":3}}`),
			[]byte(`{"format":1,"current":"../r1"}`),
			[]byte(`{"format":1,"pending_attempts":3}`),
		},
	}
}

// TestFuzzCorpusIsCurrent: the committed seeds of the manifest and state
// targets are what fixedSeeds makes (rewrite them with
// BAREWIRE_WRITE_CORPUS=1 after changing a format).
func TestFuzzCorpusIsCurrent(t *testing.T) {
	for target, seeds := range fixedSeeds() {
		for i, s := range seeds {
			name := filepath.Join("testdata", "fuzz", target, fmt.Sprintf("seed-%02d", i))
			got, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if want := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"; string(got) != want {
				t.Errorf("%s is stale (rewrite it with BAREWIRE_WRITE_CORPUS=1)", name)
			}
		}
	}
}

// TestBundleSeedVerifies keeps FuzzBundle honest: its first seed passes
// every check, so mutations of it reach the code behind the signatures.
func TestBundleSeedVerifies(t *testing.T) {
	k := newTestKeys(t)
	seeds := bundleSeeds(t, k)
	b, err := readBundle(bytes.NewReader(seeds[0]), VerifyOptions{TrustedRoot: k.root, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if b.Release.ID != "r1" {
		t.Fatalf("release %q", b.Release.ID)
	}
	// The others fail in the metadata or, for the truncated bundle, while
	// reading the components.
	for _, s := range seeds[1:] {
		b, err := readBundle(bytes.NewReader(s), VerifyOptions{TrustedRoot: k.root, Now: time.Now()})
		for err == nil {
			if _, _, err = b.br.Next(); err == nil {
				_, err = io.Copy(io.Discard, b.br)
			}
		}
		if err == io.EOF {
			t.Fatalf("hostile seed read to the end: %q", s[:min(len(s), 40)])
		}
	}
}
