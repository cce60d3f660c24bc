package update

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// StateFormat is the value of State.Format.
const StateFormat = 1

// Limits on the state file.
const (
	MaxStateSize = 1 << 20
	// MaxBad bounds the bad-release set; the oldest entries go first.
	MaxBad = 1024
	// maxAttemptsField bounds the attempt counter a state file may hold.
	maxAttemptsField = 1 << 20
)

// State is the content of state.json, the single commit point of the
// update sequence: which release is live (Current), the last known good
// one before it (Previous), the one being tried (Pending) and how many
// starts it has had, the releases never to retry, and the highest signed
// metadata versions accepted (rollback protection must survive restarts,
// and go-tuf's own metadata cache is not fsynced; reference/ota.md §1.2).
type State struct {
	Format   int    `json:"format"`
	Current  string `json:"current,omitempty"`
	Previous string `json:"previous,omitempty"`
	Pending  string `json:"pending,omitempty"`
	// Attempts counts the starts of Pending (BeginAttempt).
	Attempts int `json:"pending_attempts"`
	// Bad lists releases marked bad, oldest first.
	Bad []string `json:"bad,omitempty"`
	// Versions are the highest metadata versions accepted, per TUF role.
	Versions MetadataVersions `json:"metadata_versions"`
}

// MetadataVersions holds one version per TUF top-level role.
type MetadataVersions struct {
	Root      int64 `json:"root"`
	Timestamp int64 `json:"timestamp"`
	Snapshot  int64 `json:"snapshot"`
	Targets   int64 `json:"targets"`
	// Keys identifies the timestamp and snapshot keys (and thresholds) of
	// the root the versions were accepted under (rolesKeysID). When the
	// trusted root's keys differ from them, the versions restart
	// (fast-forward recovery), even if that root was stored by an install
	// whose state write never happened. Empty in state files written
	// before it existed.
	Keys string `json:"keys,omitempty"`
}

// IsBad reports whether release id was marked bad.
func (st *State) IsBad(id string) bool {
	for _, b := range st.Bad {
		if b == id {
			return true
		}
	}
	return false
}

func (st *State) markBad(id string) {
	if id == "" || st.IsBad(id) {
		return
	}
	st.Bad = append(st.Bad, id)
	if len(st.Bad) > MaxBad {
		st.Bad = st.Bad[len(st.Bad)-MaxBad:]
	}
}

// Validate checks the fields of a state.
func (st *State) Validate() error {
	if st.Format != StateFormat {
		return fmt.Errorf("state: format %d, want %d: %w", st.Format, StateFormat, ErrFormat)
	}
	for _, f := range []struct{ field, id string }{{"current", st.Current}, {"previous", st.Previous}, {"pending", st.Pending}} {
		if f.id == "" {
			continue
		}
		if err := checkName("state: "+f.field, f.id); err != nil {
			return err
		}
	}
	if st.Attempts < 0 || st.Attempts > maxAttemptsField {
		return fmt.Errorf("state: pending_attempts %d out of range: %w", st.Attempts, ErrFormat)
	}
	if st.Pending == "" && st.Attempts != 0 {
		return fmt.Errorf("state: pending_attempts %d without a pending release: %w", st.Attempts, ErrFormat)
	}
	if len(st.Bad) > MaxBad {
		return fmt.Errorf("state: %d bad releases, limit %d: %w", len(st.Bad), MaxBad, ErrFormat)
	}
	seen := map[string]bool{}
	for i, b := range st.Bad {
		if err := checkName(fmt.Sprintf("state: bad[%d]", i), b); err != nil {
			return err
		}
		if seen[b] {
			return fmt.Errorf("state: bad release %q listed twice: %w", b, ErrFormat)
		}
		seen[b] = true
	}
	v := st.Versions
	if v.Root < 0 || v.Timestamp < 0 || v.Snapshot < 0 || v.Targets < 0 {
		return fmt.Errorf("state: negative metadata version %+v: %w", v, ErrFormat)
	}
	if _, err := hex.DecodeString(v.Keys); err != nil || (v.Keys != "" && len(v.Keys) != 32) {
		return fmt.Errorf("state: metadata_versions.keys %q is not 32 hex digits: %w", v.Keys, ErrFormat)
	}
	return nil
}

