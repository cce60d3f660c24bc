package update

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

var errCrash = errors.New("simulated power cut")

// hookCall is one call of the step hook.
type hookCall struct {
	step Step
	name string
}

func (c hookCall) String() string { return fmt.Sprintf("%s(%s)", c.step, c.name) }

// updateToR2 is the whole update as the agent runs it: apply the bundle
// (components, manifest, state pending), begin an attempt, activate.
func updateToR2(s *Store, k *testKeys, bundle string) error {
	if _, err := s.ApplyBundle(bundle, k.root); err != nil {
		return err
	}
	if _, err := s.BeginAttempt(); err != nil {
		return err
	}
	return s.Activate(nil)
}

// TestPowerLossAtEveryStep cuts the power (MemFS.Crash: everything not yet
// fsynced is lost) before every step of an update, in turn, then restarts:
// Recover must leave the old release or the new one complete, every
// referenced file verifying, no temporary file, and the update must then
// go through when retried.
func TestPowerLossAtEveryStep(t *testing.T) {
	k := newTestKeys(t)
	r1, r2 := newTestRelease("r1", seedsV1), newTestRelease("r2", seedsV2)
	b1 := k.bundleOf(t, r1, 1, nil)
	// The update also rotates the targets key, so the device stores a new
	// trusted root on the way.
	if err := RotateKeys(k.dir, time.Now().Add(time.Hour), metadata.TARGETS); err != nil {
		t.Fatal(err)
	}
	b2 := k.bundleOf(t, r2, 2, nil)

	// A clean run records every step the update goes through.
	var trace []hookCall
	{
		mem := NewMemFS()
		activate(t, openTestStore(t, mem, "/store", nil), k, b1)
		s := openTestStore(t, mem, "/store", func(step Step, name string) error {
			trace = append(trace, hookCall{step, name})
			return nil
		})
		if err := updateToR2(s, k, b2); err != nil {
			t.Fatal(err)
		}
	}
	steps := map[Step]bool{}
	for _, c := range trace {
		steps[c.step] = true
	}
	for _, want := range []Step{StepWriteTemp, StepFsyncFile, StepRename, StepFsyncDir, StepVerify, StepRoot, StepRelease, StepStatePending, StepStateAttempt, StepStateCurrent} {
		if !steps[want] {
			t.Fatalf("step %s never reached; trace %v", want, trace)
		}
	}
	t.Logf("%d steps", len(trace))

	outcomes := map[string]int{}
	// Crash point i cuts the power just before trace[i]; the last one,
	// after the update returned.
	for i := 0; i <= len(trace); i++ {
		name := "after-update"
		if i < len(trace) {
			name = trace[i].String()
		}
		t.Run(fmt.Sprintf("%02d-%s", i, name), func(t *testing.T) {
			mem := NewMemFS()
			activate(t, openTestStore(t, mem, "/store", nil), k, b1)
			n := 0
			s := openTestStore(t, mem, "/store", func(Step, string) error {
				if n == i {
					mem.Crash()
					return errCrash
				}
				n++
				return nil
			})
			err := updateToR2(s, k, b2)
			if i == len(trace) {
				if err != nil {
					t.Fatal(err)
				}
				mem.Crash()
			} else if !errors.Is(err, errCrash) {
				t.Fatalf("update did not stop at the crash: %v", err)
			}
			// Restart.
			s = openTestStore(t, mem, "/store", nil)
			rep, err := s.Recover()
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Failed) > 0 {
				t.Fatalf("after recovery, referenced releases fail: %v", rep.Failed)
			}
			st, err := s.State()
			if err != nil {
				t.Fatal(err)
			}
			switch st.Current {
			case "r1":
				if st.Pending != "" && st.Pending != "r2" {
					t.Fatalf("pending %q", st.Pending)
				}
			case "r2":
				if st.Previous != "r1" || st.Pending != "" {
					t.Fatalf("state %+v", st)
				}
			default:
				t.Fatalf("current %q after crash, want r1 or r2", st.Current)
			}
			checkIntact(t, s, st.Current)
			outcomes[st.Current+"/"+st.Pending]++
			// Retrying finishes the update.
			if st.Current == "r1" {
				if st.Pending == "r2" {
					if _, err := s.Rollback(); err != nil {
						t.Fatal(err)
					}
				}
				if err := updateToR2(s, k, b2); err != nil {
					t.Fatalf("retry after crash: %v", err)
				}
			}
			checkIntact(t, s, "r2")
			if _, err := s.GC(); err != nil {
				t.Fatal(err)
			}
			checkIntact(t, s, "r2")
		})
	}
	// The crash points must cover both outcomes, or the test proves nothing.
	t.Logf("outcomes (current/pending): %v", outcomes)
	if outcomes["r1/"] == 0 || outcomes["r2/"] == 0 {
		t.Fatalf("crash points did not produce both old and new releases: %v", outcomes)
	}
}

