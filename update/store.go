package update

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Layout of a store directory (see doc.go).
const (
	ObjectsDir  = "objects"
	ReleasesDir = "releases"
	StateName   = "state.json"
	// tempPrefix starts the name of every temporary file; Recover and GC
	// remove whatever carries it.
	tempPrefix = ".tmp-"
	// objectMode is the mode of published files: nobody may write into a
	// file that may be mapped (a write shows through the mapping, a
	// truncate is a SIGBUS; reference/ota.md §2.1).
	objectMode = 0o444
)

// Verifier checks a component file's format (for a model file, every
// checksum and the padding); the integration passes the format package's
// Verify. path is the file's name in the store's FS.
type Verifier func(path string) error

// ShapeReader reads the tensor shapes a component file actually holds, so
// the store can compare them with the signed manifest before the file is
// mapped. Optional.
type ShapeReader func(path string) ([]TensorShape, error)

// Mapper maps a verified component file; the integration passes the
// format package's Open. The store calls it only for files it verified.
type Mapper func(path string) (io.Closer, error)

// DefaultMaxAttempts is how many starts a pending release gets before
// Recover rolls it back and marks it bad (RAUC's boot attempts, Mender's
// state store count).
const DefaultMaxAttempts = 3

// Options configure a Store. The zero value works: the real file system,
// no format check, shape check SameShapes, DefaultMaxAttempts.
type Options struct {
	FS          FS
	Verify      Verifier
	Shapes      ShapeReader
	Map         Mapper
	Compat      CompatCheck
	MaxAttempts int
	// Hook, if set, is called before every step of an update.
	Hook StepHook
	// Now is the clock for metadata expiry; default time.Now.
	Now func() time.Time
}

// Store is a directory of immutable, content-addressed component files,
// the release manifests that reference them and the state file that says
// which release is live. One Store per directory per process: its methods
// are safe for concurrent use, but two processes must not share a
// directory.
type Store struct {
	dir string
	fs  FS
	opt Options

	mu       sync.Mutex
	verified map[string]bool // hashes verified by this process
}

// SetCompat replaces the CompatCheck that bundles are checked with from
// now on (nil: SameShapes) and returns the one it replaces. An agent that
// serves a model from outside the store sets one that knows that model
// and hands the rest to the previous check.
func (s *Store) SetCompat(c CompatCheck) (previous CompatCheck) {
	if c == nil {
		c = SameShapes
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	previous, s.opt.Compat = s.opt.Compat, c
	return previous
}

// Open opens (creating if needed) the store in dir.
func Open(dir string, opt Options) (*Store, error) {
	if opt.FS == nil {
		opt.FS = OSFS{}
	}
	if opt.Compat == nil {
		opt.Compat = SameShapes
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = DefaultMaxAttempts
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Store{dir: dir, fs: opt.FS, opt: opt, verified: map[string]bool{}}
	for _, sub := range []string{ObjectsDir, ReleasesDir} {
		if err := s.fs.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("store %s: %w", dir, err)
		}
	}
	// The new directories' names must be durable too: sync the store
	// directory and its parent.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := s.fs.SyncDir(d); err != nil {
			return nil, fmt.Errorf("store %s: sync %s: %w", dir, d, err)
		}
	}
	return s, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// ObjectPath returns the path of the component file with the given hash.
func (s *Store) ObjectPath(sha string) string {
	return filepath.Join(s.dir, ObjectsDir, objectName(sha))
}

func (s *Store) releasePath(id string) string {
	return filepath.Join(s.dir, ReleasesDir, id+".json")
}

func (s *Store) hook(step Step, name string) error {
	if s.opt.Hook == nil {
		return nil
	}
	if err := s.opt.Hook(step, name); err != nil {
		return fmt.Errorf("step %s (%s): %w", step, name, err)
	}
	return nil
}

func tempName(base string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return tempPrefix + base + "-" + hex.EncodeToString(b[:])
}

