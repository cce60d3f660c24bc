package update

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Bundle is an opened bundle whose metadata and release manifest passed
// verification; its components are checked while Install copies them.
type Bundle struct {
	// Release is the signed release manifest the bundle carries.
	Release *ReleaseManifest
	// Versions are the bundle's metadata versions.
	Versions MetadataVersions

	vr   *verifiedRelease
	f    io.Closer
	br   *bundleReader
	used bool
}

// OpenBundle opens the bundle file at path and verifies its metadata and
// release manifest against opt (signatures, thresholds, expiry, versions,
// consistency, target names, the manifest being a signed target, and
// opt.Compat against the running release). Nothing is written. Close it.
func OpenBundle(path string, opt VerifyOptions) (*Bundle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	b, err := readBundle(f, opt)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("bundle %s: %w", path, err)
	}
	b.f = f
	return b, nil
}

func readBundle(r io.Reader, opt VerifyOptions) (*Bundle, error) {
	br, err := newBundleReader(r)
	if err != nil {
		return nil, err
	}
	// Rotated roots first (roots/<N>.root.json, N going up by one), then
	// the three metadata files.
	var roots [][]byte
	name, size, err := br.Next()
	for err == nil {
		v, ok := rootEntryVersion(name)
		if !ok {
			break
		}
		if len(roots) >= MaxRootRotations {
			return nil, fmt.Errorf("more than %d root rotations: %w", MaxRootRotations, ErrFormat)
		}
		if len(roots) > 0 {
			if prev, _ := rootVersion(roots[len(roots)-1]); v != prev+1 {
				return nil, fmt.Errorf("entry %q after root version %d: %w", name, prev, ErrFormat)
			}
		}
		data, err := br.readSmall(name, size, MaxRootSize)
		if err != nil {
			return nil, err
		}
		if rv, err := rootVersion(data); err != nil || rv != v {
			return nil, fmt.Errorf("entry %q does not hold root version %d: %w", name, v, ErrFormat)
		}
		roots = append(roots, data)
		name, size, err = br.Next()
	}
	var meta [3][]byte
	for i, want := range []struct {
		name  string
		limit int64
	}{{timestampEntry, MaxTimestampSize}, {snapshotEntry, MaxSnapshotSize}, {targetsEntry, MaxTargetsSize}} {
		if i > 0 {
			name, size, err = br.Next()
		}
		if err == io.EOF {
			return nil, fmt.Errorf("want %s, bundle ended: %w", want.name, ErrMissing)
		}
		if err != nil {
			return nil, err
		}
		if name != want.name {
			return nil, fmt.Errorf("entry %q where %s belongs: %w", name, want.name, ErrFormat)
		}
		if meta[i], err = br.readSmall(name, size, want.limit); err != nil {
			return nil, err
		}
	}
	vr, err := verifyMetadata(opt, roots, meta[0], meta[1], meta[2], func(relName string, info *metadata.TargetFiles) ([]byte, error) {
		name, size, err := br.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("want %s, bundle ended: %w", relName, ErrMissing)
		}
		if err != nil {
			return nil, err
		}
		if name != relName {
			return nil, fmt.Errorf("entry %q where the signed release manifest %s belongs: %w", name, relName, ErrFormat)
		}
		// Bounded by the signed length, never the bundle's own size.
		if size != info.Length {
			return nil, fmt.Errorf("%s: %d bytes in bundle, signed length %d: %w", name, size, info.Length, ErrLength)
		}
		return br.readSmall(name, size, info.Length)
	})
	if err != nil {
		return nil, err
	}
	return &Bundle{Release: vr.release, Versions: vr.versions, vr: vr, br: br}, nil
}

// Close closes the bundle file.
func (b *Bundle) Close() error {
	if b.f == nil {
		return nil
	}
	return b.f.Close()
}

