package update

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// The TUF top-level roles, each with one ed25519 key and threshold 1 as
// Keygen writes them. Root and targets keys belong offline; timestamp and
// snapshot keys may live with the release pipeline
// (theupdateframework/specification:tuf-spec.md, "Roles").
var topRoles = []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP}

// RootName is the trust root Keygen writes; devices are given this file.
const RootName = "root.json"

// DefaultRootExpiry is how long a root written by Keygen is valid.
const DefaultRootExpiry = 365 * 24 * time.Hour

// Keygen writes a fresh ed25519 key for each top-level role as
// DIR/<role>.key (PKCS#8 PEM, mode 0600) and the trust root DIR/root.json,
// version 1, signed by the root key and valid DefaultRootExpiry. It refuses
// to overwrite existing keys.
func Keygen(dir string) error {
	return KeygenExpiring(dir, time.Now().Add(DefaultRootExpiry))
}

// KeygenExpiring is Keygen with the root's expiry given.
func KeygenExpiring(dir string, expires time.Time) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	root := metadata.Root(expires.UTC())
	keys := map[string]ed25519.PrivateKey{}
	for _, role := range topRoles {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return fmt.Errorf("keygen: %s key: %w", role, err)
		}
		keys[role] = priv
		k, err := metadata.KeyFromPublicKey(pub)
		if err != nil {
			return fmt.Errorf("keygen: %s key: %w", role, err)
		}
		if err := root.Signed.AddKey(k, role); err != nil {
			return fmt.Errorf("keygen: %s key: %w", role, err)
		}
	}
	for _, role := range topRoles {
		der, err := x509.MarshalPKCS8PrivateKey(keys[role])
		if err != nil {
			return fmt.Errorf("keygen: %s key: %w", role, err)
		}
		p := filepath.Join(dir, role+".key")
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("keygen: %w", err)
		}
		err = pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("keygen: %s: %w", p, err)
		}
	}
	if err := signWith(root, keys[metadata.ROOT]); err != nil {
		return fmt.Errorf("keygen: sign root: %w", err)
	}
	data, err := root.ToBytes(true)
	if err != nil {
		return fmt.Errorf("keygen: root: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, RootName), data, 0o644)
}

// LoadKey reads a role key written by Keygen.
func LoadKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("key %s: no PEM PRIVATE KEY block: %w", path, ErrFormat)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key %s: %T is not ed25519: %w", path, k, ErrFormat)
	}
	return priv, nil
}

// signer is the part of *metadata.Metadata[T] signWith needs.
type signer interface {
	Sign(signature.Signer) (*metadata.Signature, error)
}

func signWith(m signer, key ed25519.PrivateKey) error {
	s, err := signature.LoadSigner(key, crypto.Hash(0))
	if err != nil {
		return err
	}
	_, err = m.Sign(s)
	return err
}

// bundleEntry is one file of a bundle or a published repository.
type bundleEntry struct {
	name string
	data []byte // metadata and manifest
	path string // component file on disk
	size int64
}

// RepoKeys are the signing keys of the non-root roles.
type RepoKeys struct {
	Targets, Snapshot, Timestamp ed25519.PrivateKey
}

// LoadRepoKeys reads the targets, snapshot and timestamp keys from a Keygen
// directory.
func LoadRepoKeys(dir string) (*RepoKeys, error) {
	var k RepoKeys
	var err error
	if k.Targets, err = LoadKey(filepath.Join(dir, metadata.TARGETS+".key")); err != nil {
		return nil, err
	}
	if k.Snapshot, err = LoadKey(filepath.Join(dir, metadata.SNAPSHOT+".key")); err != nil {
		return nil, err
	}
	if k.Timestamp, err = LoadKey(filepath.Join(dir, metadata.TIMESTAMP+".key")); err != nil {
		return nil, err
	}
	return &k, nil
}

// signedRelease builds and signs the metadata of one release: targets
// lists the release manifest and every component (all of them, also those
// not carried, so a device can check the ones it already has), snapshot
// pins the targets version and hash, timestamp pins the snapshot's. All
// three roles get the same version number.
func signedRelease(keys *RepoKeys, release *ReleaseManifest, components map[string]string, version int64, expires time.Time) ([]bundleEntry, error) {
	if version < 1 {
		return nil, fmt.Errorf("bundle: version %d, want >= 1: %w", version, ErrFormat)
	}
	manifest, err := release.Encode()
	if err != nil {
		return nil, err
	}
	objs := map[string]Component{}
	for _, c := range release.Objects() {
		objs[c.SHA256] = c
	}
	var carried []bundleEntry
	for sha, p := range components {
		c, ok := objs[sha]
		if !ok {
			return nil, fmt.Errorf("bundle: component file %s (%s) is not in release %q: %w", p, sha, release.ID, ErrFormat)
		}
		if err := checkFileHash(p, c); err != nil {
			return nil, err
		}
		carried = append(carried, bundleEntry{name: objectPrefix + c.ObjectName(), path: p, size: c.Length})
	}
	sort.Slice(carried, func(i, j int) bool { return carried[i].name < carried[j].name })

	expires = expires.UTC()
	targets := metadata.Targets(expires)
	targets.Signed.Version = version
	relName := releasePrefix + release.ID + ".json"
	targets.Signed.Targets[relName] = targetFile(relName, manifest)
	for _, c := range release.Objects() {
		name := objectPrefix + c.ObjectName()
		h, _ := hex.DecodeString(c.SHA256)
		targets.Signed.Targets[name] = &metadata.TargetFiles{Length: c.Length, Hashes: metadata.Hashes{"sha256": h}, Path: name}
	}
	if err := signWith(targets, keys.Targets); err != nil {
		return nil, fmt.Errorf("bundle: sign targets: %w", err)
	}
	tb, err := targets.ToBytes(false)
	if err != nil {
		return nil, err
	}
	snapshot := metadata.Snapshot(expires)
	snapshot.Signed.Version = version
	snapshot.Signed.Meta[targetsEntry] = metaFile(version, tb)
	if err := signWith(snapshot, keys.Snapshot); err != nil {
		return nil, fmt.Errorf("bundle: sign snapshot: %w", err)
	}
	sb, err := snapshot.ToBytes(false)
	if err != nil {
		return nil, err
	}
	timestamp := metadata.Timestamp(expires)
	timestamp.Signed.Version = version
	timestamp.Signed.Meta[snapshotEntry] = metaFile(version, sb)
	if err := signWith(timestamp, keys.Timestamp); err != nil {
		return nil, fmt.Errorf("bundle: sign timestamp: %w", err)
	}
	tsb, err := timestamp.ToBytes(false)
	if err != nil {
		return nil, err
	}
	entries := []bundleEntry{
		{name: timestampEntry, data: tsb},
		{name: snapshotEntry, data: sb},
		{name: targetsEntry, data: tb},
		{name: relName, data: manifest},
	}
	return append(entries, carried...), nil
}

