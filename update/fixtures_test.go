package update

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// testMagic starts every test component file; testVerifier checks it, as
// the format package's Verify would check a model file's checksums.
const testMagic = "BWTEST\n"

// componentBytes builds a deterministic component file of n bytes.
func componentBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	copy(b, testMagic)
	for i := len(testMagic); i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func componentOf(data []byte, slot string, rows, cols int64) Component {
	sum := sha256.Sum256(data)
	return Component{
		SHA256:  hex.EncodeToString(sum[:]),
		Length:  int64(len(data)),
		Tensors: []TensorShape{{Name: slot + ".weight", DType: "ternary2", Shape: []int64{rows, cols}}},
	}
}

// testRelease is a release and its component files.
type testRelease struct {
	m     *ReleaseManifest
	files map[string][]byte // hash -> bytes
}

// newTestRelease builds release id with the given slots; seeds[slot] picks
// the slot's bytes, so two releases sharing a seed share the component.
func newTestRelease(id string, seeds map[string]uint64) *testRelease {
	tr := &testRelease{
		m: &ReleaseManifest{
			Format: ManifestFormat, ID: id, Arch: "mlp",
			Params: map[string]json.RawMessage{"hidden": json.RawMessage("64"), "act": json.RawMessage(`"relu"`)},
			Slots:  map[string]Component{},
		},
		files: map[string][]byte{},
	}
	for slot, seed := range seeds {
		data := componentBytes(seed, 3000+int(seed%5)*1000)
		c := componentOf(data, slot, 64, 64)
		tr.m.Slots[slot] = c
		tr.files[c.SHA256] = data
	}
	return tr
}