// TestMemFSLosesUnsynced checks the model itself: data without fsync and
// names without a directory fsync do not survive Crash.
func TestMemFSLosesUnsynced(t *testing.T) {
	mem := NewMemFS()
	if err := mem.MkdirAll("/d", 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name, data string, syncFile bool) {
		f, err := mem.OpenFile(name, 0x41, 0o644) // O_WRONLY|O_CREATE
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte(data))
		if syncFile {
			f.Sync()
		}
		f.Close()
	}
	write("/d/synced", "a", true)
	write("/d/nodata", "b", false)
	mem.SyncDir("/d")
	write("/d/noname", "c", true)
	mem.Rename("/d/synced", "/d/renamed")
	mem.Crash()
	if b, err := mem.ReadFile("/d/synced"); err != nil || string(b) != "a" {
		t.Errorf("synced file after crash: %q %v (the rename was never made durable)", b, err)
	}
	if _, err := mem.ReadFile("/d/renamed"); err == nil {
		t.Error("rename survived without directory fsync")
	}
	if b, err := mem.ReadFile("/d/nodata"); err != nil || len(b) != 0 {
		t.Errorf("unsynced data survived: %q %v", b, err)
	}
	if _, err := mem.ReadFile("/d/noname"); err == nil {
		t.Error("new name survived without directory fsync")
	}
}

// TestPowerLossWithoutDirSync shows the crash test can fail: a writer that
// skips the directory fsync loses a published component.
func TestPowerLossWithoutDirSync(t *testing.T) {
	mem := NewMemFS()
	s := openTestStore(t, mem, "/store", nil)
	tr := newTestRelease("r1", seedsV1)
	c := tr.m.Slots["embed"]
	faults := NewFaultFS(mem, FaultRule{Op: OpSyncDir, Match: ObjectsDir, Err: errors.New("skipped")})
	s.fs = faults
	if err := s.AddComponent(bytesReader(tr.files[c.SHA256]), c); err == nil {
		t.Fatal("AddComponent ignored a failed directory fsync")
	}
	mem.Crash()
	s.fs = mem
	if err := s.verifyObject(c); err == nil {
		t.Fatal("component survived a crash without its directory fsync; MemFS models nothing")
	}
}

// TestStepErrorLeavesStore: an error (not a crash) at any step of
// ApplyBundle leaves the store as it was, except when the state file was
// already renamed into place, in which case the release is fully staged.
func TestStepErrorLeavesStore(t *testing.T) {
	k := newTestKeys(t)
	r1, r2 := newTestRelease("r1", seedsV1), newTestRelease("r2", seedsV2)
	b1, b2 := k.bundleOf(t, r1, 1, nil), k.bundleOf(t, r2, 2, nil)
	var trace []hookCall
	mem := NewMemFS()
	activate(t, openTestStore(t, mem, "/store", nil), k, b1)
	s := openTestStore(t, mem, "/store", func(step Step, name string) error {
		trace = append(trace, hookCall{step, name})
		return nil
	})
	if _, err := s.ApplyBundle(b2, k.root); err != nil {
		t.Fatal(err)
	}
	injected := errors.New("injected")
	for i := range trace {
		t.Run(fmt.Sprintf("%02d-%s", i, trace[i]), func(t *testing.T) {
			mem := NewMemFS()
			clean := openTestStore(t, mem, "/store", nil)
			activate(t, clean, k, b1)
			before := listing(t, clean)
			n := 0
			s := openTestStore(t, mem, "/store", func(Step, string) error {
				n++
				if n-1 == i {
					return injected
				}
				return nil
			})
			if _, err := s.ApplyBundle(b2, k.root); !errors.Is(err, injected) {
				t.Fatalf("got %v", err)
			}
			st, _ := s.State()
			if st.Pending == "r2" {
				if trace[i] != (hookCall{StepFsyncDir, StateName}) {
					t.Fatalf("r2 staged by a failure at %s", trace[i])
				}
				if err := s.VerifyRelease("r2"); err != nil {
					t.Fatal(err)
				}
			} else if after := listing(t, s); after != before {
				t.Fatalf("store changed:\n%s\n%s", before, after)
			}
			checkIntact(t, s, "r1")
		})
	}
}

func TestFaultFSNthCall(t *testing.T) {
	mem := NewMemFS()
	mem.MkdirAll("/d", 0o700)
	ff := NewFaultFS(mem, FaultRule{Op: OpWrite, N: 2, Match: "/d/", Err: syscall.ENOSPC})
	f, err := ff.OpenFile("/d/a", os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("1")); err != nil {
		t.Fatalf("first write: %v", err)
	}
	if _, err := f.Write([]byte("2")); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("second write: %v", err)
	}
	if _, err := f.Write([]byte("3")); err != nil {
		t.Fatalf("third write: %v", err)
	}
	if ff.Fired(0) != 3 {
		t.Fatalf("counted %d", ff.Fired(0))
	}
}
