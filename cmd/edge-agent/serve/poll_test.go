package serve

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/speakez/barewire/update"
)

// publish signs release id into a static repository directory, as a
// release pipeline would for devices that poll.
func (f *fixture) publish(id string, slots map[string]string, size int, dir string, keysDir string) map[string]string {
	f.t.Helper()
	m, files, keys, v := f.release(id, slots, size)
	if err := update.PublishDir(keysDir, m, files, v, time.Now().Add(time.Hour), dir); err != nil {
		f.t.Fatal(err)
	}
	return keys
}

// The agent polls a plain static file server, swaps in the release it
// finds, serves it, and refuses a repository signed by keys it does not
// trust while the running release keeps serving.
func TestPollSwapsInRelease(t *testing.T) {
	e := newEnv(t, 0, nil)
	repo := t.TempDir()
	web := httptest.NewServer(http.FileServer(http.Dir(repo)))
	defer web.Close()
	ctx := context.Background()

	keys := e.fx.publish("p1", releaseSlots(1), 32<<10, repo, e.fx.keys)
	e.mu.Lock()
	e.expect["p1"] = keys
	e.mu.Unlock()
	id, swapped, err := e.srv.Poll(ctx, web.Client(), web.URL)
	if err != nil || !swapped || id != "p1" {
		t.Fatalf("poll: %q swapped=%v err=%v", id, swapped, err)
	}
	if cur := e.srv.Live().Current(); cur != "p1" {
		t.Fatalf("serving %q after the poll, want p1", cur)
	}
	resp, body := e.do("POST", "/v1/completions", `{"prompt":"x","max_tokens":4}`, "Content-Type", "application/json")
	var c completion
	if err := json.Unmarshal(body, &c); err != nil || resp.StatusCode != 200 {
		t.Fatalf("completion: %d %s", resp.StatusCode, body)
	}
	if err := e.checkResponse(c.SystemFingerprint, resp.Header.Get("X-Barewire-Release"), c.Choices[0].Text); err != nil || c.SystemFingerprint != "p1" {
		t.Fatalf("after the poll: %v (release %q)", err, c.SystemFingerprint)
	}
	// Nothing new: the next poll changes nothing.
	if id, swapped, err := e.srv.Poll(ctx, web.Client(), web.URL); err != nil || swapped || id != "p1" {
		t.Fatalf("second poll: %q swapped=%v err=%v", id, swapped, err)
	}
	// A repository signed by other keys is refused; p1 keeps serving.
	other := filepath.Join(t.TempDir(), "keys")
	if err := update.Keygen(other); err != nil {
		t.Fatal(err)
	}
	evil := t.TempDir()
	e.fx.publish("evil", releaseSlots(2), 32<<10, evil, other)
	web2 := httptest.NewServer(http.FileServer(http.Dir(evil)))
	defer web2.Close()
	if _, swapped, err := e.srv.Poll(ctx, web2.Client(), web2.URL); err == nil || swapped {
		t.Fatalf("untrusted repository accepted: swapped=%v err=%v", swapped, err)
	}
	if cur := e.srv.Live().Current(); cur != "p1" {
		t.Fatalf("serving %q after a refused poll, want p1", cur)
	}
}
