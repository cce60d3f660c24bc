// Package update keeps the components of a running model on disk and
// replaces them over the air: a store of immutable, content-addressed
// component files, one state file that says which release is live, and
// signed bundles (TUF metadata via go-tuf) that are verified before a byte
// of them reaches the store. It survives a crash or power cut at any step
// with the old release or the new one complete.
//
// The package does not read model files itself: the caller passes the
// format's checks (Options.Verify, Options.Shapes) and its mapping
// (Options.Map), and the store runs them on the files it wrote, before
// anything is mapped.
//
// # On-disk layout
//
//	DIR/state.json                          the commit point (State), 0600
//	DIR/root.json                           the trusted root after a key rotation, 0600
//	DIR/objects/sha256-<hex>.bwm            component files, named by content, 0444
//	DIR/releases/<id>.json                  release manifests (ReleaseManifest), 0444
//	DIR/.tmp-*, DIR/objects/.tmp-*, ...     temporaries; Recover and GC remove them
//
// A published file is never opened for writing again: writing into a
// mapped file shows through the mapping, and truncating it is a SIGBUS
// (reference/ota.md §2.1). New content is a new file under a new name.
//
// # Update sequence
//
// Every file (component, manifest, state) is published the same way:
// write a temporary file in the target directory, fsync it, rename it to
// its final name, fsync the directory. A rename alone is atomic but not
// durable, and without the file fsync ext4 may keep the name and lose the
// data (reference/ota.md §1.12; google/renameio). The named Steps mark
// each point; a StepHook can stop there, which is how the crash tests
// visit each one.
//
//  1. OpenBundle (or Poll) verifies the TUF metadata: the chain of
//     rotated roots from the trusted one (each signed by the keys of the
//     one before and its own), signatures by the final root's keys with
//     thresholds, expiry, timestamp → snapshot →
//     targets consistency (no mix-and-match), versions not below those in
//     state.json (no rollback), every target path safe, the release
//     manifest a signed target, every component a signed target of the
//     same length and hash, and the CompatCheck against the running
//     release (architecture, slots, tensor shapes).
//  2. Install streams each component into objects/, bounded by its signed
//     length (reading one byte past it is refused) and hashed while it is
//     copied; then fsync, rename, fsync directory, and verify the
//     published file again (length, hash, Options.Verify, Options.Shapes).
//     Components already in the store are verified and reused.
//  3. A rotated root is stored as DIR/root.json (StepRoot); the release
//     manifest is published under releases/.
//  4. state.json: the release becomes pending, with the bundle's metadata
//     versions (StepStatePending). Until here a crash leaves only
//     unreferenced files (removed by Recover or GC) and the old state.
//  5. At each start: Recover, then BeginAttempt (counts the start of the
//     pending release before it is mapped), map, warm, health check.
//  6. Activate: pending becomes current, current becomes previous
//     (StepStateCurrent). A failed health check marks the release bad (one
//     interrupted by its context leaves it pending); a
//     release that crashes the agent on every start runs out of attempts
//     and Recover rolls it back and marks it bad.
//  7. GC, once the old release has drained, removes what no release in
//     the state references.
//
// # Bundle file
//
// A bundle is a small container of our own (see container.go): the magic
// "BWBUNDL1", then entries of (uint16 name length, name, uint64 size,
// data), big-endian, ended by a zero name length. Entries: the rotated
// roots roots/<N>.root.json (if any), timestamp.json, snapshot.json,
// targets.json, releases/<id>.json, then the carried components as
// objects/sha256-<hex>.bwm. A static HTTP repository for
// Poll holds the same files under the same names (PublishDir).
//
// # Testing
//
// MemFS models what survives a power cut (data needs a file fsync, names
// need a directory fsync; Crash drops the rest), FaultFS injects ENOSPC or
// any error at the N-th write, fsync, rename or directory fsync, and the
// tests cut the power, or kill -9 a child process, at every step.
package update