// writeAtomic publishes data as dir/name: temporary file, fsync, rename,
// fsync of the directory, the only portable durable replacement of a file
// (reference/ota.md §1.12 item 4).
func (s *Store) writeAtomic(dir, name string, data []byte, perm fs.FileMode) (err error) {
	if err := s.hook(StepWriteTemp, name); err != nil {
		return err
	}
	tmp := filepath.Join(dir, tempName(name))
	f, err := s.fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("%s: create temporary: %w", name, err)
	}
	closed := false
	defer func() {
		if !closed {
			f.Close()
		}
		if err != nil {
			s.fs.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("%s: write: %w", name, err)
	}
	if err := s.hook(StepFsyncFile, name); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("%s: fsync: %w", name, err)
	}
	closed = true
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: close: %w", name, err)
	}
	if err := s.hook(StepRename, name); err != nil {
		return err
	}
	if err := s.fs.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("%s: rename: %w", name, err)
	}
	if err := s.hook(StepFsyncDir, name); err != nil {
		return err
	}
	if err := s.fs.SyncDir(dir); err != nil {
		return fmt.Errorf("%s: fsync directory %s: %w", name, dir, err)
	}
	return nil
}

// AddComponent streams c's bytes from r into the store. It reads at most
// c.Length+1 bytes, so a source longer than signed is refused as soon as
// it passes the signed length (TUF's endless-data attack), and it hashes
// while copying, so the bytes published are the bytes checked. The file
// is fsynced, renamed to its content name, the directory fsynced, and the
// published file verified again (length, hash, format, shapes) before
// anyone can map it. A file already present is verified and reused.
func (s *Store) AddComponent(r io.Reader, c Component) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.addComponent(r, c)
	return err
}

// addComponent reports whether it wrote a new file.
func (s *Store) addComponent(r io.Reader, c Component) (bool, error) {
	if !isHexSHA256(c.SHA256) || c.Length <= 0 || c.Length > MaxComponentSize {
		return false, fmt.Errorf("component %q (length %d): %w", c.SHA256, c.Length, ErrFormat)
	}
	name := c.ObjectName()
	final := s.ObjectPath(c.SHA256)
	if _, err := s.fs.Stat(final); err == nil {
		verr := s.verifyObject(c)
		if verr == nil {
			return false, nil
		}
		// A published file that no longer verifies (bit rot, a bad disk).
		// If a release in the state uses it, it may be mapped: refuse. If
		// not, nobody maps it: replace it by unlinking (never rewriting).
		if refs, err := s.referencedObjects(); err != nil || refs[c.SHA256] {
			return false, fmt.Errorf("component %s already in store, maybe in use, does not verify: %w", name, verr)
		}
		if err := s.fs.Remove(final); err != nil {
			return false, fmt.Errorf("component %s does not verify and cannot be removed: %v: %w", name, verr, err)
		}
	}
	if err := s.hook(StepWriteTemp, name); err != nil {
		return false, err
	}
	dir := filepath.Join(s.dir, ObjectsDir)
	tmp := filepath.Join(dir, tempName(name))
	f, err := s.fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, objectMode)
	if err != nil {
		return false, fmt.Errorf("component %s: create temporary: %w", name, err)
	}
	ok := false
	closed := false
	defer func() {
		if !closed {
			f.Close()
		}
		if !ok {
			s.fs.Remove(tmp)
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, c.Length+1))
	if err != nil {
		return false, fmt.Errorf("component %s: copy after %d bytes: %w", name, n, err)
	}
	if n > c.Length {
		return false, fmt.Errorf("component %s: longer than the signed %d bytes: %w", name, c.Length, ErrLength)
	}
	if n < c.Length {
		return false, fmt.Errorf("component %s: %d bytes, signed length %d (truncated): %w", name, n, c.Length, ErrLength)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != c.SHA256 {
		return false, fmt.Errorf("component %s: sha256 %s: %w", name, got, ErrHash)
	}
	if err := s.hook(StepFsyncFile, name); err != nil {
		return false, err
	}
	if err := f.Sync(); err != nil {
		return false, fmt.Errorf("component %s: fsync: %w", name, err)
	}
	closed = true
	if err := f.Close(); err != nil {
		return false, fmt.Errorf("component %s: close: %w", name, err)
	}
	if err := s.hook(StepRename, name); err != nil {
		return false, err
	}
	if err := s.fs.Rename(tmp, final); err != nil {
		return false, fmt.Errorf("component %s: rename: %w", name, err)
	}
	ok = true
	if err := s.hook(StepFsyncDir, name); err != nil {
		return true, err
	}
	if err := s.fs.SyncDir(dir); err != nil {
		return true, fmt.Errorf("component %s: fsync directory: %w", name, err)
	}
	if err := s.hook(StepVerify, name); err != nil {
		return true, err
	}
	if err := s.verifyObject(c); err != nil {
		// Nobody has mapped it (mapping needs a verified file), so it can go.
		s.fs.Remove(final)
		s.fs.SyncDir(dir)
		return false, err
	}
	return true, nil
}

