package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func init() {
	register(command{name: "update", summary: "push a signed update bundle to a running agent", run: runUpdate})
}

const updateUsage = `usage: edge-agent update --agent URL [--token-file F] BUNDLE

Posts BUNDLE to the agent's POST /admin/v1/updates and prints the result.
URL is http://HOST:PORT (the token from --token-file is sent) or
unix:///path/to/admin.sock (the agent's --admin-socket; no token needed).
The agent verifies the bundle, maps and tests the new release, and swaps
it in without stopping; on any failure the running release stays.`

func runUpdate(args []string, stdout, stderr io.Writer) (err error) {
	defer noPanic(&err)
	fs := flag.NewFlagSet("update", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, updateUsage) }
	agent := fs.String("agent", "", "agent URL: http://HOST:PORT or unix:///path/to/admin.sock")
	tokenFile := fs.String("token-file", "", "file holding the admin token")
	timeout := fs.Duration("timeout", 15*time.Minute, "give up after this long")
	path, err := parseModelArgs(fs, args)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, updateUsage)
	}
	if *agent == "" {
		return fmt.Errorf("%w: --agent is required\n%s", errUsage, updateUsage)
	}
	client := &http.Client{Timeout: *timeout}
	base := strings.TrimSuffix(*agent, "/")
	if sock, ok := strings.CutPrefix(base, "unix://"); ok {
		client.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}
		base = "http://admin-socket"
	} else if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return fmt.Errorf("%w: --agent %q: want http://, https:// or unix://", errUsage, *agent)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	req, err := http.NewRequest("POST", base+"/admin/v1/updates", f)
	if err != nil {
		return err
	}
	req.ContentLength = st.Size()
	req.Header.Set("Content-Type", "application/octet-stream")
	if *tokenFile != "" {
		tok, err := readToken(*tokenFile)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+string(tok))
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Message, Type string } `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("agent answered %d (%s): %s", resp.StatusCode, e.Error.Type, e.Error.Message)
		}
		return fmt.Errorf("agent answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	stdout.Write(body)
	return nil
}
