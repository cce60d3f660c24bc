package update

// Step names a point in the update sequence. A StepHook is called just
// before each step with the step and the file it concerns; returning an
// error stops the sequence there, which is how the crash tests stop (or
// kill the process) at every step in turn (bbolt's gofail failpoints and
// Mender's per-state scripts are the models; reference/ota.md §1.13).
type Step string

// The steps of an update, in the order they happen for one file and one
// release. The per-file steps repeat for every component, the release
// manifest and every state write.
const (
	StepWriteTemp Step = "write-temp" // create the temporary file and stream the bytes into it
	StepFsyncFile Step = "fsync-file" // fsync the temporary file
	StepRename    Step = "rename"     // rename it to its final name
	StepFsyncDir  Step = "fsync-dir"  // fsync the directory so the name is durable
	StepVerify    Step = "verify"     // re-read the published file: length, hash, format, shapes

	StepRoot         Step = "trusted-root"     // store a rotated root as DIR/root.json
	StepRelease      Step = "release-manifest" // publish releases/<id>.json
	StepStatePending Step = "state-pending"    // state: the release becomes pending
	StepStateAttempt Step = "state-attempt"    // state: one more start attempt of the pending release
	StepStateCurrent Step = "state-current"    // state: pending becomes current, current previous
	StepStateRollbk  Step = "state-rollback"   // state: pending dropped (and maybe marked bad)
	StepGC           Step = "gc"               // remove an unreferenced file
)

// StepHook is called before each step; name is the file (base name) the
// step is about. A non-nil error aborts the operation and is returned.
type StepHook func(step Step, name string) error
