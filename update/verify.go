package update

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"
)

// Size limits on metadata, go-tuf's updater defaults
// (metadata/config/config.go: TimestampMaxLength, SnapshotMaxLength,
// TargetsMaxLength): no metadata file is read past these.
const (
	MaxTimestampSize = 16384
	MaxSnapshotSize  = 2000000
	MaxTargetsSize   = 5000000
)

// VerifyOptions are what metadata verification checks against.
type VerifyOptions struct {
	// TrustedRoot is the root.json the device trusts (Keygen's DIR/root.json).
	TrustedRoot []byte
	// Seen are the highest versions accepted before; anything older is
	// ErrRollback.
	Seen MetadataVersions
	// Now is the reference time for expiry; zero means time.Now.
	Now time.Time
	// Running is the release now running, nil if none; Compat compares
	// the new release with it (nil means SameShapes).
	Running *ReleaseManifest
	Compat  CompatCheck
}

// verifiedRelease is the outcome of metadata verification.
type verifiedRelease struct {
	// seen are the versions verification compared against.
	seen MetadataVersions
	// newRoot is the last root of a rotation chain, to be stored; nil if
	// the trusted root did not change.
	newRoot  []byte
	release  *ReleaseManifest
	manifest []byte
	versions MetadataVersions
	// objects maps component hash to its signed target info.
	objects map[string]*metadata.TargetFiles
}

// tufErr maps go-tuf's error types onto our sentinels, keeping its message.
func tufErr(role string, err error) error {
	var (
		unsigned *metadata.ErrUnsignedMetadata
		expired  *metadata.ErrExpiredMetadata
		badVer   *metadata.ErrBadVersionNumber
		lenHash  *metadata.ErrLengthOrHashMismatch
		value    *metadata.ErrValue
	)
	switch {
	case errors.As(err, &unsigned):
		return fmt.Errorf("%s: %w: %w", role, ErrSignature, err)
	case errors.As(err, &expired):
		return fmt.Errorf("%s: %w: %w", role, ErrExpired, err)
	case errors.As(err, &badVer), errors.As(err, &lenHash):
		return fmt.Errorf("%s: %w: %w", role, ErrMixed, err)
	case errors.As(err, &value):
		return fmt.Errorf("%s: %w: %w", role, ErrSignature, err)
	}
	return fmt.Errorf("%s: %w: %w", role, ErrFormat, err)
}