// DecodeState parses and validates a state file strictly.
func DecodeState(data []byte) (*State, error) {
	if len(data) > MaxStateSize {
		return nil, fmt.Errorf("state: %d bytes, limit %d: %w", len(data), MaxStateSize, ErrFormat)
	}
	var st State
	if err := decodeStrict(data, &st); err != nil {
		return nil, fmt.Errorf("state: %v: %w", err, ErrFormat)
	}
	if err := st.Validate(); err != nil {
		return nil, err
	}
	if len(st.Bad) == 0 {
		st.Bad = nil // "bad": [] and no key are the same state
	}
	return &st, nil
}

// Encode returns the state as JSON after validating it.
func (st *State) Encode() ([]byte, error) {
	if err := st.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func (s *Store) statePath() string { return filepath.Join(s.dir, StateName) }

// State returns the current state; a store without a state file has the
// zero state (nothing installed).
func (s *Store) State() (State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.loadState()
	if err != nil {
		return State{}, err
	}
	return *st, nil
}

func (s *Store) loadState() (*State, error) {
	data, err := s.readFile(s.statePath(), MaxStateSize)
	if errors.Is(err, fs.ErrNotExist) {
		return &State{Format: StateFormat}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", s.statePath(), err)
	}
	st, err := DecodeState(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.statePath(), err)
	}
	return st, nil
}

func (s *Store) saveState(step Step, st *State) error {
	data, err := st.Encode()
	if err != nil {
		return err
	}
	if err := s.hook(step, StateName); err != nil {
		return err
	}
	return s.writeAtomic(s.dir, StateName, data, 0o600)
}

// Stage makes release id (already in the store, see AddRelease) the
// pending release with no attempts yet. A release marked bad is refused.
func (s *Store) Stage(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stage(id, nil)
}

func (s *Store) stage(id string, versions *MetadataVersions) error {
	st, err := s.loadState()
	if err != nil {
		return err
	}
	if st.IsBad(id) {
		return fmt.Errorf("stage release %q: %w", id, ErrBadRelease)
	}
	m, err := s.release(id)
	if err != nil {
		return fmt.Errorf("stage: %w", err)
	}
	for _, c := range m.Objects() {
		if !s.verified[c.SHA256] {
			if err := s.verifyObject(c); err != nil {
				return fmt.Errorf("stage release %q: %w", id, err)
			}
		}
	}
	if versions != nil {
		st.Versions = *versions
	}
	switch id {
	case st.Current:
		// Nothing to try: the release already runs. Only the versions move.
		st.Pending, st.Attempts = "", 0
	case st.Pending:
		// Staged again (the same bundle re-applied, a poll naming it): its
		// start attempts so far still count, or a release that crashes the
		// agent could be retried for ever.
	default:
		st.Pending, st.Attempts = id, 0
	}
	return s.saveState(StepStatePending, st)
}

// BeginAttempt records one more start of the pending release and returns
// the attempt number (1 for the first). It is called before the release
// is mapped, so a crash during the start still counts (RAUC decrements
// its boot counter before booting, for the same reason). When the
// attempts are used up it returns ErrAttempts; call Rollback.
func (s *Store) BeginAttempt() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.loadState()
	if err != nil {
		return 0, err
	}
	if st.Pending == "" {
		return 0, ErrNoPending
	}
	if st.Attempts >= s.opt.MaxAttempts {
		return st.Attempts, fmt.Errorf("release %q: %d attempts of %d: %w", st.Pending, st.Attempts, s.opt.MaxAttempts, ErrAttempts)
	}
	st.Attempts++
	if err := s.saveState(StepStateAttempt, st); err != nil {
		return 0, err
	}
	return st.Attempts, nil
}

// HealthCheck decides whether a mapped, warmed pending release may become
// current (for instance: a canary inference within a latency budget).
type HealthCheck func(*ReleaseManifest) error

// Activate makes the pending release current once check passes; the old
// current becomes previous. If check fails the pending release is dropped
// and marked bad, current stays, and the error wraps ErrHealth. A check
// that ends because its context was cancelled or ran out of time (a
// shutdown, an update timeout) says nothing against the release: it stays
// pending, its attempt counted, and the error wraps the context's.
func (s *Store) Activate(check HealthCheck) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.loadState()
	if err != nil {
		return err
	}
	if st.Pending == "" {
		return ErrNoPending
	}
	m, err := s.release(st.Pending)
	if err != nil {
		return err
	}
	if check != nil {
		if herr := check(m); herr != nil {
			id := st.Pending
			if errors.Is(herr, context.Canceled) || errors.Is(herr, context.DeadlineExceeded) {
				return fmt.Errorf("release %q: check interrupted: %w", id, herr)
			}
			st.markBad(id)
			st.Pending, st.Attempts = "", 0
			if err := s.saveState(StepStateRollbk, st); err != nil {
				return errors.Join(fmt.Errorf("release %q: %w: %w", id, ErrHealth, herr), err)
			}
			return fmt.Errorf("release %q: %w: %w", id, ErrHealth, herr)
		}
	}
	if st.Current != st.Pending {
		st.Previous = st.Current
	}
	st.Current, st.Pending, st.Attempts = st.Pending, "", 0
	return s.saveState(StepStateCurrent, st)
}

