package update

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

var (
	seedsV1 = map[string]uint64{"embed": 1, "block0": 2, "head": 3}
	seedsV2 = map[string]uint64{"embed": 1, "block0": 12, "head": 3} // block0 changed
)

// fixture is a store whose current release is r1 (bundle version 1).
type fixture struct {
	k      *testKeys
	s      *Store
	r1, r2 *testRelease
}

func newFixture(t *testing.T, fsys FS) *fixture {
	t.Helper()
	f := &fixture{k: newTestKeys(t), r1: newTestRelease("r1", seedsV1), r2: newTestRelease("r2", seedsV2)}
	f.s = openTestStore(t, fsys, filepath.Join(t.TempDir(), "store"), nil)
	if fsys != nil {
		f.s = openTestStore(t, fsys, "/store", nil)
	}
	activate(t, f.s, f.k, f.k.bundleOf(t, f.r1, 1, nil))
	return f
}

func TestBundleRoundTrip(t *testing.T) {
	f := newFixture(t, nil)
	// Only the changed component travels; the others are reused from the store.
	changed := f.r2.m.Slots["block0"].SHA256
	b := f.k.bundleOf(t, f.r2, 2, []string{changed})
	m, err := f.s.ApplyBundle(b, f.k.root)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "r2" {
		t.Fatalf("applied %q", m.ID)
	}
	st, _ := f.s.State()
	if st.Pending != "r2" || st.Current != "r1" || st.Versions.Targets != 2 || st.Versions.Timestamp != 2 {
		t.Fatalf("state after apply: %+v", st)
	}
	if _, err := f.s.BeginAttempt(); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Activate(func(*ReleaseManifest) error { return nil }); err != nil {
		t.Fatal(err)
	}
	checkIntact(t, f.s, "r2")
	st, _ = f.s.State()
	if st.Previous != "r1" {
		t.Fatalf("previous %q, want r1", st.Previous)
	}
	fi, err := os.Stat(f.s.ObjectPath(changed))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o444 {
		t.Errorf("component mode %v, want 0444", fi.Mode().Perm())
	}
	// Applying the same bundle again stages nothing: r2 already runs.
	if _, err := f.s.ApplyBundle(b, f.k.root); err != nil {
		t.Fatalf("re-apply of the running release: %v", err)
	}
	if st, _ := f.s.State(); st.Pending != "" {
		t.Fatalf("re-apply staged %q", st.Pending)
	}
}