func targetFile(name string, data []byte) *metadata.TargetFiles {
	sum := sha256.Sum256(data)
	return &metadata.TargetFiles{Length: int64(len(data)), Hashes: metadata.Hashes{"sha256": sum[:]}, Path: name}
}

func metaFile(version int64, data []byte) *metadata.MetaFiles {
	sum := sha256.Sum256(data)
	m := metadata.MetaFile(version)
	m.Length = int64(len(data))
	m.Hashes = metadata.Hashes{"sha256": sum[:]}
	return m
}

// checkFileHash makes sure the file at p is the component c, so the
// pipeline never signs what it does not ship.
func checkFileHash(p string, c Component) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("bundle: component %s: %w", c.SHA256, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("bundle: component %s: %w", p, err)
	}
	if n != c.Length {
		return fmt.Errorf("bundle: component file %s: %d bytes, manifest says %d: %w", p, n, c.Length, ErrLength)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != c.SHA256 {
		return fmt.Errorf("bundle: component file %s: sha256 %s, manifest says %s: %w", p, got, c.SHA256, ErrHash)
	}
	return nil
}

// BuildBundle signs release with the keys in keysDir (see Keygen) as
// metadata version version, valid until expires, and writes one bundle
// file to out holding the metadata, the release manifest and the
// component files given by hash in components (a subset of the release's
// components: those the devices may lack). The format is described in
// container.go and doc.go.
func BuildBundle(keysDir string, release ReleaseManifest, components map[string]string, version int64, expires time.Time, out string) error {
	keys, err := LoadRepoKeys(keysDir)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	entries, err := signedRelease(keys, &release, components, version, expires)
	if err != nil {
		return err
	}
	roots, err := rootChain(keysDir)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	entries = append(roots, entries...)
	tmp := out + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	defer os.Remove(tmp)
	err = writeEntries(f, entries)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("bundle %s: %w", out, err)
	}
	return os.Rename(tmp, out)
}

func writeEntries(w io.Writer, entries []bundleEntry) error {
	bw := newBundleWriter(w)
	for _, e := range entries {
		if err := checkEntryName(e.name); err != nil {
			return err
		}
		if e.path == "" {
			if err := bw.add(e.name, int64(len(e.data)), bytes.NewReader(e.data)); err != nil {
				return err
			}
			continue
		}
		f, err := os.Open(e.path)
		if err != nil {
			return err
		}
		err = bw.add(e.name, e.size, io.LimitReader(f, e.size))
		f.Close()
		if err != nil {
			return err
		}
	}
	return bw.close()
}

// PublishDir writes the same files as BuildBundle, as a directory tree for
// a static HTTP server (see Store.Poll): DIR/timestamp.json,
// DIR/snapshot.json, DIR/targets.json, DIR/releases/<id>.json and
// DIR/objects/sha256-<hex>.bwm. The timestamp is written last so that a
// client polling during publication sees the old set or the new one.
func PublishDir(keysDir string, release ReleaseManifest, components map[string]string, version int64, expires time.Time, dir string) error {
	keys, err := LoadRepoKeys(keysDir)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	entries, err := signedRelease(keys, &release, components, version, expires)
	if err != nil {
		return err
	}
	roots, err := rootChain(keysDir)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	// Roots, components and manifest first, metadata last, timestamp the
	// very last.
	order := append(append(roots, entries[3:]...), entries[2], entries[1], entries[0])
	for _, e := range order {
		dst := filepath.Join(dir, filepath.FromSlash(e.name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		data := e.data
		if e.path != "" {
			if data, err = os.ReadFile(e.path); err != nil {
				return fmt.Errorf("publish: %w", err)
			}
		}
		if err := writeFileAtomic(dst, data, 0o644); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	return nil
}

// writeFileAtomic is the OS-only write, fsync, rename, fsync-dir sequence
// for the signing side.
func writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return errors.Join(OSFS{}.SyncDir(filepath.Dir(name)))
}
