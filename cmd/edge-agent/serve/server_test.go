package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

type env struct {
	t   testing.TB
	srv *Server
	eng *fakeEngine
	fx  *fixture
	ts  *httptest.Server
	// expect[release][slot] is the component key a release must read.
	mu     sync.Mutex
	expect map[string]map[string]string
}

const testToken = "s3cret-admin-token"

// newEnv starts a server over the fake engine with release r0 (one slot,
// from a path) live, a store for updates, and the admin token set.
func newEnv(t testing.TB, tokenTime time.Duration, mod func(*Config)) *env {
	t.Helper()
	e := &env{t: t, eng: newFakeEngine(tokenTime), fx: newFixture(t), expect: map[string]map[string]string{}}
	cfg := Config{Engine: e.eng, Store: e.fx.store, TrustedRoot: e.fx.root, AdminToken: []byte(testToken),
		DrainTimeout: 2 * time.Second, Concurrency: 16, QueueLimit: 64}
	if mod != nil {
		mod(&cfg)
	}
	var err error
	if e.srv, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Start(context.Background(), Source{ID: "r0", Path: "/models/r0"}); err != nil {
		t.Fatal(err)
	}
	e.expect["r0"] = map[string]string{"model": "path:/models/r0"}
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(func() {
		e.ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.srv.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
		if n := e.eng.open.Load(); n != 0 {
			t.Errorf("%d components still open after Close", n)
		}
		if n := e.eng.useAfter.Load(); n != 0 {
			t.Errorf("%d reads of closed components", n)
		}
	})
	return e
}

func (e *env) do(method, path, body string, hdr ...string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// update applies release id through the admin API and records what its
// responses must read.
func (e *env) update(id string, slots map[string]string) (*http.Response, []byte) {
	e.t.Helper()
	path, keys := e.fx.bundle(id, slots, 64<<10)
	data, err := readFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	e.expect[id] = keys
	e.mu.Unlock()
	return e.do("POST", "/admin/v1/updates", string(data), "Authorization", "Bearer "+testToken)
}

// checkResponse verifies that a completion response read only components
// of the release it names.
func (e *env) checkResponse(fingerprint, header, text string) error {
	if fingerprint != header {
		return errorf("system_fingerprint %q, header X-Barewire-Release %q", fingerprint, header)
	}
	got, err := parseTokens(text)
	if err != nil {
		return errorf("release %s: %v", fingerprint, err)
	}
	e.mu.Lock()
	want, ok := e.expect[fingerprint]
	e.mu.Unlock()
	if !ok {
		return errorf("response from unknown release %q", fingerprint)
	}
	for slot, key := range got {
		if want[slot] != key {
			return errorf("mixed releases: response of %s read slot %s as %s, want %s", fingerprint, slot, key, want[slot])
		}
	}
	return nil
}

type completion struct {
	ID                string `json:"id"`
	Object            string `json:"object"`
	SystemFingerprint string `json:"system_fingerprint"`
	Choices           []struct {
		Text         string `json:"text"`
		FinishReason string `json:"finish_reason"`
		Message      struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		Delta struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"delta"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

type apiError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
	} `json:"error"`
}

func TestCompletion(t *testing.T) {
	e := newEnv(t, 0, nil)
	resp, body := e.do("POST", "/v1/completions", `{"model":"barewire","prompt":"hello","max_tokens":3,"temperature":0}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var c completion
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	if c.Object != "text_completion" || !strings.HasPrefix(c.ID, "cmpl-") || len(c.Choices) != 1 {
		t.Fatalf("shape: %s", body)
	}
	if c.Choices[0].Text != "model=path:/models/r0;model=path:/models/r0;model=path:/models/r0;" || c.Choices[0].FinishReason != "length" {
		t.Fatalf("choice: %s", body)
	}
	if c.Usage == nil || c.Usage.CompletionTokens != 3 || c.Usage.TotalTokens != c.Usage.PromptTokens+3 {
		t.Fatalf("usage: %s", body)
	}
	if err := e.checkResponse(c.SystemFingerprint, resp.Header.Get("X-Barewire-Release"), c.Choices[0].Text); err != nil {
		t.Fatal(err)
	}
}

func TestChat(t *testing.T) {
	e := newEnv(t, 0, nil)
	resp, body := e.do("POST", "/v1/chat/completions", `{"model":"barewire","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_completion_tokens":2}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var c completion
	json.Unmarshal(body, &c)
	if c.Object != "chat.completion" || c.Choices[0].Message.Role != "assistant" || c.Choices[0].Message.Content == "" || c.SystemFingerprint != "r0" {
		t.Fatalf("chat response: %s", body)
	}
}

// readSSE reads server-sent events until [DONE] or the end, returning the
// data payloads (without [DONE]) and whether [DONE] came.
func readSSE(t testing.TB, r io.Reader) ([]string, bool) {
	t.Helper()
	sc := bufio.NewScanner(r)
	var out []string
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("SSE line without data: %q", line)
		}
		if data == "[DONE]" {
			return out, true
		}
		out = append(out, data)
	}
	return out, false
}