// refuse applies a bundle that must be refused with want and checks that
// the store is exactly as before and r1 still runs and verifies.
func refuse(t *testing.T, f *fixture, bundle string, want error) {
	t.Helper()
	before := listing(t, f.s)
	_, err := f.s.ApplyBundle(bundle, f.k.root)
	if err == nil {
		t.Fatalf("bundle accepted, want %v", want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
	t.Logf("refused: %v", err)
	if after := listing(t, f.s); after != before {
		t.Fatalf("store changed by a refused bundle:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	checkIntact(t, f.s, "r1")
}

func TestHostileBundles(t *testing.T) {
	f := newFixture(t, nil)
	k, r2 := f.k, f.r2
	good := func(kn metaKnobs) []rawEntry {
		ts, sn, tg, man := k.testMeta(t, r2, kn)
		return append(metaEntries(r2, ts, sn, tg, man), componentEntries(r2)...)
	}
	v2 := metaKnobs{version: 2}
	changed := r2.m.Slots["block0"].SHA256
	idx := -1
	for i, e := range good(v2) {
		if e.name == objectPrefix+objectName(changed) {
			idx = i
		}
	}

	t.Run("control", func(t *testing.T) {
		// The hand-built bundle is accepted on a copy of the fixture, so the
		// refusals below are about the one thing each breaks.
		g := newFixture(t, nil)
		ts, sn, tg, man := g.k.testMeta(t, g.r2, v2)
		p := writeRaw(t, append(metaEntries(g.r2, ts, sn, tg, man), componentEntries(g.r2)...))
		if _, err := g.s.ApplyBundle(p, g.k.root); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		p := writeRaw(t, good(v2))
		data, _ := os.ReadFile(p)
		os.WriteFile(p, data[:len(data)-2000], 0o644)
		refuse(t, f, p, ErrLength)
	})
	t.Run("bit-flipped-component", func(t *testing.T) {
		es := good(v2)
		d := append([]byte(nil), es[idx].data...)
		d[len(d)/2] ^= 0x10
		es[idx].data = d
		refuse(t, f, writeRaw(t, es), ErrHash)
	})
	t.Run("component-longer-than-signed", func(t *testing.T) {
		es := good(v2)
		es[idx].data = append(append([]byte(nil), es[idx].data...), make([]byte, 4096)...)
		refuse(t, f, writeRaw(t, es), ErrLength)
	})
	t.Run("unsigned-metadata", func(t *testing.T) {
		refuse(t, f, writeRaw(t, good(metaKnobs{version: 2, unsignedTargets: true})), ErrSignature)
	})
	t.Run("unknown-key", func(t *testing.T) {
		_, other, _ := ed25519.GenerateKey(nil)
		refuse(t, f, writeRaw(t, good(metaKnobs{version: 2, targetsKey: other})), ErrSignature)
	})
	t.Run("expired", func(t *testing.T) {
		refuse(t, f, writeRaw(t, good(metaKnobs{version: 2, expires: time.Now().Add(-time.Minute)})), ErrExpired)
	})
	t.Run("mixed-releases", func(t *testing.T) {
		// Timestamp and snapshot of version 2, targets of version 3.
		ts, sn, _, man := k.testMeta(t, r2, v2)
		_, _, tg3, _ := k.testMeta(t, r2, metaKnobs{version: 3})
		refuse(t, f, writeRaw(t, append(metaEntries(r2, ts, sn, tg3, man), componentEntries(r2)...)), ErrMixed)
	})
	t.Run("wrong-shape", func(t *testing.T) {
		bad := newTestRelease("r2-shape", seedsV2)
		c := bad.m.Slots["block0"]
		c.Tensors = []TensorShape{{Name: "block0.weight", DType: "ternary2", Shape: []int64{64, 128}}}
		bad.m.Slots["block0"] = c
		ts, sn, tg, man := k.testMeta(t, bad, v2)
		refuse(t, f, writeRaw(t, append(metaEntries(bad, ts, sn, tg, man), componentEntries(bad)...)), ErrShape)
	})
	t.Run("missing-component", func(t *testing.T) {
		es := good(v2)
		es = append(es[:idx], es[idx+1:]...)
		refuse(t, f, writeRaw(t, es), ErrMissing)
	})
	t.Run("manifest-not-signed-target", func(t *testing.T) {
		refuse(t, f, writeRaw(t, good(metaKnobs{version: 2, tweakTargets: func(m *metadata.Metadata[metadata.TargetsType]) {
			delete(m.Signed.Targets, releasePrefix+"r2.json")
		}})), ErrMissing)
	})
	for _, name := range []string{"../x", "/etc/x", "a/../../b", "objects/../../x", "objects\\x", "objects/a\x00b"} {
		t.Run("traversal-entry "+name, func(t *testing.T) {
			es := good(v2)
			es = append(es[:4], append([]rawEntry{{name, -1, []byte("x")}}, es[4:]...)...)
			refuse(t, f, writeRaw(t, es), ErrName)
		})
		t.Run("traversal-target "+name, func(t *testing.T) {
			refuse(t, f, writeRaw(t, good(metaKnobs{version: 2, tweakTargets: func(m *metadata.Metadata[metadata.TargetsType]) {
				m.Signed.Targets[name] = targetFile(name, []byte("x"))
			}})), ErrName)
		})
	}
	t.Run("traversal-first-entry", func(t *testing.T) {
		refuse(t, f, writeRaw(t, []rawEntry{{"../timestamp.json", -1, []byte("{}")}}), ErrName)
	})
	t.Run("unlisted-entry", func(t *testing.T) {
		es := append(good(v2), rawEntry{objectPrefix + objectName(hex.EncodeToString(make([]byte, 32))), -1, []byte("x")})
		refuse(t, f, writeRaw(t, es), ErrFormat)
	})
	t.Run("not-a-bundle", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "junk")
		os.WriteFile(p, []byte("PK\x03\x04 not a bundle"), 0o644)
		refuse(t, f, p, ErrFormat)
	})

	// Version rollback: accept version 3, then refuse version 2.
	t.Run("older-version", func(t *testing.T) {
		g := newFixture(t, nil)
		if _, err := g.s.ApplyBundle(g.k.bundleOf(t, g.r2, 3, nil), g.k.root); err != nil {
			t.Fatal(err)
		}
		if _, err := g.s.Rollback(); err != nil { // back to r1 running, versions stay at 3
			t.Fatal(err)
		}
		refuse(t, g, g.k.bundleOf(t, g.r2, 2, nil), ErrRollback)
		st, _ := g.s.State()
		if st.Versions.Timestamp != 3 {
			t.Fatalf("accepted versions %+v, want 3", st.Versions)
		}
	})
	t.Run("marked-bad", func(t *testing.T) {
		g := newFixture(t, nil)
		if err := g.s.MarkBad("r2"); err != nil {
			t.Fatal(err)
		}
		refuse(t, g, g.k.bundleOf(t, g.r2, 2, nil), ErrBadRelease)
	})
}

// TestBundleDiskFull injects ENOSPC at write, fsync, rename and directory
// fsync of the new component and of the state file.
func TestBundleDiskFull(t *testing.T) {
	for _, tc := range []struct {
		op    FaultOp
		match string
	}{
		{OpWrite, ObjectsDir + "/"}, {OpSync, ObjectsDir + "/"}, {OpRename, ObjectsDir + "/"}, {OpSyncDir, ObjectsDir},
		{OpWrite, StateName}, {OpSync, StateName}, {OpRename, StateName},
		{OpWrite, ReleasesDir + "/"}, {OpRename, ReleasesDir + "/"},
	} {
		t.Run(string(tc.op)+" "+tc.match, func(t *testing.T) {
			mem := NewMemFS()
			faults := NewFaultFS(mem)
			f := newFixture(t, faults)
			faults.rules = []FaultRule{{Op: tc.op, Match: tc.match, Err: syscall.ENOSPC}}
			b := f.k.bundleOf(t, f.r2, 2, nil)
			before := listing(t, f.s)
			_, err := f.s.ApplyBundle(b, f.k.root)
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("error %v, want ENOSPC", err)
			}
			if faults.Fired(0) == 0 {
				t.Fatal("fault never fired")
			}
			faults.rules = nil
			if after := listing(t, f.s); after != before {
				t.Fatalf("store changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			checkIntact(t, f.s, "r1")
			// After the disk has room again the same bundle goes in.
			if _, err := f.s.ApplyBundle(b, f.k.root); err != nil {
				t.Fatalf("retry: %v", err)
			}
		})
	}
}