// OpenBundle opens a bundle with the checks set from the store: the
// versions accepted so far, the running release for the shape check, the
// store's clock and CompatCheck. A release marked bad is refused.
func (s *Store) OpenBundle(path string, trustedRoot []byte) (*Bundle, error) {
	opt, err := s.verifyOptions(trustedRoot)
	if err != nil {
		return nil, err
	}
	b, err := OpenBundle(path, opt)
	if err != nil {
		return nil, err
	}
	if err := s.checkNotBad(b.Release.ID); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (s *Store) checkNotBad(id string) error {
	st, err := s.State()
	if err != nil {
		return err
	}
	if st.IsBad(id) {
		return fmt.Errorf("release %q: %w", id, ErrBadRelease)
	}
	return nil
}

func (s *Store) verifyOptions(trustedRoot []byte) (VerifyOptions, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.loadState()
	if err != nil {
		return VerifyOptions{}, err
	}
	opt := VerifyOptions{TrustedRoot: s.trustedRoot(trustedRoot), Seen: st.Versions, Now: s.opt.Now(), Compat: s.opt.Compat}
	if st.Current != "" {
		if opt.Running, err = s.release(st.Current); err != nil {
			return opt, fmt.Errorf("running release: %w", err)
		}
	}
	return opt, nil
}

// Install copies the bundle's components into the store (each streamed,
// bounded by and hashed against its signed target, then verified),
// reading the bundle once front to back: what is checked is the copy the
// store wrote, so changing the bundle file meanwhile gains nothing (the
// TOCTOU of RAUC's CVE-2020-25860, reference/ota.md §1.5). It then
// publishes the release manifest, and stages the release as pending with
// the bundle's metadata versions, in one state write. On any failure the
// files this call wrote are removed and the state is untouched, with one
// exception: a failure of the directory fsync after the state file was
// renamed, when the release is already pending (and complete).
func (s *Store) Install(b *Bundle) (err error) {
	if b.used {
		return errors.New("bundle: already installed")
	}
	b.used = true
	s.mu.Lock()
	defer s.mu.Unlock()
	var written []string
	defer func() {
		if err != nil {
			s.removeUnreferenced(written)
		}
	}()
	need := map[string]Component{}
	for _, c := range b.Release.Objects() {
		need[c.SHA256] = c
	}
	for {
		name, _, err := b.br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		kind, sha := targetKind(name)
		c, ok := need[sha]
		if kind != "object" || !ok {
			return fmt.Errorf("bundle entry %q is not a component of release %q: %w", name, b.Release.ID, ErrFormat)
		}
		wrote, err := s.addComponent(b.br, c)
		if wrote {
			written = append(written, c.SHA256)
		}
		if err != nil {
			return fmt.Errorf("release %q: %w", b.Release.ID, err)
		}
	}
	return s.finishInstall(b.vr)
}

// finishInstall checks that every component is present and verified,
// publishes the manifest and stages the release.
func (s *Store) finishInstall(vr *verifiedRelease) error {
	m := vr.release
	st, err := s.loadState()
	if err != nil {
		return err
	}
	if st.IsBad(m.ID) {
		return fmt.Errorf("release %q: %w", m.ID, ErrBadRelease)
	}
	if st.Versions != vr.seen {
		// Another bundle was accepted since this one was verified (or it
		// was verified against other versions): verify it again.
		return fmt.Errorf("release %q: verified against metadata versions %+v, the state now holds %+v: %w", m.ID, vr.seen, st.Versions, ErrConflict)
	}
	for _, slot := range m.SlotNames() {
		c := m.Slots[slot]
		if s.verified[c.SHA256] {
			continue
		}
		if err := s.verifyObject(c); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("release %q: slot %q: component %s neither in the bundle nor in the store: %w", m.ID, slot, c.ObjectName(), ErrMissing)
			}
			return fmt.Errorf("release %q: slot %q: %w", m.ID, slot, err)
		}
	}
	if err := s.storeRoot(vr); err != nil {
		return err
	}
	wrote, err := s.putRelease(m)
	if err != nil {
		if wrote {
			s.removeUnreferencedRelease(m.ID)
		}
		return err
	}
	if err := s.stage(m.ID, &vr.versions); err != nil {
		if wrote {
			s.removeUnreferencedRelease(m.ID)
		}
		return err
	}
	return nil
}

// storeRoot stores the root vr rotated to, if any, as DIR/root.json. It
// comes before the state moves, so the device never holds versions signed
// by keys it does not trust.
func (s *Store) storeRoot(vr *verifiedRelease) error {
	if vr.newRoot == nil {
		return nil
	}
	if err := s.hook(StepRoot, RootName); err != nil {
		return err
	}
	return s.writeAtomic(s.dir, RootName, vr.newRoot, 0o600)
}

// removeUnreferencedRelease deletes the manifest of release id written by
// a failed install, unless the state names it (a state write that failed
// only at the directory fsync has already replaced the file).
func (s *Store) removeUnreferencedRelease(id string) {
	if st, err := s.loadState(); err != nil || st.Current == id || st.Previous == id || st.Pending == id {
		return
	}
	s.fs.Remove(s.releasePath(id))
	s.fs.SyncDir(filepath.Join(s.dir, ReleasesDir))
}

// removeUnreferenced deletes component files written by a failed install
// unless the state references them, so a refused bundle leaves the store
// as it found it.
func (s *Store) removeUnreferenced(hashes []string) {
	if len(hashes) == 0 {
		return
	}
	keep, err := s.referencedObjects()
	if err != nil {
		return // cannot tell what is in use: leave the files to GC
	}
	for _, h := range hashes {
		if !keep[h] {
			s.fs.Remove(s.ObjectPath(h))
			delete(s.verified, h)
		}
	}
	s.fs.SyncDir(filepath.Join(s.dir, ObjectsDir))
}

// ApplyBundle opens, verifies and installs the bundle at path, leaving
// its release pending; the caller then maps it, runs BeginAttempt and
// Activate with a health check.
func (s *Store) ApplyBundle(path string, trustedRoot []byte) (*ReleaseManifest, error) {
	b, err := s.OpenBundle(path, trustedRoot)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	if err := s.Install(b); err != nil {
		return nil, fmt.Errorf("bundle %s: %w", path, err)
	}
	return b.Release, nil
}
