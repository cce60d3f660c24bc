package update

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

func TestKeygenFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	if err := Keygen(dir); err != nil {
		t.Fatal(err)
	}
	for _, role := range topRoles {
		fi, err := os.Stat(filepath.Join(dir, role+".key"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s.key mode %v, want 0600", role, fi.Mode().Perm())
		}
		if _, err := LoadKey(filepath.Join(dir, role+".key")); err != nil {
			t.Error(err)
		}
	}
	root, err := os.ReadFile(filepath.Join(dir, RootName))
	if err != nil {
		t.Fatal(err)
	}
	m, err := metadata.Root().FromBytes(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.VerifyDelegate(metadata.ROOT, m); err != nil {
		t.Fatalf("root.json not self-signed: %v", err)
	}
	if err := Keygen(dir); err == nil {
		t.Fatal("Keygen overwrote existing keys")
	}
}

// TestRollbackPerRole refuses an older version of each role on its own
// (go-tuf lacked per-role rollback checks before 0.3.0, GHSA-66x3-6cw3-v5gj).
func TestRollbackPerRole(t *testing.T) {
	f := newFixture(t, nil)
	// Accept version 3 of everything, then go back to r1.
	if _, err := f.s.ApplyBundle(f.k.bundleOf(t, f.r2, 3, nil), f.k.root); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.GC(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		kn   metaKnobs
	}{
		{"timestamp", metaKnobs{version: 4, tsVersion: 2}},
		{"snapshot", metaKnobs{version: 4, tsVersion: 4, snapVersion: 2}},
		{"targets", metaKnobs{version: 2, tsVersion: 4, snapVersion: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, sn, tg, man := f.k.testMeta(t, f.r2, tc.kn)
			refuse(t, f, writeRaw(t, append(metaEntries(f.r2, ts, sn, tg, man), componentEntries(f.r2)...)), ErrRollback)
		})
	}
}

// TestBelowThreshold: a root that wants two targets signatures refuses
// targets signed by one of its two keys.
func TestBelowThreshold(t *testing.T) {
	k := newTestKeys(t)
	rootKey, err := LoadKey(filepath.Join(k.dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	root, err := metadata.Root().FromBytes(k.root)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	extra, _ := metadata.KeyFromPublicKey(pub)
	if err := root.Signed.AddKey(extra, metadata.TARGETS); err != nil {
		t.Fatal(err)
	}
	root.Signed.Roles[metadata.TARGETS].Threshold = 2
	root.ClearSignatures()
	if err := signWith(root, rootKey); err != nil {
		t.Fatal(err)
	}
	k.root, _ = root.ToBytes(false)
	s := openTestStore(t, nil, filepath.Join(t.TempDir(), "store"), nil)
	_, err = s.ApplyBundle(k.bundleOf(t, newTestRelease("r1", seedsV1), 1, nil), k.root)
	if !errors.Is(err, ErrSignature) {
		t.Fatalf("one of two signatures accepted: %v", err)
	}
}