// verifyObject checks the published file of c: length, hash, the injected
// format check and shapes. On success the hash is remembered as verified.
func (s *Store) verifyObject(c Component) error {
	name := c.ObjectName()
	p := s.ObjectPath(c.SHA256)
	f, err := s.fs.OpenFile(p, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("component %s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("component %s: %w", name, err)
	}
	if fi.Size() != c.Length {
		return fmt.Errorf("component %s: %d bytes on disk, signed length %d: %w", name, fi.Size(), c.Length, ErrLength)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, c.Length+1)); err != nil {
		return fmt.Errorf("component %s: read: %w", name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != c.SHA256 {
		return fmt.Errorf("component %s: sha256 on disk %s: %w", name, got, ErrHash)
	}
	if s.opt.Verify != nil {
		if err := s.opt.Verify(p); err != nil {
			return fmt.Errorf("component %s: %w: %w", name, ErrVerify, err)
		}
	}
	if s.opt.Shapes != nil {
		got, err := s.opt.Shapes(p)
		if err != nil {
			return fmt.Errorf("component %s: read shapes: %w: %w", name, ErrVerify, err)
		}
		if err := compareTensors(c.Tensors, got); err != nil {
			return fmt.Errorf("component %s: file holds other tensors than signed: %v: %w", name, err, ErrShape)
		}
	}
	s.verified[c.SHA256] = true
	return nil
}

// referencedObjects returns the hashes used by the releases the state
// names. When the state or one of its manifests cannot be read it returns
// an error, and callers then remove nothing.
func (s *Store) referencedObjects() (map[string]bool, error) {
	keep := map[string]bool{}
	st, err := s.loadState()
	if err != nil {
		return nil, err
	}
	for _, id := range []string{st.Current, st.Previous, st.Pending} {
		if id == "" {
			continue
		}
		m, err := s.release(id)
		if err != nil {
			return nil, err
		}
		for _, c := range m.Objects() {
			keep[c.SHA256] = true
		}
	}
	return keep, nil
}

// VerifyRelease re-verifies every component file of release id.
func (s *Store) VerifyRelease(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.release(id)
	if err != nil {
		return err
	}
	return s.verifyRelease(m)
}

func (s *Store) verifyRelease(m *ReleaseManifest) error {
	var errs []error
	for _, c := range m.Objects() {
		if err := s.verifyObject(c); err != nil {
			errs = append(errs, fmt.Errorf("release %q: %w", m.ID, err))
		}
	}
	return errors.Join(errs...)
}

// Map maps the component file with hash sha through Options.Map, after
// verifying it if this process has not yet done so.
func (s *Store) Map(c Component) (io.Closer, error) {
	if s.opt.Map == nil {
		return nil, errors.New("store: no Mapper configured")
	}
	s.mu.Lock()
	if !s.verified[c.SHA256] {
		if err := s.verifyObject(c); err != nil {
			s.mu.Unlock()
			return nil, err
		}
	}
	s.mu.Unlock()
	return s.opt.Map(s.ObjectPath(c.SHA256))
}

// Release reads the manifest of release id from the store.
func (s *Store) Release(id string) (*ReleaseManifest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.release(id)
}

func (s *Store) release(id string) (*ReleaseManifest, error) {
	if err := checkName("release id", id); err != nil {
		return nil, err
	}
	data, err := s.readFile(s.releasePath(id), MaxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("release %q: %w", id, err)
	}
	m, err := DecodeReleaseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.releasePath(id), err)
	}
	if m.ID != id {
		return nil, fmt.Errorf("%s: holds release %q: %w", s.releasePath(id), m.ID, ErrFormat)
	}
	return m, nil
}

