package update

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environment of the child process in TestKillAtEveryStep.
const (
	crashEnv       = "BAREWIRE_UPDATE_CRASH_AT" // step name at which the child kills itself
	crashDirEnv    = "BAREWIRE_UPDATE_DIR"      // store directory
	crashBundleEnv = "BAREWIRE_UPDATE_BUNDLE"   // bundle to apply
	crashRootEnv   = "BAREWIRE_UPDATE_ROOT"     // trusted root.json
)

// TestUpdateChild is the child side of TestKillAtEveryStep; it does
// nothing unless started by it.
func TestUpdateChild(t *testing.T) {
	at := os.Getenv(crashEnv)
	if at == "" {
		t.Skip("runs only as the child of TestKillAtEveryStep")
	}
	root, err := os.ReadFile(os.Getenv(crashRootEnv))
	if err != nil {
		t.Fatal(err)
	}
	// "<step>" dies at the step's first occurrence, "<step>#<n>" at its n-th.
	want, nth := at, 1
	if i := strings.LastIndexByte(at, '#'); i >= 0 {
		want = at[:i]
		if nth, err = strconv.Atoi(at[i+1:]); err != nil {
			t.Fatalf("%s=%q: %v", crashEnv, at, err)
		}
	}
	seen := 0
	s, err := Open(os.Getenv(crashDirEnv), Options{Verify: verifierFor(OSFS{}), Hook: func(step Step, _ string) error {
		if string(step) != want {
			return nil
		}
		if seen++; seen == nth {
			// kill -9: no deferred calls, no buffered writes flushed.
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := updateToR2(s, &testKeys{root: root}, os.Getenv(crashBundleEnv)); err != nil {
		t.Fatal(err)
	}
}

// TestKillAtEveryStep runs the update in a child process that kills itself
// with SIGKILL at each named step in turn, on a real directory, then
// recovers in this process and checks that the old or the new release is
// complete, every referenced file verifies and no temporary file is left.
func TestKillAtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	k := newTestKeys(t)
	r1, r2 := newTestRelease("r1", seedsV1), newTestRelease("r2", seedsV2)
	b1, b2 := k.bundleOf(t, r1, 1, nil), k.bundleOf(t, r2, 2, nil)
	rootPath := filepath.Join(k.dir, RootName)
	// Record the steps of a clean run on a real directory, then kill the
	// child at each of them in turn.
	var points []string
	{
		dir := filepath.Join(t.TempDir(), "store")
		activate(t, openTestStore(t, nil, dir, nil), k, b1)
		count := map[Step]int{}
		s := openTestStore(t, nil, dir, func(step Step, _ string) error {
			count[step]++
			points = append(points, fmt.Sprintf("%s#%d", step, count[step]))
			return nil
		})
		if err := updateToR2(s, k, b2); err != nil {
			t.Fatal(err)
		}
	}
	currents := map[string]int{}
	for _, step := range points {
		t.Run(step, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			activate(t, openTestStore(t, nil, dir, nil), k, b1)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestUpdateChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashEnv+"="+step, crashDirEnv+"="+dir, crashBundleEnv+"="+b2, crashRootEnv+"="+rootPath)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("child did not die: %v\n%s", err, out)
			}
			if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child ended with %v, not SIGKILL at %s\n%s", err, step, out)
			}
			s := openTestStore(t, nil, dir, nil)
			rep, err := s.Recover()
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Failed) > 0 {
				t.Fatalf("referenced releases fail after recovery: %v", rep.Failed)
			}
			st, err := s.State()
			if err != nil {
				t.Fatal(err)
			}
			if st.Current != "r1" && st.Current != "r2" {
				t.Fatalf("current %q", st.Current)
			}
			checkIntact(t, s, st.Current)
			currents[st.Current]++
			t.Logf("killed at %s: current %q pending %q, %d temporaries removed", step, st.Current, st.Pending, len(rep.TempsRemoved))
		})
	}
	if currents["r1"] == 0 || currents["r2"] == 0 {
		t.Fatalf("kill points did not produce both the old and the new release: %v", currents)
	}
}