// Rollback drops the pending release; current stays. The dropped release
// is marked bad when it used up its attempts. It returns the dropped id.
func (s *Store) Rollback() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.loadState()
	if err != nil {
		return "", err
	}
	return s.rollback(st)
}

func (s *Store) rollback(st *State) (string, error) {
	id := st.Pending
	if id == "" {
		return "", ErrNoPending
	}
	if st.Attempts >= s.opt.MaxAttempts {
		st.markBad(id)
	}
	st.Pending, st.Attempts = "", 0
	return id, s.saveState(StepStateRollbk, st)
}

// MarkBad records release id as bad so it is never staged again; if it is
// pending it is dropped. Marking the current release bad does not stop it
// (something has to run): the caller stages another release.
func (s *Store) MarkBad(id string) error {
	if err := checkName("release id", id); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.loadState()
	if err != nil {
		return err
	}
	st.markBad(id)
	if st.Pending == id {
		st.Pending, st.Attempts = "", 0
	}
	return s.saveState(StepStateRollbk, st)
}

// RecoveryReport says what Recover found and did.
type RecoveryReport struct {
	// RolledBack is the pending release dropped (out of attempts, or its
	// files incomplete), or "".
	RolledBack string
	// MarkedBad is true when RolledBack was also marked bad.
	MarkedBad bool
	// TempsRemoved lists the leftover temporary files removed.
	TempsRemoved []string
	// Failed holds one error per referenced release whose files do not
	// all verify (each error names the release and component file).
	Failed map[string]error
}

// Recover runs at start, before anything is mapped: it removes leftover
// temporary files, rolls back (and marks bad) a pending release that used
// up its attempts (the crash-loop rule, reference/ota.md §5 item 6), and
// re-verifies every file of the current, previous and pending releases. A
// pending release whose files do not verify is dropped; a failing current
// or previous release is reported in Failed for the caller to act on.
func (s *Store) Recover() (*RecoveryReport, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rep := &RecoveryReport{Failed: map[string]error{}}
	for _, sub := range []string{ObjectsDir, ReleasesDir, ""} {
		dir := filepath.Join(s.dir, sub)
		names, err := s.fs.ReadDir(dir)
		if err != nil {
			return rep, fmt.Errorf("recover: %w", err)
		}
		removed := false
		for _, name := range names {
			if !strings.HasPrefix(name, tempPrefix) {
				continue
			}
			if err := s.fs.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return rep, fmt.Errorf("recover: %w", err)
			}
			rep.TempsRemoved = append(rep.TempsRemoved, filepath.Join(sub, name))
			removed = true
		}
		if removed {
			if err := s.fs.SyncDir(dir); err != nil {
				return rep, fmt.Errorf("recover: %w", err)
			}
		}
	}
	st, err := s.loadState()
	if err != nil {
		return rep, err
	}
	if st.Pending != "" && st.Attempts >= s.opt.MaxAttempts {
		id, err := s.rollback(st)
		if err != nil {
			return rep, fmt.Errorf("recover: roll back %q: %w", id, err)
		}
		rep.RolledBack, rep.MarkedBad = id, true
	}
	s.verified = map[string]bool{}
	ids := []string{st.Current, st.Previous, st.Pending}
	for _, id := range ids {
		if id == "" {
			continue
		}
		m, err := s.release(id)
		if err == nil {
			err = s.verifyRelease(m)
		}
		if err != nil {
			rep.Failed[id] = err
		}
	}
	if id := st.Pending; id != "" && rep.Failed[id] != nil {
		st.Pending, st.Attempts = "", 0
		if err := s.saveState(StepStateRollbk, st); err != nil {
			return rep, fmt.Errorf("recover: drop pending %q: %w", id, err)
		}
		rep.RolledBack = id
	}
	return rep, nil
}
