package update

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStateTransitions(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.s.BeginAttempt(); !errors.Is(err, ErrNoPending) {
		t.Fatalf("BeginAttempt without pending: %v", err)
	}
	if err := f.s.Activate(nil); !errors.Is(err, ErrNoPending) {
		t.Fatalf("Activate without pending: %v", err)
	}
	if _, err := f.s.ApplyBundle(f.k.bundleOf(t, f.r2, 2, nil), f.k.root); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= DefaultMaxAttempts; i++ {
		n, err := f.s.BeginAttempt()
		if err != nil || n != i {
			t.Fatalf("attempt %d: got %d, %v", i, n, err)
		}
	}
	if _, err := f.s.BeginAttempt(); !errors.Is(err, ErrAttempts) {
		t.Fatalf("attempt past the limit: %v", err)
	}
	id, err := f.s.Rollback()
	if err != nil || id != "r2" {
		t.Fatalf("rollback: %q %v", id, err)
	}
	st, _ := f.s.State()
	if st.Current != "r1" || st.Pending != "" || !st.IsBad("r2") {
		t.Fatalf("after rollback: %+v", st)
	}
	if err := f.s.Stage("r2"); !errors.Is(err, ErrBadRelease) {
		t.Fatalf("staging a bad release: %v", err)
	}
}

func TestRollbackBeforeLimitDoesNotMarkBad(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.s.ApplyBundle(f.k.bundleOf(t, f.r2, 2, nil), f.k.root); err != nil {
		t.Fatal(err)
	}
	f.s.BeginAttempt()
	if _, err := f.s.Rollback(); err != nil {
		t.Fatal(err)
	}
	st, _ := f.s.State()
	if st.IsBad("r2") || st.Pending != "" {
		t.Fatalf("state %+v", st)
	}
	if err := f.s.Stage("r2"); err != nil {
		t.Fatalf("restage: %v", err)
	}
}

func TestActivateHealthCheckFails(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.s.ApplyBundle(f.k.bundleOf(t, f.r2, 2, nil), f.k.root); err != nil {
		t.Fatal(err)
	}
	canary := errors.New("canary output differs")
	err := f.s.Activate(func(m *ReleaseManifest) error {
		if m.ID != "r2" {
			t.Errorf("health check of %q", m.ID)
		}
		return canary
	})
	if !errors.Is(err, ErrHealth) || !errors.Is(err, canary) {
		t.Fatalf("Activate: %v", err)
	}
	st, _ := f.s.State()
	if st.Current != "r1" || st.Pending != "" || !st.IsBad("r2") {
		t.Fatalf("state %+v", st)
	}
	checkIntact(t, f.s, "r1")
}

// TestRecoverCrashLoop: a release that kills the agent on every start is
// rolled back and marked bad by Recover once its attempts are used up.
func TestRecoverCrashLoop(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.s.ApplyBundle(f.k.bundleOf(t, f.r2, 2, nil), f.k.root); err != nil {
		t.Fatal(err)
	}
	for start := 1; ; start++ {
		s := openTestStore(t, nil, f.s.dir, nil) // a fresh process
		rep, err := s.Recover()
		if err != nil {
			t.Fatal(err)
		}
		if rep.RolledBack != "" {
			if rep.RolledBack != "r2" || !rep.MarkedBad || start != DefaultMaxAttempts+1 {
				t.Fatalf("start %d: report %+v", start, rep)
			}
			checkIntact(t, s, "r1")
			st, _ := s.State()
			if !st.IsBad("r2") {
				t.Fatal("r2 not marked bad")
			}
			return
		}
		if _, err := s.BeginAttempt(); err != nil {
			t.Fatalf("start %d: %v", start, err)
		}
		// ...the release crashes the process here, before Activate.
		if start > 10 {
			t.Fatal("crash loop never ended")
		}
	}
}

func TestRecoverReportsCorruptFile(t *testing.T) {
	f := newFixture(t, nil)
	c := f.r1.m.Slots["head"]
	p := f.s.ObjectPath(c.SHA256)
	os.Chmod(p, 0o644)
	data, _ := os.ReadFile(p)
	data[100] ^= 1
	os.WriteFile(p, data, 0o444)
	rep, err := f.s.Recover()
	if err != nil {
		t.Fatal(err)
	}
	ferr := rep.Failed["r1"]
	if !errors.Is(ferr, ErrHash) || !strings.Contains(ferr.Error(), c.ObjectName()) {
		t.Fatalf("Failed[r1] = %v, want a hash error naming %s", ferr, c.ObjectName())
	}
}

func TestRecoverRemovesTemps(t *testing.T) {
	f := newFixture(t, nil)
	for _, p := range []string{filepath.Join(ObjectsDir, tempPrefix+"x"), filepath.Join(ReleasesDir, tempPrefix+"y"), tempPrefix + "state.json-z"} {
		os.WriteFile(filepath.Join(f.s.dir, p), []byte("partial"), 0o600)
	}
	rep, err := f.s.Recover()
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.TempsRemoved) != 3 {
		t.Fatalf("removed %v", rep.TempsRemoved)
	}
	checkIntact(t, f.s, "r1")
}

func TestDecodeStateStrict(t *testing.T) {
	good := `{"format":1,"current":"r1","pending":"r2","pending_attempts":1,"bad":["r0"],"metadata_versions":{"root":1,"timestamp":2,"snapshot":2,"targets":2}}`
	if _, err := DecodeState([]byte(good)); err != nil {
		t.Fatalf("good state: %v", err)
	}
	for name, in := range map[string]string{
		"unknown field":       `{"format":1,"curent":"r1"}`,
		"trailing data":       `{"format":1} {}`,
		"wrong format":        `{"format":2}`,
		"attempts no pending": `{"format":1,"pending_attempts":2}`,
		"negative attempts":   `{"format":1,"pending":"r2","pending_attempts":-1}`,
		"traversal id":        `{"format":1,"current":"../r1"}`,
		"duplicate bad":       `{"format":1,"bad":["a","a"]}`,
		"negative version":    `{"format":1,"metadata_versions":{"root":-1}}`,
		"not json":            `format=1`,
	} {
		if _, err := DecodeState([]byte(in)); !errors.Is(err, ErrFormat) && !errors.Is(err, ErrName) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