func TestStreaming(t *testing.T) {
	e := newEnv(t, 0, nil)
	for _, tc := range []struct{ path, body, object string }{
		{"/v1/completions", `{"prompt":"x","max_tokens":4,"stream":true,"stream_options":{"include_usage":true}}`, "text_completion"},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"max_tokens":4,"stream":true,"stream_options":{"include_usage":true}}`, "chat.completion.chunk"},
	} {
		resp, err := http.Post(e.ts.URL+tc.path, "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("%s: content type %q", tc.path, ct)
		}
		events, done := readSSE(t, resp.Body)
		resp.Body.Close()
		if !done {
			t.Fatalf("%s: no [DONE]", tc.path)
		}
		var text strings.Builder
		var finish string
		var sawUsage bool
		for i, ev := range events {
			var c completion
			if err := json.Unmarshal([]byte(ev), &c); err != nil {
				t.Fatalf("%s: event %q: %v", tc.path, ev, err)
			}
			if c.Object != tc.object || c.SystemFingerprint != "r0" {
				t.Fatalf("%s: event %s", tc.path, ev)
			}
			if c.Usage != nil {
				sawUsage = c.Usage.CompletionTokens == 4 && i == len(events)-1
				continue
			}
			ch := c.Choices[0]
			if tc.object == "chat.completion.chunk" && i == 0 && ch.Delta.Role != "assistant" {
				t.Fatalf("first chat chunk has no role: %s", ev)
			}
			text.WriteString(ch.Text + ch.Delta.Content)
			if ch.FinishReason != "" {
				finish = ch.FinishReason
			}
		}
		if strings.Count(text.String(), ";") != 4 || finish != "length" || !sawUsage {
			t.Fatalf("%s: text %q finish %q usage %v", tc.path, text.String(), finish, sawUsage)
		}
		if err := e.checkResponse("r0", resp.Header.Get("X-Barewire-Release"), text.String()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRequestErrors(t *testing.T) {
	e := newEnv(t, 0, func(c *Config) { c.MaxBodyBytes = 4096 })
	big := `{"prompt":"` + strings.Repeat("a", 5000) + `"}`
	for _, tc := range []struct {
		name, method, path, body, ctype string
		status                          int
		param, inMessage                string
	}{
		{"truncated", "POST", "/v1/completions", `{"prompt": "x",`, "", 400, "", "truncated"},
		{"malformed", "POST", "/v1/completions", `{"prompt": "x",,}`, "", 400, "", "not valid JSON"},
		{"not object", "POST", "/v1/completions", `[1,2]`, "", 400, "", "JSON object"},
		{"empty", "POST", "/v1/completions", ``, "", 400, "", "empty"},
		{"prompt type", "POST", "/v1/completions", `{"prompt": 5}`, "", 400, "prompt", "prompt"},
		{"no prompt", "POST", "/v1/completions", `{"max_tokens": 5}`, "", 400, "prompt", "required"},
		{"max_tokens type", "POST", "/v1/completions", `{"prompt":"x","max_tokens":"many"}`, "", 400, "max_tokens", "max_tokens"},
		{"max_tokens range", "POST", "/v1/completions", `{"prompt":"x","max_tokens":100000}`, "", 400, "max_tokens", "out of range"},
		{"temperature", "POST", "/v1/completions", `{"prompt":"x","temperature":9}`, "", 400, "temperature", "temperature"},
		{"n", "POST", "/v1/completions", `{"prompt":"x","n":3}`, "", 400, "n", "n=1"},
		{"trailing", "POST", "/v1/completions", `{"prompt":"x"} {}`, "", 400, "", "after"},
		{"unknown model", "POST", "/v1/completions", `{"model":"gpt-9","prompt":"x"}`, "", 404, "model", "gpt-9"},
		{"too large", "POST", "/v1/completions", big, "", 413, "", "limit"},
		{"content type", "POST", "/v1/completions", `{"prompt":"x"}`, "text/plain", 415, "", "Content-Type"},
		{"chat role", "POST", "/v1/chat/completions", `{"messages":[{"role":"wizard","content":"x"}]}`, "", 400, "messages[0].role", "wizard"},
		{"chat content", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":{"a":1}}]}`, "", 400, "messages", "content"},
		{"chat no messages", "POST", "/v1/chat/completions", `{"messages":[]}`, "", 400, "messages", "at least one"},
		{"classify input", "POST", "/v1/classify", `{"input":"pixels"}`, "", 400, "input", "input"},
		{"classify nan", "POST", "/v1/classify", `{"input":[[1,2],[]]}`, "", 400, "input[1]", "empty"},
		{"classify engine", "POST", "/v1/classify", `{"input":[1,2,3,4,5,6,7]}`, "", 400, "", "seven"},
		{"method", "GET", "/v1/completions", ``, "", 405, "", "POST"},
		{"no route", "GET", "/v2/nothing", ``, "", 404, "", "no endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := []string{}
			if tc.ctype != "" {
				hdr = []string{"Content-Type", tc.ctype}
			}
			resp, body := e.do(tc.method, tc.path, tc.body, hdr...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("content type %q", ct)
			}
			var ae apiError
			if err := json.Unmarshal(body, &ae); err != nil || ae.Error.Message == "" || ae.Error.Type == "" {
				t.Fatalf("not an error object: %s", body)
			}
			if !strings.Contains(ae.Error.Message, tc.inMessage) {
				t.Fatalf("message %q does not mention %q", ae.Error.Message, tc.inMessage)
			}
			if tc.param != "" && (ae.Error.Param == nil || *ae.Error.Param != tc.param) {
				t.Fatalf("param %v, want %q (%s)", ae.Error.Param, tc.param, body)
			}
		})
	}
}