// verifyMetadata runs the TUF client checks (tuf-spec.md, "Detailed client
// workflow" 5.3-5.6) on one set of top-level metadata with go-tuf's
// TrustedMetadata: signatures by the root's keys with thresholds,
// expiry, and that timestamp, snapshot and targets are one consistent set
// (versions and hashes pinned by the role above: no mix-and-match). Then
// it checks the versions against the persisted ones (no rollback across
// restarts), checks every target path, finds the one release manifest and
// checks that every component of the release is a signed target with the
// same length and hash.
func verifyMetadata(opt VerifyOptions, roots [][]byte, timestamp, snapshot, targets []byte, fetchManifest func(name string, info *metadata.TargetFiles) ([]byte, error)) (*verifiedRelease, error) {
	tm, err := trustedmetadata.New(opt.TrustedRoot)
	if err != nil {
		return nil, tufErr("trusted root", err)
	}
	if !opt.Now.IsZero() {
		tm.RefTime = opt.Now.UTC()
	}
	first := tm.Root
	var newRoot []byte
	for _, data := range roots {
		rv, err := rootVersion(data)
		if err != nil {
			return nil, fmt.Errorf("rotated root: %w: %w", ErrFormat, err)
		}
		if rv <= tm.Root.Signed.Version {
			continue // already trusted
		}
		if _, err := tm.UpdateRoot(data); err != nil {
			return nil, tufErr(rootEntryName(rv), err)
		}
		newRoot = data
	}
	seen := opt.Seen
	keys := rolesKeysID(tm.Root)
	reset := newRoot != nil && (keysChanged(first, tm.Root, metadata.TIMESTAMP) || keysChanged(first, tm.Root, metadata.SNAPSHOT))
	if seen.Keys != "" {
		// The versions say which keys they were accepted under: compare
		// with those, not with the stored root, which an install that
		// failed before its state write may have moved on already.
		reset = seen.Keys != keys
	}
	if reset {
		// Fast-forward recovery (client workflow 5.3.11): with new
		// timestamp or snapshot keys the client forgets its trusted
		// timestamp and snapshot, and with the snapshot the floor it kept
		// for the targets version, so all three restart.
		seen.Timestamp, seen.Snapshot, seen.Targets = 0, 0, 0
	}
	v := MetadataVersions{Root: tm.Root.Signed.Version, Keys: keys}
	if v.Root < seen.Root {
		return nil, fmt.Errorf("trusted root version %d older than accepted %d: %w", v.Root, seen.Root, ErrRollback)
	}
	ts, err := tm.UpdateTimestamp(timestamp)
	if err != nil {
		return nil, tufErr(timestampEntry, err)
	}
	v.Timestamp = ts.Signed.Version
	if v.Timestamp < seen.Timestamp {
		return nil, fmt.Errorf("%s: version %d older than accepted %d: %w", timestampEntry, v.Timestamp, seen.Timestamp, ErrRollback)
	}
	sn, err := tm.UpdateSnapshot(snapshot, false)
	if err != nil {
		return nil, tufErr(snapshotEntry, err)
	}
	v.Snapshot = sn.Signed.Version
	if v.Snapshot < seen.Snapshot {
		return nil, fmt.Errorf("%s: version %d older than accepted %d: %w", snapshotEntry, v.Snapshot, seen.Snapshot, ErrRollback)
	}
	tg, err := tm.UpdateTargets(targets)
	if err != nil {
		return nil, tufErr(targetsEntry, err)
	}
	v.Targets = tg.Signed.Version
	if v.Targets < seen.Targets {
		return nil, fmt.Errorf("%s: version %d older than accepted %d: %w", targetsEntry, v.Targets, seen.Targets, ErrRollback)
	}
	if len(tg.Signed.Targets) > MaxBundleEntries {
		return nil, fmt.Errorf("%s: %d targets, limit %d: %w", targetsEntry, len(tg.Signed.Targets), MaxBundleEntries, ErrFormat)
	}
	if tg.Signed.Delegations != nil {
		// Delegated targets roles are not used by this repository layout;
		// refusing them keeps the trust decision to the top-level role.
		return nil, fmt.Errorf("%s: delegations are not supported: %w", targetsEntry, ErrFormat)
	}
	vr := &verifiedRelease{seen: opt.Seen, newRoot: newRoot, versions: v, objects: map[string]*metadata.TargetFiles{}}
	var relName string
	for name, info := range tg.Signed.Targets {
		if err := checkEntryName(name); err != nil {
			return nil, fmt.Errorf("%s: target: %w", targetsEntry, err)
		}
		kind, key := targetKind(name)
		switch kind {
		case "release":
			if relName != "" {
				return nil, fmt.Errorf("%s: two release manifests (%s, %s): %w", targetsEntry, relName, name, ErrFormat)
			}
			relName = name
		case "object":
			h, ok := info.Hashes["sha256"]
			if !ok || hex.EncodeToString(h) != key {
				return nil, fmt.Errorf("%s: target %s: signed sha256 differs from its name: %w", targetsEntry, name, ErrHash)
			}
			vr.objects[key] = info
		default:
			return nil, fmt.Errorf("%s: target %q is neither releases/<id>.json nor objects/sha256-<hex>.bwm: %w", targetsEntry, name, ErrName)
		}
	}
	if relName == "" {
		return nil, fmt.Errorf("%s: no release manifest among the targets: %w", targetsEntry, ErrMissing)
	}
	info := tg.Signed.Targets[relName]
	if info.Length <= 0 || info.Length > MaxManifestSize {
		return nil, fmt.Errorf("%s: signed length %d out of range: %w", relName, info.Length, ErrFormat)
	}
	data, err := fetchManifest(relName, info)
	if err != nil {
		return nil, err
	}
	if err := info.VerifyLengthHashes(data); err != nil {
		var lh *metadata.ErrLengthOrHashMismatch
		if errors.As(err, &lh) {
			return nil, fmt.Errorf("%s: %w: %w", relName, ErrHash, err)
		}
		return nil, fmt.Errorf("%s: %w: %w", relName, ErrFormat, err)
	}
	m, err := DecodeReleaseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", relName, err)
	}
	if releasePrefix+m.ID+".json" != relName {
		return nil, fmt.Errorf("%s: holds release %q: %w", relName, m.ID, ErrFormat)
	}
	for _, slot := range m.SlotNames() {
		c := m.Slots[slot]
		t, ok := vr.objects[c.SHA256]
		if !ok {
			return nil, fmt.Errorf("release %q: slot %q: component %s is not a signed target: %w", m.ID, slot, c.ObjectName(), ErrMissing)
		}
		if t.Length != c.Length {
			return nil, fmt.Errorf("release %q: slot %q: manifest length %d, signed target length %d: %w", m.ID, slot, c.Length, t.Length, ErrLength)
		}
	}
	compat := opt.Compat
	if compat == nil {
		compat = SameShapes
	}
	if err := compat(opt.Running, m); err != nil {
		return nil, err
	}
	vr.release, vr.manifest = m, data
	return vr, nil
}

// keysChanged reports whether role's keys or threshold differ between two roots.
// rolesKeysID identifies the timestamp and snapshot roles of root: their
// thresholds and key ids, hashed.
func rolesKeysID(root *metadata.Metadata[metadata.RootType]) string {
	h := sha256.New()
	for _, role := range []string{metadata.TIMESTAMP, metadata.SNAPSHOT} {
		r := root.Signed.Roles[role]
		if r == nil {
			fmt.Fprintf(h, "%s:none;", role)
			continue
		}
		ids := slices.Clone(r.KeyIDs)
		slices.Sort(ids)
		fmt.Fprintf(h, "%s:%d:%s;", role, r.Threshold, strings.Join(ids, ","))
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func keysChanged(a, b *metadata.Metadata[metadata.RootType], role string) bool {
	ra, rb := a.Signed.Roles[role], b.Signed.Roles[role]
	if ra == nil || rb == nil || ra.Threshold != rb.Threshold || len(ra.KeyIDs) != len(rb.KeyIDs) {
		return true
	}
	for i := range ra.KeyIDs {
		if ra.KeyIDs[i] != rb.KeyIDs[i] {
			return true
		}
	}
	return false
}
