package update

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

func storedRootVersion(t *testing.T, s *Store) int64 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(s.dir, RootName))
	if err != nil {
		t.Fatal(err)
	}
	v, err := rootVersion(data)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRootRotation: the pipeline replaces the targets key; the device,
// still configured with root version 1, follows the chain in the bundle,
// stores root version 2, and from then on refuses the revoked key.
func TestRootRotation(t *testing.T) {
	f := newFixture(t, nil)
	revoked := f.k.keys.Targets
	if err := RotateKeys(f.k.dir, time.Now().Add(24*time.Hour), metadata.TARGETS); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.ApplyBundle(f.k.bundleOf(t, f.r2, 2, nil), f.k.root); err != nil {
		t.Fatal(err)
	}
	if v := storedRootVersion(t, f.s); v != 2 {
		t.Fatalf("stored root version %d, want 2", v)
	}
	st, _ := f.s.State()
	if st.Versions.Root != 2 {
		t.Fatalf("versions %+v", st.Versions)
	}
	if _, err := f.s.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.GC(); err != nil {
		t.Fatal(err)
	}
	keys, err := LoadRepoKeys(f.k.dir)
	if err != nil {
		t.Fatal(err)
	}
	f.k.keys = &RepoKeys{Targets: revoked, Snapshot: keys.Snapshot, Timestamp: keys.Timestamp}
	ts, sn, tg, man := f.k.testMeta(t, f.r2, metaKnobs{version: 3})
	// f.k.root is still version 1, which trusts the revoked key: the
	// store must use the rotated root it keeps.
	refuse(t, f, writeRaw(t, append(metaEntries(f.r2, ts, sn, tg, man), componentEntries(f.r2)...)), ErrSignature)
}

// TestRootRotationUnsigned: a root version 2 not signed by root version
// 1's key is refused.
func TestRootRotationUnsigned(t *testing.T) {
	f := newFixture(t, nil)
	root, err := metadata.Root().FromBytes(f.k.root)
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(nil)
	for _, id := range append([]string(nil), root.Signed.Roles[metadata.ROOT].KeyIDs...) {
		root.Signed.RevokeKey(id, metadata.ROOT)
	}
	k, _ := metadata.KeyFromPublicKey(pub)
	root.Signed.AddKey(k, metadata.ROOT)
	root.Signed.Version = 2
	root.ClearSignatures()
	signWith(root, priv)
	rb, _ := root.ToBytes(false)
	ts, sn, tg, man := f.k.testMeta(t, f.r2, metaKnobs{version: 2})
	es := append([]rawEntry{{rootEntryName(2), -1, rb}}, metaEntries(f.r2, ts, sn, tg, man)...)
	refuse(t, f, writeRaw(t, append(es, componentEntries(f.r2)...)), ErrSignature)
}

// TestFastForwardRecovery: an attacker holding the timestamp key pushed
// versions far ahead; rotating the timestamp and snapshot keys lets the
// real repository continue at its own numbers (client workflow 5.3.11).
func TestFastForwardRecovery(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.s.ApplyBundle(f.k.bundleOf(t, f.r2, 1000, nil), f.k.root); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.ApplyBundle(f.k.bundleOf(t, f.r2, 3, nil), f.k.root); err == nil {
		t.Fatal("version 3 accepted after 1000 without a key rotation")
	}
	if err := RotateKeys(f.k.dir, time.Now().Add(24*time.Hour), metadata.TIMESTAMP, metadata.SNAPSHOT); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.ApplyBundle(f.k.bundleOf(t, f.r2, 3, nil), f.k.root); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	st, _ := f.s.State()
	if st.Versions.Timestamp != 3 || st.Versions.Root != 2 {
		t.Fatalf("versions %+v", st.Versions)
	}
}

func TestPollFollowsRootRotation(t *testing.T) {
	f := newFixture(t, nil)
	if err := RotateKeys(f.k.dir, time.Now().Add(24*time.Hour), metadata.TARGETS, metadata.ROOT); err != nil {
		t.Fatal(err)
	}
	if err := RotateKeys(f.k.dir, time.Now().Add(24*time.Hour), metadata.TARGETS); err != nil {
		t.Fatal(err)
	}
	repo := f.k.publish(t, f.r2, 2)
	srv := httptest.NewServer(http.FileServer(http.Dir(repo)))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, staged, err := f.s.Poll(ctx, srv.Client(), srv.URL, f.k.root); err != nil || !staged {
		t.Fatalf("poll: staged=%v %v", staged, err)
	}
	if v := storedRootVersion(t, f.s); v != 3 {
		t.Fatalf("stored root version %d, want 3", v)
	}
}