func TestClassifyModelsHealth(t *testing.T) {
	e := newEnv(t, 0, nil)
	resp, body := e.do("POST", "/v1/classify", `{"input":[[1,2,3],[4,5,6]]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("classify %d: %s", resp.StatusCode, body)
	}
	var cr struct {
		SystemFingerprint string `json:"system_fingerprint"`
		Data              []struct {
			Index  int       `json:"index"`
			Label  int       `json:"label"`
			Scores []float32 `json:"scores"`
		} `json:"data"`
	}
	json.Unmarshal(body, &cr)
	if len(cr.Data) != 2 || cr.Data[1].Index != 1 || len(cr.Data[0].Scores) != 3 || cr.SystemFingerprint != "r0" {
		t.Fatalf("classify: %s", body)
	}
	resp, body = e.do("GET", "/v1/models", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"id":"barewire"`) || !strings.Contains(string(body), `"release":"r0"`) {
		t.Fatalf("models %d: %s", resp.StatusCode, body)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if resp, body := e.do("GET", p, ""); resp.StatusCode != 200 {
			t.Fatalf("%s %d: %s", p, resp.StatusCode, body)
		}
	}
	e.srv.SetStopping()
	if resp, _ := e.do("GET", "/readyz", ""); resp.StatusCode != 503 {
		t.Fatalf("readyz while stopping: %d", resp.StatusCode)
	}
	resp, body = e.do("GET", "/metrics", "")
	for _, name := range []string{
		`barewire_requests_total{code="200",endpoint="classify"} 1`,
		"barewire_request_duration_seconds_bucket", "barewire_tokens_generated_total",
		"barewire_swaps_total 1", "barewire_rollbacks_total 0", `barewire_mappings{state="current"} 1`,
		`barewire_mappings{state="draining"} 0`, "barewire_drain_alarm 0", `barewire_release_info{release="r0"} 1`,
	} {
		if !strings.Contains(string(body), name) {
			t.Errorf("metrics lack %q", name)
		}
	}
}

// TestQueueLimit: with one worker and a queue of one, a third concurrent
// request is refused with 429 while the first two are served.
func TestQueueLimit(t *testing.T) {
	e := newEnv(t, 20*time.Millisecond, func(c *Config) { c.Concurrency = 1; c.QueueLimit = 1 })
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := e.do("POST", "/v1/completions", `{"prompt":"x","max_tokens":10}`)
			codes <- resp.StatusCode
		}()
		time.Sleep(30 * time.Millisecond) // the first runs, the second queues
	}
	resp, body := e.do("POST", "/v1/completions", `{"prompt":"x","max_tokens":1}`)
	if resp.StatusCode != 429 || !strings.Contains(string(body), "rate_limit_error") {
		t.Fatalf("third request: %d %s", resp.StatusCode, body)
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Fatalf("queued request got %d", c)
		}
	}
}