// writeFiles writes the component files to dir and returns hash -> path.
func (tr *testRelease) writeFiles(t testing.TB, dir string, only ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for h, data := range tr.files {
		if len(only) > 0 && !contains(only, h) {
			continue
		}
		p := filepath.Join(dir, "src-"+h[:12])
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out[h] = p
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// testKeys is a Keygen directory.
type testKeys struct {
	dir  string
	root []byte
	keys *RepoKeys
}

func newTestKeys(t testing.TB) *testKeys {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keys")
	if err := KeygenExpiring(dir, time.Now().Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	root, err := os.ReadFile(filepath.Join(dir, RootName))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := LoadRepoKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &testKeys{dir: dir, root: root, keys: keys}
}

// bundleOf writes a bundle of tr at version v carrying the given
// components (all when carry is nil) and returns its path.
func (k *testKeys) bundleOf(t testing.TB, tr *testRelease, v int64, carry []string) string {
	t.Helper()
	dir := t.TempDir()
	var files map[string]string
	if carry == nil {
		files = tr.writeFiles(t, dir)
	} else {
		files = tr.writeFiles(t, dir, carry...)
		if len(carry) == 0 {
			files = map[string]string{}
		}
	}
	out := filepath.Join(dir, fmt.Sprintf("%s-v%d.bwb", tr.m.ID, v))
	if err := BuildBundle(k.dir, *tr.m, files, v, time.Now().Add(time.Hour), out); err != nil {
		t.Fatal(err)
	}
	return out
}

// verifierFor returns a Verifier reading through fsys: the file must start
// with testMagic.
func verifierFor(fsys FS) Verifier {
	return func(p string) error {
		f, err := fsys.OpenFile(p, os.O_RDONLY, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		var b [len(testMagic)]byte
		if _, err := io.ReadFull(f, b[:]); err != nil || string(b[:]) != testMagic {
			return fmt.Errorf("%s: bad magic %q", p, b[:])
		}
		return nil
	}
}

// openTestStore opens a store on fsys (nil: the OS) in dir.
func openTestStore(t testing.TB, fsys FS, dir string, hook StepHook) *Store {
	t.Helper()
	if fsys == nil {
		fsys = OSFS{}
	}
	s, err := Open(dir, Options{FS: fsys, Verify: verifierFor(fsys), Hook: hook})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// activate applies a bundle and makes its release current.
func activate(t testing.TB, s *Store, k *testKeys, bundle string) {
	t.Helper()
	if _, err := s.ApplyBundle(bundle, k.root); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BeginAttempt(); err != nil {
		t.Fatal(err)
	}
	if err := s.Activate(nil); err != nil {
		t.Fatal(err)
	}
}

// listing returns every file of the store with its content hash, and the
// state file's bytes, to check that a refused update changed nothing.
func listing(t testing.TB, s *Store) string {
	t.Helper()
	var lines []string
	for _, sub := range []string{"", ObjectsDir, ReleasesDir} {
		dir := filepath.Join(s.dir, sub)
		names, err := s.fs.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if sub == "" && (n == ObjectsDir || n == ReleasesDir) {
				continue
			}
			data, err := s.readFile(filepath.Join(dir, n), 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			lines = append(lines, fmt.Sprintf("%s/%s %x", sub, n, sum[:6]))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// checkIntact asserts the invariants after a refused or interrupted update:
// the current release is want and verifies, and no temporary file is left.
func checkIntact(t testing.TB, s *Store, want string) {
	t.Helper()
	st, err := s.State()
	if err != nil {
		t.Fatal(err)
	}
	if st.Current != want {
		t.Fatalf("current release %q, want %q", st.Current, want)
	}
	if err := s.VerifyRelease(want); err != nil {
		t.Fatalf("current release does not verify: %v", err)
	}
	checkNoTemps(t, s)
}

func checkNoTemps(t testing.TB, s *Store) {
	t.Helper()
	for _, sub := range []string{"", ObjectsDir, ReleasesDir} {
		names, err := s.fs.ReadDir(filepath.Join(s.dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if strings.HasPrefix(n, tempPrefix) {
				t.Errorf("temporary file %s/%s left behind", sub, n)
			}
		}
	}
}

// metaKnobs vary how testMeta signs, to build hostile metadata.
type metaKnobs struct {
	version                int64
	expires                time.Time
	targetsKey             ed25519.PrivateKey // nil: the real key
	unsignedTargets        bool
	tweakTargets           func(*metadata.Metadata[metadata.TargetsType])
	tsVersion, snapVersion int64 // 0: version
}

// testMeta signs metadata for tr like signedRelease, with knobs, and
// returns timestamp, snapshot, targets and the manifest.
func (k *testKeys) testMeta(t testing.TB, tr *testRelease, kn metaKnobs) (ts, sn, tg, manifest []byte) {
	t.Helper()
	if kn.expires.IsZero() {
		kn.expires = time.Now().Add(time.Hour)
	}
	manifest, err := tr.m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	targets := metadata.Targets(kn.expires.UTC())
	targets.Signed.Version = kn.version
	rel := releasePrefix + tr.m.ID + ".json"
	targets.Signed.Targets[rel] = targetFile(rel, manifest)
	for _, c := range tr.m.Objects() {
		name := objectPrefix + c.ObjectName()
		h, _ := hex.DecodeString(c.SHA256)
		targets.Signed.Targets[name] = &metadata.TargetFiles{Length: c.Length, Hashes: metadata.Hashes{"sha256": h}, Path: name}
	}
	if kn.tweakTargets != nil {
		kn.tweakTargets(targets)
	}
	key := k.keys.Targets
	if kn.targetsKey != nil {
		key = kn.targetsKey
	}
	if !kn.unsignedTargets {
		if err := signWith(targets, key); err != nil {
			t.Fatal(err)
		}
	}
	if tg, err = targets.ToBytes(false); err != nil {
		t.Fatal(err)
	}
	snapshot := metadata.Snapshot(kn.expires.UTC())
	snapshot.Signed.Version = pick(kn.snapVersion, kn.version)
	snapshot.Signed.Meta[targetsEntry] = metaFile(kn.version, tg)
	if err := signWith(snapshot, k.keys.Snapshot); err != nil {
		t.Fatal(err)
	}
	if sn, err = snapshot.ToBytes(false); err != nil {
		t.Fatal(err)
	}
	timestamp := metadata.Timestamp(kn.expires.UTC())
	timestamp.Signed.Version = pick(kn.tsVersion, kn.version)
	timestamp.Signed.Meta[snapshotEntry] = metaFile(snapshot.Signed.Version, sn)
	if err := signWith(timestamp, k.keys.Timestamp); err != nil {
		t.Fatal(err)
	}
	if ts, err = timestamp.ToBytes(false); err != nil {
		t.Fatal(err)
	}
	return ts, sn, tg, manifest
}

func pick(a, b int64) int64 {
	if a != 0 {
		return a
	}
	return b
}

// rawEntry is one entry of a hand-built bundle.
type rawEntry struct {
	name string
	size int64 // declared; -1: len(data)
	data []byte
}

// writeRaw writes a bundle of the given entries without any checks.
func writeRaw(t testing.TB, entries []rawEntry) string {
	t.Helper()
	var buf bytes.Buffer
	bw := newBundleWriter(&buf)
	for _, e := range entries {
		size := e.size
		if size < 0 {
			size = int64(len(e.data))
		}
		if err := bw.add(e.name, size, bytes.NewReader(e.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "raw.bwb")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// metaEntries returns the four leading entries of a bundle of tr.
func metaEntries(tr *testRelease, ts, sn, tg, manifest []byte) []rawEntry {
	return []rawEntry{
		{timestampEntry, -1, ts}, {snapshotEntry, -1, sn}, {targetsEntry, -1, tg},
		{releasePrefix + tr.m.ID + ".json", -1, manifest},
	}
}

// componentEntries returns the entries of tr's components, sorted.
func componentEntries(tr *testRelease) []rawEntry {
	var out []rawEntry
	for _, c := range tr.m.Objects() {
		out = append(out, rawEntry{objectPrefix + c.ObjectName(), -1, tr.files[c.SHA256]})
	}
	return out
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
