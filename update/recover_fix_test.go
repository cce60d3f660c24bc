package update

import (
	"context"
	"errors"
	"fmt"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Re-applying the pending release's bundle keeps its start attempts: a
// release that crashes the agent is still rolled back after MaxAttempts.
func TestReapplyKeepsAttempts(t *testing.T) {
	f := newFixture(t, nil)
	b := f.k.bundleOf(t, f.r2, 2, nil)
	if _, err := f.s.ApplyBundle(b, f.k.root); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= DefaultMaxAttempts+1; round++ {
		_, err := f.s.BeginAttempt()
		if round > DefaultMaxAttempts {
			if !errors.Is(err, ErrAttempts) {
				t.Fatalf("attempt %d: %v, want ErrAttempts", round, err)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		// The agent crashes; the same bundle is pushed again.
		if _, err := f.s.ApplyBundle(f.k.bundleOf(t, f.r2, 2, nil), f.k.root); err != nil {
			t.Fatal(err)
		}
		if st, _ := f.s.State(); st.Pending != "r2" || st.Attempts != round {
			t.Fatalf("after re-applying: %+v, want r2 pending with %d attempts", st, round)
		}
	}
}

// A health check cut short by its context (a shutdown, the update timeout)
// leaves the release pending, not bad.
func TestInterruptedCheckIsNotBad(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.s.ApplyBundle(f.k.bundleOf(t, f.r2, 2, nil), f.k.root); err != nil {
		t.Fatal(err)
	}
	for _, cerr := range []error{context.Canceled, context.DeadlineExceeded} {
		if _, err := f.s.BeginAttempt(); err != nil {
			t.Fatal(err)
		}
		err := f.s.Activate(func(*ReleaseManifest) error { return fmt.Errorf("test inference: %w", cerr) })
		if !errors.Is(err, cerr) || errors.Is(err, ErrHealth) {
			t.Fatalf("interrupted check: %v, want %v and not ErrHealth", err, cerr)
		}
		if st, _ := f.s.State(); st.Pending != "r2" || st.Current != "r1" || st.IsBad("r2") {
			t.Fatalf("after an interrupted check: %+v", st)
		}
	}
	// A real failure still marks it bad.
	if _, err := f.s.BeginAttempt(); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Activate(func(*ReleaseManifest) error { return errors.New("wrong logits") }); !errors.Is(err, ErrHealth) {
		t.Fatalf("failed check: %v", err)
	}
	if st, _ := f.s.State(); st.Pending != "" || !st.IsBad("r2") {
		t.Fatalf("after a failed check: %+v", st)
	}
}

// A poll that finds the running release still records the metadata
// versions it verified, so older metadata cannot be replayed afterwards.
func TestPollRecordsVersions(t *testing.T) {
	f := newFixture(t, nil) // r1 current, versions 1
	old := f.k.publish(t, f.r2, 3)
	fresh := f.k.publish(t, f.r1, 5)
	serve := func(dir string) *httptest.Server {
		return httptest.NewServer(http.FileServer(http.Dir(dir)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s5 := serve(fresh)
	defer s5.Close()
	if m, staged, err := f.s.Poll(ctx, s5.Client(), s5.URL, f.k.root); err != nil || staged || m.ID != "r1" {
		t.Fatalf("poll of the running release: %v staged=%v err=%v", m, staged, err)
	}
	if st, _ := f.s.State(); st.Versions.Timestamp != 5 || st.Versions.Targets != 5 {
		t.Fatalf("versions after the poll: %+v, want 5", st.Versions)
	}
	s3 := serve(old)
	defer s3.Close()
	if _, _, err := f.s.Poll(ctx, s3.Client(), s3.URL, f.k.root); !errors.Is(err, ErrRollback) {
		t.Fatalf("replayed version-3 metadata: %v, want ErrRollback", err)
	}
}

// A rotation of the timestamp and snapshot keys with versions restarted
// low, whose first install fails after the rotated root was stored (the
// state write fails): the retry is accepted, because the floors know the
// keys they were accepted under.
func TestRotationAfterFailedStateWrite(t *testing.T) {
	tmp := t.TempDir()
	keys := filepath.Join(tmp, "keys")
	exp := time.Now().Add(24 * time.Hour)
	if err := KeygenExpiring(keys, exp); err != nil {
		t.Fatal(err)
	}
	root, err := os.ReadFile(filepath.Join(keys, RootName))
	if err != nil {
		t.Fatal(err)
	}
	failState := false
	s, err := Open(filepath.Join(tmp, "store"), Options{Hook: func(st Step, name string) error {
		if failState && st == StepStatePending {
			return errors.New("injected: the state write fails")
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := newTestRelease("r1", seedsV1), newTestRelease("r2", seedsV2)
	b1 := filepath.Join(tmp, "b1")
	if err := BuildBundle(keys, *r1.m, r1.writeFiles(t, t.TempDir()), 1000, exp, b1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyBundle(b1, root); err != nil {
		t.Fatal(err)
	}
	if err := s.Activate(nil); err != nil {
		t.Fatal(err)
	}
	if err := RotateKeys(keys, exp, metadata.TIMESTAMP, metadata.SNAPSHOT); err != nil {
		t.Fatal(err)
	}
	b2 := filepath.Join(tmp, "b2")
	if err := BuildBundle(keys, *r2.m, r2.writeFiles(t, t.TempDir()), 3, exp, b2); err != nil {
		t.Fatal(err)
	}
	failState = true
	if _, err := s.ApplyBundle(b2, root); err == nil {
		t.Fatal("the injected state-write failure did not fail the install")
	}
	failState = false
	if _, err := s.ApplyBundle(b2, root); err != nil {
		t.Fatalf("retry after the failed state write: %v", err)
	}
	if st, _ := s.State(); st.Pending != "r2" || st.Versions.Timestamp != 3 {
		t.Fatalf("state after the retry: %+v", st)
	}
	// Old metadata, signed by the retired keys, stays refused.
	if _, err := s.ApplyBundle(b1, root); err == nil {
		t.Fatal("the bundle signed by the retired keys was accepted")
	}
}
