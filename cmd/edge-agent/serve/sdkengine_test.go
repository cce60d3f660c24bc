package serve

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/speakez/barewire/sdk"
	"github.com/speakez/barewire/update"
)

// TestSDKClassifierSwap serves the shipped tiny MLP release with the real
// sdk engine, then pushes the same model as a signed bundle through a
// store that verifies every file: classification answers stay identical,
// the response names the new release, and the files mapped move from the
// command-line directory to the store's.
func TestSDKClassifierSwap(t *testing.T) {
	model, err := filepath.Abs("../../../testdata/mlp-tiny-release")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(model); err != nil {
		t.Skip("shipped test model missing:", err)
	}
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if err := update.Keygen(keys); err != nil {
		t.Fatal(err)
	}
	root, _ := os.ReadFile(filepath.Join(keys, update.RootName))
	store, err := update.Open(filepath.Join(dir, "state"), update.Options{Verify: VerifyFile, Shapes: ComponentTensors})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Engine: &SDKEngine{Options: []sdk.Option{sdk.WithThreads(1)}}, Store: store, TrustedRoot: root, DrainTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background(), Source{ID: "cmdline", Path: model}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	h := srv.AdminHandler()
	classify := func() (string, string) {
		rec := httptest.NewRecorder()
		in, _ := json.Marshal(map[string]any{"input": make([]float32, 784)})
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/classify", strings.NewReader(string(in))))
		if rec.Code != 200 {
			t.Fatalf("classify: %d %s", rec.Code, rec.Body)
		}
		var out struct {
			Data []struct {
				Scores []float32 `json:"scores"`
			} `json:"data"`
		}
		json.Unmarshal(rec.Body.Bytes(), &out)
		if len(out.Data) != 1 || len(out.Data[0].Scores) != 10 {
			t.Fatalf("classify: %s", rec.Body)
		}
		scores, _ := json.Marshal(out.Data[0].Scores)
		return rec.Header().Get("X-Barewire-Release"), string(scores)
	}
	rel0, scores0 := classify()
	if rel0 != "cmdline" {
		t.Fatalf("served by %q", rel0)
	}
	if n, _ := mapsCount(t, model); n == 0 {
		t.Fatal("command-line model not mapped")
	}
	m, files, err := ReleaseFromModel(model, "mlp-2")
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "mlp-2.bwb")
	if err := update.BuildBundle(keys, m, files, 1, time.Now().Add(time.Hour), bundle); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(bundle)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/admin/v1/updates", strings.NewReader(string(data))))
	if rec.Code != 200 {
		t.Fatalf("update: %d %s", rec.Code, rec.Body)
	}
	rel1, scores1 := classify()
	if rel1 != "mlp-2" || scores1 != scores0 {
		t.Fatalf("after the swap: release %q scores %s, want mlp-2 and %s", rel1, scores1, scores0)
	}
	if n, lines := mapsCount(t, model); n != 0 {
		t.Fatalf("command-line model still mapped after the swap:\n%s", strings.Join(lines, "\n"))
	}
	if n, _ := mapsCount(t, filepath.Join(store.Dir(), LiveDir, "mlp-2")); n != 3 {
		t.Fatalf("%d mappings of the store release, want its 3 component files", n)
	}
	// Wrong input width: 400 naming the field, release untouched.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/classify", strings.NewReader(`{"input":[1,2,3]}`)))
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"param":"input[0]"`) {
		t.Fatalf("short input: %d %s", rec.Code, rec.Body)
	}
}

// TestSDKGenerate serves a tiny synthetic BitNet with the real sdk engine.
func TestSDKGenerate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiny.bwm")
	if err := sdk.WriteSynthetic(path, sdk.SyntheticBitNetTiny, sdk.SyntheticOptions{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Engine: &SDKEngine{Options: []sdk.Option{sdk.WithThreads(1)}, ContextLength: 64}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background(), Source{ID: "tiny", Path: path}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	e := &env{t: t, ts: ts}
	resp, body := e.do("POST", "/v1/completions", `{"prompt":"hello","max_tokens":5,"temperature":0}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var c completion
	json.Unmarshal(body, &c)
	if c.SystemFingerprint != "tiny" || c.Usage == nil || c.Usage.CompletionTokens < 1 || c.Usage.CompletionTokens > 5 {
		t.Fatalf("completion: %s", body)
	}
	// The same request again gives the same text (greedy; a reused
	// session is reset).
	_, body2 := e.do("POST", "/v1/completions", `{"prompt":"hello","max_tokens":5,"temperature":0}`)
	var c2 completion
	json.Unmarshal(body2, &c2)
	if c2.Choices[0].Text != c.Choices[0].Text {
		t.Fatalf("greedy output differs: %q then %q", c.Choices[0].Text, c2.Choices[0].Text)
	}
	// A temperature whose inverse overflows float32 samples greedily (it
	// used to make NaN probabilities, and top-p indexed past its buckets).
	resp, body = e.do("POST", "/v1/completions", `{"prompt":"hello","max_tokens":5,"temperature":1e-45,"top_p":0.9}`)
	var c3 completion
	json.Unmarshal(body, &c3)
	if resp.StatusCode != 200 || len(c3.Choices) == 0 || c3.Choices[0].Text != c.Choices[0].Text {
		t.Fatalf("temperature 1e-45: %d %s, want the greedy text %q", resp.StatusCode, body, c.Choices[0].Text)
	}
	resp, body = e.do("POST", "/v1/completions", `{"prompt":"`+strings.Repeat("a", 100)+`","max_tokens":5}`)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "context") {
		t.Fatalf("prompt over the context: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("POST", "/v1/classify", `{"input":[1]}`)
	if resp.StatusCode != 400 {
		t.Fatalf("classify on a language model: %d %s", resp.StatusCode, body)
	}
}

// TestSDKGenerateRecurrent serves a MatMul-free LM, whose sessions have
// no context limit (ContextLength 0), with a prompt longer than the
// engine's ContextLength (which only sizes KV caches).
func TestSDKGenerateRecurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mmfree.bwm")
	if err := sdk.WriteSynthetic(path, sdk.SyntheticMMFreeTiny, sdk.SyntheticOptions{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Engine: &SDKEngine{Options: []sdk.Option{sdk.WithThreads(1)}, ContextLength: 64}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background(), Source{ID: "mmfree", Path: path}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	e := &env{t: t, ts: ts}
	resp, body := e.do("POST", "/v1/completions", `{"prompt":"`+strings.Repeat("a", 100)+`","max_tokens":5,"temperature":0}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var c completion
	json.Unmarshal(body, &c)
	if c.SystemFingerprint != "mmfree" || c.Usage == nil || c.Usage.PromptTokens < 100 || c.Usage.CompletionTokens < 1 {
		t.Fatalf("completion: %s", body)
	}
}

// TestSDKGenerateKVF16 serves the same model with binary16 KV caches.
func TestSDKGenerateKVF16(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiny.bwm")
	if err := sdk.WriteSynthetic(path, sdk.SyntheticBitNetTiny, sdk.SyntheticOptions{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Engine: &SDKEngine{Options: []sdk.Option{sdk.WithThreads(1)}, ContextLength: 64, KVCache: sdk.KVFloat16}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background(), Source{ID: "tiny", Path: path}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	e := &env{t: t, ts: ts}
	var texts []string
	for range 2 {
		resp, body := e.do("POST", "/v1/completions", `{"prompt":"hello","max_tokens":5,"temperature":0}`)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		var c completion
		json.Unmarshal(body, &c)
		if c.Usage == nil || c.Usage.CompletionTokens < 1 {
			t.Fatalf("completion: %s", body)
		}
		texts = append(texts, c.Choices[0].Text)
	}
	if texts[0] != texts[1] {
		t.Fatalf("greedy output differs: %q then %q", texts[0], texts[1])
	}
}

// Before its first update an agent serves the model given on the command
// line, and the store has no current release: a bundle is checked against
// the model being served. One with other shapes (the 64-wide MLP pushed to
// an agent serving the 1024-wide one) is refused before anything is
// written, and the served model stays; the same tensors split into
// components (the release form of the file being served) are taken. The
// same holds when the store's current release cannot be opened at start
// and the agent falls back to the command line's model.
func TestFirstUpdateCheckedAgainstServedModel(t *testing.T) {
	release, err := filepath.Abs("../../../testdata/mlp-tiny-release")
	if err != nil {
		t.Fatal(err)
	}
	testdata := filepath.Dir(release)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if err := update.Keygen(keys); err != nil {
		t.Fatal(err)
	}
	root, _ := os.ReadFile(filepath.Join(keys, update.RootName))
	bundle := func(id string, version int64) []byte {
		m, files, err := ReleaseFromModel(release, id)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, id+".bwb")
		if err := update.BuildBundle(keys, m, files, version, time.Now().Add(time.Hour), out); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	start := func(state, served string) (*Server, *update.Store) {
		store, err := update.Open(state, update.Options{Verify: VerifyFile, Shapes: ComponentTensors})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := New(Config{Engine: &SDKEngine{Options: []sdk.Option{sdk.WithThreads(1)}}, Store: store, TrustedRoot: root, DrainTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(context.Background(), Source{ID: "cmdline", Path: filepath.Join(testdata, served)}); err != nil {
			t.Fatal(err)
		}
		return srv, store
	}
	push := func(srv *Server, data []byte) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest("POST", "/admin/v1/updates", strings.NewReader(string(data))))
		return rec
	}
	const refused = `the model being served (cmdline, `
	mlp64 := bundle("mlp-64", 1)

	t.Run("other shapes refused", func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "state")
		srv, store := start(state, "mnist-mlp.bwm")
		defer srv.Close(context.Background())
		if rec := push(srv, mlp64); rec.Code != 422 || !strings.Contains(rec.Body.String(), refused+filepath.Join(testdata, "mnist-mlp.bwm")+`) has`) {
			t.Fatalf("update: %d %s, want 422 naming the served model", rec.Code, rec.Body)
		}
		st, err := store.State()
		if err != nil {
			t.Fatal(err)
		}
		if srv.Live().Current() != "cmdline" || st.Current != "" || st.Pending != "" {
			t.Fatalf("after a refused bundle: live %q, state %+v", srv.Live().Current(), st)
		}
		if objs, _ := os.ReadDir(filepath.Join(state, update.ObjectsDir)); len(objs) != 0 {
			t.Fatalf("a refused bundle left %d objects in the store", len(objs))
		}
	})

	t.Run("same tensors taken, then fallback checked", func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "state")
		srv, store := start(state, "mlp-tiny.bwm")
		if rec := push(srv, mlp64); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"release":"mlp-64"`) {
			t.Fatalf("update: %d %s", rec.Code, rec.Body)
		}
		st, err := store.State()
		if err != nil {
			t.Fatal(err)
		}
		if srv.Live().Current() != "mlp-64" || st.Current != "mlp-64" || srv.outside.Load() != nil {
			t.Fatalf("after the update: live %q, state %+v, outside model %v", srv.Live().Current(), st, srv.outside.Load())
		}
		srv.Close(context.Background())
		// Lose the current release's components: at the next start it
		// does not verify, and the agent serves its --model, here the
		// 1024-wide MLP. A bundle of the 64-wide one (the shapes of the
		// store's current release, its components brought anew) must be
		// checked against that.
		objs, _ := filepath.Glob(filepath.Join(state, update.ObjectsDir, "*"))
		if len(objs) == 0 {
			t.Fatal("no objects in the store")
		}
		for _, o := range objs {
			if err := os.Remove(o); err != nil {
				t.Fatal(err)
			}
		}
		srv2, _ := start(state, "mnist-mlp.bwm")
		defer srv2.Close(context.Background())
		if srv2.Live().Current() != "cmdline" {
			t.Fatalf("serving %q, want the fallback to --model", srv2.Live().Current())
		}
		if rec := push(srv2, bundle("mlp-64b", 2)); rec.Code != 422 || !strings.Contains(rec.Body.String(), refused) {
			t.Fatalf("update in fallback: %d %s, want 422 naming the served model", rec.Code, rec.Body)
		}
	})
}