// readFile reads name, refusing files over limit bytes before reading them.
func (s *Store) readFile(name string, limit int64) ([]byte, error) {
	f, err := s.fs.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, limit %d: %w", name, fi.Size(), limit, ErrFormat)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: over %d bytes: %w", name, limit, ErrFormat)
	}
	return data, nil
}

// putRelease publishes m as releases/<id>.json. A release id is immutable:
// an existing file with other content is ErrConflict.
func (s *Store) putRelease(m *ReleaseManifest) (wrote bool, err error) {
	data, err := m.Encode()
	if err != nil {
		return false, err
	}
	if old, err := s.readFile(s.releasePath(m.ID), MaxManifestSize); err == nil {
		if bytes.Equal(old, data) {
			return false, nil
		}
		return false, fmt.Errorf("release %q: releases/%s.json exists with other content: %w", m.ID, m.ID, ErrConflict)
	}
	if err := s.hook(StepRelease, m.ID+".json"); err != nil {
		return false, err
	}
	return true, s.writeAtomic(filepath.Join(s.dir, ReleasesDir), m.ID+".json", data, objectMode)
}

// AddRelease publishes a release manifest after checking that every
// component it names is in the store and verifies.
func (s *Store) AddRelease(m *ReleaseManifest) error {
	if err := m.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range m.Objects() {
		if err := s.verifyObject(c); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				err = fmt.Errorf("%w: %w", ErrMissing, err)
			}
			return fmt.Errorf("release %q: %w", m.ID, err)
		}
	}
	_, err := s.putRelease(m)
	return err
}

// GC removes component files and release manifests that no release in the
// state (current, previous, pending) references, and leftover temporary
// files. It returns the names removed. Removing a file that some old
// mapping still uses is safe (the inode lives until unmapped), but a
// caller should only GC after the old release has drained.
func (s *Store) GC() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.loadState()
	if err != nil {
		return nil, err
	}
	keepObj := map[string]bool{}
	keepRel := map[string]bool{}
	for _, id := range []string{st.Current, st.Previous, st.Pending} {
		if id == "" {
			continue
		}
		m, err := s.release(id)
		if err != nil {
			return nil, fmt.Errorf("gc: state names release %q: %w", id, err)
		}
		keepRel[id+".json"] = true
		for _, c := range m.Objects() {
			keepObj[c.ObjectName()] = true
		}
	}
	var removed []string
	for _, d := range []struct {
		sub  string
		keep map[string]bool
	}{{ObjectsDir, keepObj}, {ReleasesDir, keepRel}, {"", nil}} {
		dir := filepath.Join(s.dir, d.sub)
		names, err := s.fs.ReadDir(dir)
		if err != nil {
			return removed, fmt.Errorf("gc: %w", err)
		}
		n := 0
		for _, name := range names {
			switch {
			case strings.HasPrefix(name, tempPrefix):
			case d.keep != nil && !d.keep[name]:
			default:
				continue
			}
			if err := s.hook(StepGC, name); err != nil {
				return removed, err
			}
			if err := s.fs.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return removed, fmt.Errorf("gc: %w", err)
			}
			if d.sub == ObjectsDir {
				delete(s.verified, strings.TrimSuffix(strings.TrimPrefix(name, "sha256-"), ".bwm"))
			}
			removed = append(removed, filepath.Join(d.sub, name))
			n++
		}
		if n > 0 {
			if err := s.fs.SyncDir(dir); err != nil {
				return removed, fmt.Errorf("gc: %w", err)
			}
		}
	}
	return removed, nil
}
