package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeUpdateEndToEnd: keygen, bundle the shipped release, serve the
// same model from the command line, push the bundle with update (wrong
// token refused, right token and unix socket accepted), and shut down.
func TestServeUpdateEndToEnd(t *testing.T) {
	model, _ := filepath.Abs("../../testdata/mlp-tiny-release")
	if _, err := os.Stat(model); err != nil {
		t.Skip("shipped test model missing")
	}
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	var out, errb bytes.Buffer
	if code := run([]string{"keygen", "-o", keys}, &out, &errb); code != 0 {
		t.Fatalf("keygen: %d %s", code, errb.String())
	}
	bundle := filepath.Join(dir, "r.bwb")
	if code := run([]string{"bundle", "--keys", keys, "--model", model, "-o", bundle, "--version", "3", "--release", "mlp-r3"}, &out, &errb); code != 0 {
		t.Fatalf("bundle: %d %s", code, errb.String())
	}
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("0123456789abcdef0123\n"), 0o600)
	wrong := filepath.Join(dir, "wrong")
	os.WriteFile(wrong, []byte("fedcba98765432100000\n"), 0o600)
	sock := filepath.Join(dir, "admin.sock")
	addrc := make(chan string, 1)
	onListening = func(a string) { addrc <- a }
	defer func() { onListening = nil }()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var serveLog bytes.Buffer
	go func() {
		done <- serveMain(ctx, []string{"--model", model, "--listen", "127.0.0.1:0", "--state", filepath.Join(dir, "state"),
			"--trust", filepath.Join(keys, "root.json"), "--admin-token-file", token, "--admin-socket", sock, "--threads", "1",
			"--shutdown-timeout", "5s"}, &serveLog)
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("serve exited: %v\n%s", err, serveLog.String())
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not start")
	}
	url := "http://" + addr
	resp, err := http.Get(url + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	errb.Reset()
	if code := run([]string{"update", "--agent", url, "--token-file", wrong, bundle}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "401") {
		t.Fatalf("update with a wrong token: %d %s", code, errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"update", "--agent", url, "--token-file", token, bundle}, &out, &errb); code != 0 {
		t.Fatalf("update: %d %s\n%s", code, errb.String(), serveLog.String())
	}
	var res struct{ Release, Replaced string }
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Release != "mlp-r3" || !strings.HasPrefix(res.Replaced, "mlp-tiny-release-") {
		t.Fatalf("update result %s (%v)", out.String(), err)
	}
	// The same bundle through the admin socket: already current, accepted.
	errb.Reset()
	if code := run([]string{"update", "--agent", "unix://" + sock, bundle}, &out, &errb); code != 0 {
		t.Fatalf("update through the socket: %d %s", code, errb.String())
	}
	resp, err = http.Post(url+"/v1/classify", "application/json", strings.NewReader(`{"input":[`+strings.Repeat("0,", 783)+`0]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Barewire-Release") != "mlp-r3" {
		t.Fatalf("classify after update: %d release %q", resp.StatusCode, resp.Header.Get("X-Barewire-Release"))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, serveLog.String())
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("admin socket left behind: %v", err)
	}
}

func TestServeUsage(t *testing.T) {
	var out, errb bytes.Buffer
	for _, args := range [][]string{
		{"serve"}, {"serve", "--model", "a", "--models", "b"}, {"serve", "--model", "a", "extra"},
		{"serve", "--model", "a", "--trust", "root.json"},
		{"serve", "--model", "a", "--gpu-telemetry", "maybe"},
		{"serve", "--model", "a", "--kv", "int4"},
		{"serve", "--model", "a", "--kv", "f16", "--backend", "cuda"},
	} {
		errb.Reset()
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errb.String())
		}
		if args[len(args)-1] == "maybe" && !strings.Contains(errb.String(), `--gpu-telemetry "maybe" (want auto or off)`) {
			t.Errorf("--gpu-telemetry maybe: %s", errb.String())
		}
	}
	if code := run([]string{"serve", "--model", filepath.Join(t.TempDir(), "missing.bwm"), "--listen", "127.0.0.1:0"}, &out, &errb); code != 1 {
		t.Fatalf("missing model: exit %d", code)
	}
}

func TestPickModel(t *testing.T) {
	dir := t.TempDir()
	if _, err := pickModel(dir); err == nil {
		t.Fatal("empty directory accepted")
	}
	os.WriteFile(filepath.Join(dir, "a.bwm"), []byte("x"), 0o644)
	if p, err := pickModel(dir); err != nil || filepath.Base(p) != "a.bwm" {
		t.Fatalf("one model: %q %v", p, err)
	}
	os.WriteFile(filepath.Join(dir, "b.bwm"), []byte("x"), 0o644)
	if _, err := pickModel(dir); err == nil || !strings.Contains(err.Error(), "2 models") {
		t.Fatalf("two models: %v", err)
	}
}

// TestSystemdUnit keeps the example unit in step with the command: the
// hardening and notify settings are there, and serve accepts every flag
// of its ExecStart.
func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile("../../examples/systemd/edge-agent.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(data)
	for _, want := range []string{"Type=notify", "WatchdogSec=", "Restart=on-failure", "ProtectSystem=strict",
		"ReadWritePaths=/var/lib/edge-agent", "NoNewPrivileges=yes", "PrivateTmp=yes", "MemoryDenyWriteExecute=yes"} {
		if !strings.Contains(unit, "\n"+want) {
			t.Errorf("unit lacks %s", want)
		}
	}
	i := strings.Index(unit, "ExecStart=")
	line := unit[i+len("ExecStart="):]
	var args []string
	for _, l := range strings.Split(line, "\n") {
		l = strings.TrimSpace(l)
		cont := strings.HasSuffix(l, "\\")
		args = append(args, strings.Fields(strings.TrimSuffix(l, "\\"))...)
		if !cont {
			break
		}
	}
	if len(args) < 2 || args[1] != "serve" {
		t.Fatalf("ExecStart %v", args)
	}
	// Parse only: the model path does not exist here, so serve fails after
	// the flags, on opening the state directory or the model.
	var errb bytes.Buffer
	err = serveMain(context.Background(), append(args[2:], "--listen", "127.0.0.1:0"), &errb)
	if err == nil || strings.Contains(err.Error(), "usage") || strings.Contains(errb.String(), "flag provided but not defined") {
		t.Fatalf("ExecStart flags: %v %s", err, errb.String())
	}
}
