package serve

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// notifySocket is a fake systemd: a unixgram socket in a temporary
// directory, named by NOTIFY_SOCKET, collecting what the agent sends.
func notifySocket(t *testing.T) <-chan string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	msgs := make(chan string, 1024)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	return msgs
}

// TestRunSystemd: READY=1 once serving, WATCHDOG=1 at half of
// WATCHDOG_USEC, STOPPING=1 at shutdown; an in-flight stream finishes
// during the graceful shutdown.
func TestRunSystemd(t *testing.T) {
	msgs := notifySocket(t)
	t.Setenv("WATCHDOG_USEC", "100000") // 100 ms: pings every 50 ms
	t.Setenv("WATCHDOG_PID", "")
	e := newEnv(t, 5*time.Millisecond, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- e.srv.Run(ctx, RunOptions{Listener: ln, ShutdownTimeout: 5 * time.Second}) }()

	first := <-msgs
	if !strings.HasPrefix(first, "READY=1") || !strings.Contains(first, "STATUS=serving release r0") {
		t.Fatalf("first notification %q, want READY=1 with a status", first)
	}
	var pings []time.Time
	deadline := time.After(2 * time.Second)
	for len(pings) < 5 {
		select {
		case m := <-msgs:
			if m == "WATCHDOG=1" {
				pings = append(pings, time.Now())
			}
		case <-deadline:
			t.Fatalf("%d watchdog pings in 2 s", len(pings))
		}
	}
	for i := 1; i < len(pings); i++ {
		if d := pings[i].Sub(pings[i-1]); d > 90*time.Millisecond {
			t.Errorf("watchdog gap %v, want about 50 ms (half of 100 ms)", d)
		}
	}
	// A stream in flight when shutdown begins runs to its end.
	resp, err := http.Post("http://"+ln.Addr().String()+"/v1/completions", "application/json",
		strings.NewReader(`{"prompt":"x","max_tokens":40,"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	cancel()
	events, done := readSSE(t, resp.Body)
	resp.Body.Close()
	if !done || len(events) < 40 {
		t.Fatalf("stream cut by the graceful shutdown: %d events, [DONE] %v", len(events), done)
	}
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	sawStopping := false
	for len(msgs) > 0 {
		if m := <-msgs; m == "STOPPING=1" {
			sawStopping = true
		}
	}
	if !sawStopping {
		t.Fatal("no STOPPING=1")
	}
	if e.srv.Ready() {
		t.Fatal("ready after shutdown")
	}
}

// TestWatchdogStopsWhenNothingServes: with no release live the watchdog is
// not petted (systemd then restarts the agent).
func TestWatchdogStopsWhenNothingServes(t *testing.T) {
	s, _ := New(Config{Engine: newFakeEngine(0)})
	var got []string
	s.petWatchdog(func(m string) error { got = append(got, m); return nil })
	if len(got) != 0 {
		t.Fatalf("petted with nothing live: %v", got)
	}
	s.Start(context.Background(), Source{ID: "x", Path: "x"})
	defer s.Close(context.Background())
	s.petWatchdog(func(m string) error { got = append(got, m); return nil })
	if len(got) != 1 || got[0] != "WATCHDOG=1" {
		t.Fatalf("pings %v", got)
	}
}