// TestClientDisconnectCancels: closing the connection mid-stream stops the
// generation (the worker slot frees long before max_tokens are made).
func TestClientDisconnectCancels(t *testing.T) {
	e := newEnv(t, 5*time.Millisecond, nil)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", e.ts.URL+"/v1/completions", strings.NewReader(`{"prompt":"x","max_tokens":2000,"stream":true}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(3 * time.Second)
	for len(e.srv.slots) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("generation still running 3 s after the client went away")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, body := e.do("GET", "/metrics", "")
	if !strings.Contains(string(body), `barewire_requests_total{code="499",endpoint="completions"} 1`) {
		t.Fatalf("disconnect not counted as 499:\n%s", grepLines(string(body), "barewire_requests_total"))
	}
	if n := metricValue(string(body), "barewire_tokens_generated_total"); n >= 2000 || n < 1 {
		t.Fatalf("%v tokens generated for a client that left after the first", n)
	}
}

// TestStalledReaderReleasesSlot: a client that keeps its connection but
// stops reading a stream loses it once a write waits StreamWriteTimeout;
// its slot is then free for others.
func TestStalledReaderReleasesSlot(t *testing.T) {
	e := newEnv(t, 0, func(c *Config) {
		c.Concurrency, c.QueueLimit, c.QueueTimeout = 1, 1, 10*time.Second
		c.StreamWriteTimeout = 100 * time.Millisecond
		c.Limits.MaxTokens = 1 << 30
	})
	conn, err := net.Dial("tcp", e.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096) // fill the path quickly
	}
	body := `{"prompt":"x","max_tokens":1000000000,"stream":true}`
	fmt.Fprintf(conn, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	// Never read. The next request waits for the slot, which the stalled
	// stream frees after its write deadline.
	deadline := time.Now().Add(5 * time.Second)
	for len(e.srv.slots) == 0 { // the stream has started
		if time.Now().After(deadline) {
			t.Fatal("the streamed request never started")
		}
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	resp, rbody := e.do("POST", "/v1/completions", `{"prompt":"x","max_tokens":2}`)
	if resp.StatusCode != 200 {
		t.Fatalf("request after a stalled stream: %d %s", resp.StatusCode, rbody)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("waited %v for the slot", waited)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func metricValue(body, name string) float64 {
	for _, l := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(l, name+" "); ok {
			var v float64
			json.Unmarshal([]byte(rest), &v)
			return v
		}
	}
	return -1
}

func TestAdminAuth(t *testing.T) {
	e := newEnv(t, 0, nil)
	for _, tc := range []struct {
		name, auth string
		status     int
	}{
		{"no token", "", 401}, {"wrong token", "Bearer nope", 401}, {"basic", "Basic " + testToken, 401},
		{"prefix of token", "Bearer " + testToken[:5], 401}, {"right token", "Bearer " + testToken, 200},
	} {
		resp, body := e.do("GET", "/admin/v1/status", "", "Authorization", tc.auth)
		if resp.StatusCode != tc.status {
			t.Fatalf("%s: %d %s", tc.name, resp.StatusCode, body)
		}
		if tc.status == 200 {
			var st Status
			if err := json.Unmarshal(body, &st); err != nil || st.Current != "r0" || !st.Ready {
				t.Fatalf("status: %s", body)
			}
		}
	}
	// No token configured: the TCP handler refuses admin calls outright;
	// the admin handler (unix socket) serves them.
	noTok, err := New(Config{Engine: newFakeEngine(0)})
	if err != nil {
		t.Fatal(err)
	}
	noTok.Start(context.Background(), Source{ID: "x", Path: "x"})
	defer noTok.Close(context.Background())
	rec := httptest.NewRecorder()
	noTok.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/admin/v1/status", nil))
	if rec.Code != 403 {
		t.Fatalf("admin without a configured token: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	noTok.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/admin/v1/status", nil))
	if rec.Code != 200 {
		t.Fatalf("admin handler: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	noTok.AdminHandler().ServeHTTP(rec, httptest.NewRequest("POST", "/admin/v1/updates", bytes.NewReader([]byte("x"))))
	if rec.Code != 501 {
		t.Fatalf("update without a store: %d %s", rec.Code, rec.Body)
	}
}
