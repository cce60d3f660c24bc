package update

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Root rotation. A new root (version N+1) must be signed by a threshold
// of the keys of root N and of its own keys (tuf-spec.md, client workflow
// 5.3.4-5.3.5), so a device can walk the chain from the root it trusts.
// RotateKeys keeps every root after the first as DIR/roots/<N>.root.json;
// bundles carry them all and Poll fetches them from the repository, and
// the device skips those it already has.
const (
	rootsDir = "roots"
	// MaxRootRotations bounds the chain a device walks in one update
	// (go-tuf's MaxRootRotations default).
	MaxRootRotations = 256
	// MaxRootSize is go-tuf's RootMaxLength default.
	MaxRootSize = 512000
)

// rootEntryName is the bundle and repository name of root version v.
func rootEntryName(v int64) string { return fmt.Sprintf("%s/%d.root.json", rootsDir, v) }

// rootEntryVersion parses a root entry name; ok is false for other names.
func rootEntryVersion(name string) (int64, bool) {
	rest, found := strings.CutPrefix(name, rootsDir+"/")
	if !found {
		return 0, false
	}
	num, found := strings.CutSuffix(rest, ".root.json")
	if !found {
		return 0, false
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 2 || strconv.FormatInt(v, 10) != num {
		return 0, false
	}
	return v, true
}

// RotateKeys replaces the keys of the given roles in the Keygen directory
// dir with fresh ones and writes the next root version, valid until
// expires, signed by the old root key and, when the root key itself is
// rotated, by the new one too. The old private keys are overwritten.
func RotateKeys(dir string, expires time.Time, roles ...string) error {
	data, err := os.ReadFile(filepath.Join(dir, RootName))
	if err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	root, err := metadata.Root().FromBytes(data)
	if err != nil {
		return fmt.Errorf("rotate: %s: %w", RootName, err)
	}
	oldRootKey, err := LoadKey(filepath.Join(dir, metadata.ROOT+".key"))
	if err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	newKeys := map[string]ed25519.PrivateKey{}
	for _, role := range roles {
		r, ok := root.Signed.Roles[role]
		if !ok {
			return fmt.Errorf("rotate: unknown role %q: %w", role, ErrFormat)
		}
		for _, id := range append([]string(nil), r.KeyIDs...) {
			if err := root.Signed.RevokeKey(id, role); err != nil {
				return fmt.Errorf("rotate: %s: %w", role, err)
			}
		}
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		k, err := metadata.KeyFromPublicKey(pub)
		if err != nil {
			return err
		}
		if err := root.Signed.AddKey(k, role); err != nil {
			return fmt.Errorf("rotate: %s: %w", role, err)
		}
		newKeys[role] = priv
	}
	root.Signed.Version++
	root.Signed.Expires = expires.UTC()
	root.ClearSignatures()
	if err := signWith(root, oldRootKey); err != nil {
		return fmt.Errorf("rotate: sign with the old root key: %w", err)
	}
	if k, ok := newKeys[metadata.ROOT]; ok {
		if err := signWith(root, k); err != nil {
			return fmt.Errorf("rotate: sign with the new root key: %w", err)
		}
	}
	out, err := root.ToBytes(true)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, rootsDir), 0o755); err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, filepath.FromSlash(rootEntryName(root.Signed.Version))), out, 0o644); err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	// Keys before the root that names them: a crash in between leaves new
	// keys no root trusts yet, which RotateKeys run again replaces.
	for role, priv := range newKeys {
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(dir, role+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
	}
	return writeFileAtomic(filepath.Join(dir, RootName), out, 0o644)
}

// rootChain returns the rotated roots kept in a Keygen directory, oldest
// first, as bundle entries.
func rootChain(dir string) ([]bundleEntry, error) {
	names, err := os.ReadDir(filepath.Join(dir, rootsDir))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	type vr struct {
		v    int64
		name string
	}
	var vs []vr
	for _, e := range names {
		if v, ok := rootEntryVersion(rootsDir + "/" + e.Name()); ok {
			vs = append(vs, vr{v, e.Name()})
		}
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].v < vs[j].v })
	var out []bundleEntry
	for _, x := range vs {
		data, err := os.ReadFile(filepath.Join(dir, rootsDir, x.name))
		if err != nil {
			return nil, err
		}
		out = append(out, bundleEntry{name: rootEntryName(x.v), data: data})
	}
	return out, nil
}

// rootVersion parses root metadata just enough to read its version.
func rootVersion(data []byte) (int64, error) {
	m, err := metadata.Root().FromBytes(data)
	if err != nil {
		return 0, err
	}
	return m.Signed.Version, nil
}

// trustedRoot returns the root this store trusts: the given one, or the
// newer one a previous update rotated to and stored as DIR/root.json.
func (s *Store) trustedRoot(given []byte) []byte {
	stored, err := s.readFile(filepath.Join(s.dir, RootName), MaxRootSize)
	if err != nil {
		return given
	}
	sv, err1 := rootVersion(stored)
	gv, err2 := rootVersion(given)
	if err1 == nil && (err2 != nil || sv > gv) {
		return stored
	}
	return given
}
