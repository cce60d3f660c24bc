package update

import "errors"

// Sentinel errors that callers branch on. Every error returned by this
// package that falls in one of these classes wraps the sentinel, so
// errors.Is works; the wrapping message names the file, role or field.
var (
	// ErrHash: a component's SHA-256 differs from the signed one.
	ErrHash = errors.New("hash mismatch")
	// ErrLength: a component or metadata file is longer or shorter than signed.
	ErrLength = errors.New("length mismatch")
	// ErrFormat: a manifest, state file or bundle is malformed.
	ErrFormat = errors.New("malformed input")
	// ErrName: an entry or release name is unsafe (traversal, absolute, odd characters).
	ErrName = errors.New("unsafe name")
	// ErrSignature: metadata is unsigned, signed by an unknown key or below threshold.
	ErrSignature = errors.New("signature not trusted")
	// ErrExpired: signed metadata is past its expiry.
	ErrExpired = errors.New("metadata expired")
	// ErrRollback: signed metadata is older than what this device already accepted.
	ErrRollback = errors.New("metadata version rollback")
	// ErrMixed: metadata files that never coexisted in the repository.
	ErrMixed = errors.New("metadata from different releases")
	// ErrShape: a component's tensors do not match what the release expects.
	ErrShape = errors.New("incompatible component shape")
	// ErrMissing: a component of the release is neither in the bundle nor in the store.
	ErrMissing = errors.New("component missing")
	// ErrBadRelease: the release was marked bad and is never retried automatically.
	ErrBadRelease = errors.New("release marked bad")
	// ErrNoPending: a transition needs a pending release and there is none.
	ErrNoPending = errors.New("no pending release")
	// ErrAttempts: the pending release has used up its start attempts.
	ErrAttempts = errors.New("pending release out of attempts")
	// ErrVerify: the injected format verifier refused a component file.
	ErrVerify = errors.New("component verification failed")
	// ErrHealth: the health check of a pending release failed.
	ErrHealth = errors.New("health check failed")
	// ErrConflict: a release id already exists in the store with other content.
	ErrConflict = errors.New("release id conflict")
)
