package update

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// publish writes tr's repository at version v into a fresh directory.
func (k *testKeys) publish(t *testing.T, tr *testRelease, v int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := PublishDir(k.dir, *tr.m, tr.writeFiles(t, t.TempDir()), v, time.Now().Add(time.Hour), dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPoll(t *testing.T) {
	f := newFixture(t, nil)
	repo := f.k.publish(t, f.r2, 2)
	var requests []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests = append(requests, r.URL.Path)
		http.FileServer(http.Dir(repo)).ServeHTTP(w, r)
	}))
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server not on loopback: %s", srv.URL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, staged, err := f.s.Poll(ctx, srv.Client(), srv.URL, f.k.root)
	if err != nil || !staged || m.ID != "r2" {
		t.Fatalf("poll: %v staged=%v err=%v", m, staged, err)
	}
	// Only the changed component is downloaded.
	objs := 0
	for _, p := range requests {
		if strings.HasPrefix(p, "/"+objectPrefix) {
			objs++
		}
	}
	if objs != 1 {
		t.Fatalf("downloaded %d components, want 1: %v", objs, requests)
	}
	if _, staged, err = f.s.Poll(ctx, srv.Client(), srv.URL, f.k.root); err != nil || staged {
		t.Fatalf("second poll: staged=%v err=%v", staged, err)
	}
	if _, err := f.s.BeginAttempt(); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Activate(nil); err != nil {
		t.Fatal(err)
	}
	checkIntact(t, f.s, "r2")
}

// endless serves an unending body for every component.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'B'
	}
	return len(p), nil
}

func TestPollHostileServer(t *testing.T) {
	f := newFixture(t, nil)
	// Accepted versions move to 3 (r2 applied, then rolled back; r1 runs).
	if _, err := f.s.ApplyBundle(f.k.bundleOf(t, f.r2, 3, nil), f.k.root); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.GC(); err != nil {
		t.Fatal(err)
	}
	repo := f.k.publish(t, f.r2, 4)
	oldRepo := f.k.publish(t, f.r2, 2)
	other := newTestKeys(t)
	otherRepo := other.publish(t, f.r2, 5)
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    error
	}{
		{"endless component", func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/"+objectPrefix) {
				w.WriteHeader(200)
				buf := make([]byte, 32<<10)
				e := endless{}
				for i := 0; i < 1024; i++ { // 32 MiB at most, the client must stop long before
					e.Read(buf)
					if _, err := w.Write(buf); err != nil {
						return
					}
				}
				return
			}
			http.FileServer(http.Dir(repo)).ServeHTTP(w, r)
		}, ErrLength},
		{"endless timestamp", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			buf := make([]byte, 32<<10)
			for i := 0; i < 64; i++ {
				if _, err := w.Write(buf); err != nil {
					return
				}
			}
		}, ErrLength},
		{"old metadata", func(w http.ResponseWriter, r *http.Request) {
			http.FileServer(http.Dir(oldRepo)).ServeHTTP(w, r)
		}, ErrRollback},
		{"metadata from another repository", func(w http.ResponseWriter, r *http.Request) {
			http.FileServer(http.Dir(otherRepo)).ServeHTTP(w, r)
		}, ErrSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			before := listing(t, f.s)
			_, _, err := f.s.Poll(ctx, srv.Client(), srv.URL, f.k.root)
			if !errors.Is(err, tc.want) {
				t.Fatalf("poll: %v, want %v", err, tc.want)
			}
			if after := listing(t, f.s); after != before {
				t.Fatalf("store changed:\n%s\n%s", before, after)
			}
			checkIntact(t, f.s, "r1")
		})
	}
}
