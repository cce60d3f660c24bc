package update

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
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
