package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUpdateCommand(t *testing.T) {
	var gotAuth, gotBody string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		if r.URL.Path != "/admin/v1/updates" || r.Method != "POST" {
			w.WriteHeader(404)
			return
		}
		if strings.Contains(gotBody, "bad") {
			w.WriteHeader(422)
			w.Write([]byte(`{"error":{"message":"signature not trusted","type":"invalid_bundle"}}`))
			return
		}
		w.Write([]byte(`{"release":"r2"}` + "\n"))
	}))
	defer ts.Close()
	dir := t.TempDir()
	tok := filepath.Join(dir, "tok")
	os.WriteFile(tok, []byte(" abcdefghijklmnopq \n"), 0o600)
	good, bad := filepath.Join(dir, "good.bwb"), filepath.Join(dir, "bad.bwb")
	os.WriteFile(good, []byte("bundle bytes"), 0o644)
	os.WriteFile(bad, []byte("bad bytes"), 0o644)
	var out, errb bytes.Buffer
	if code := run([]string{"update", "--agent", ts.URL, "--token-file", tok, good}, &out, &errb); code != 0 {
		t.Fatalf("update: %d %s", code, errb.String())
	}
	if gotAuth != "Bearer abcdefghijklmnopq" || gotBody != "bundle bytes" || !strings.Contains(out.String(), "r2") {
		t.Fatalf("sent auth %q body %q; printed %q", gotAuth, gotBody, out.String())
	}
	if code := run([]string{"update", "--agent", ts.URL, bad}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "signature not trusted") {
		t.Fatalf("refused update: %d %s", code, errb.String())
	}
	for _, args := range [][]string{{"update", good}, {"update", "--agent", "ftp://x", good}, {"update", "--agent", ts.URL}} {
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
