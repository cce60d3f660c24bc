package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/speakez/barewire/cmd/edge-agent/serve"
	"github.com/speakez/barewire/jetson/telemetry"
	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/sdk"
	"github.com/speakez/barewire/update"
)

func init() {
	register(command{name: "serve", summary: "serve a model over a local HTTP API, with metrics and over-the-air updates", run: runServe})
}

const serveUsage = `usage: edge-agent serve --model MODEL|--models DIR [--listen ADDR] [--state DIR] [--trust ROOT.json]
                        [--admin-token-file F] [--admin-socket PATH] [--poll URL] [flags]

Serves MODEL (a .bwm file or a release directory) on ADDR (default
127.0.0.1:8080, loopback only): POST /v1/completions, /v1/chat/completions,
/v1/classify; GET /v1/models, /healthz, /readyz, /metrics.

With --state DIR, signed update bundles (edge-agent bundle) are accepted on
POST /admin/v1/updates, verified against --trust ROOT.json, and swapped in
without stopping; the store's current release is served at the next start
in preference to --model. Admin endpoints need the token in
--admin-token-file (Authorization: Bearer ...) on ADDR, or come through
--admin-socket, a unix socket created 0600.

With --gpu-telemetry auto (the default), /metrics also carries the GPU's
load, clocks, temperatures, power and memory (barewire_gpu_*) when the
machine has a source: Jetson sysfs or NVML (docs/JETSON.md, Telemetry).

Under systemd (Type=notify) it sends READY=1 once the first release serves,
pets the watchdog (WatchdogSec=), and drains requests on SIGTERM.`

// onListening, when set (by tests), is told the API's address.
var onListening func(addr string)

// openTelemetry opens the GPU telemetry source of --gpu-telemetry auto (and
// of bench model); tests replace it with a source over a fixture tree.
var openTelemetry = func() (telemetry.Telemetry, error) { return telemetry.Open("/", 0) }

func runServe(args []string, stdout, stderr io.Writer) (err error) {
	defer noPanic(&err)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serveMain(ctx, args, stderr)
}

func serveMain(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, serveUsage); fs.PrintDefaults() }
	model := fs.String("model", "", "model file (.bwm) or release directory")
	models := fs.String("models", "", "directory holding the model to serve (one .bwm or release directory)")
	listen := fs.String("listen", "127.0.0.1:8080", "address of the HTTP API")
	state := fs.String("state", "", "state directory of the update store (enables updates)")
	trust := fs.String("trust", "", "trust root (root.json from edge-agent keygen) for update bundles")
	tokenFile := fs.String("admin-token-file", "", "file holding the admin bearer token")
	adminSocket := fs.String("admin-socket", "", "unix socket serving the admin API without a token (created 0600)")
	name := fs.String("name", "", "model id in /v1/models (default: the model's file or directory name)")
	threads := fs.Int("threads", 0, "worker threads per model (0: one per physical core)")
	backend := fs.String("backend", "auto", "auto, cpu or cuda")
	ctxLen := fs.Int("ctx", 0, "context length of each session (0: the model's, at most 2048)")
	kvType := fs.String("kv", sdk.KVFloat32, "KV cache element type of each session: f32 or f16 (half the memory; CPU backend)")
	concurrency := fs.Int("concurrency", serve.DefaultConcurrency, "requests run at once (the session pool)")
	queue := fs.Int("queue", serve.DefaultQueueLimit, "requests that may wait for a worker before 429")
	maxTokens := fs.Int("max-tokens", serve.DefaultLimits.MaxTokens, "largest max_tokens a request may ask")
	maxBundle := fs.Int64("max-bundle-bytes", serve.DefaultMaxBundleBytes, "largest update bundle accepted")
	drain := fs.Duration("drain-timeout", 30*time.Second, "alarm when a replaced release is still in use after this long")
	streamWrite := fs.Duration("stream-write-timeout", serve.DefaultStreamWriteTimeout, "a streamed response whose client takes no piece for this long is ended (its worker freed)")
	shutdown := fs.Duration("shutdown-timeout", 30*time.Second, "how long in-flight requests may finish at shutdown")
	pollURL := fs.String("poll", "", "also poll this TUF repository (a static HTTP server laid out by update.PublishDir) for new releases")
	pollEvery := fs.Duration("poll-interval", 5*time.Minute, "time between polls of --poll")
	gpuTelemetry := fs.String("gpu-telemetry", "auto", "auto: export GPU load, clocks, temperatures, power and memory on /metrics when the machine has a source (Jetson sysfs or NVML); off")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *gpuTelemetry != "auto" && *gpuTelemetry != "off" {
		return fmt.Errorf("%w: --gpu-telemetry %q (want auto or off)", errUsage, *gpuTelemetry)
	}
	if fs.NArg() != 0 || (*model == "") == (*models == "") {
		return fmt.Errorf("%w: give exactly one of --model and --models, and no other arguments\n%s", errUsage, serveUsage)
	}
	path := *model
	if *models != "" {
		var err error
		if path, err = pickModel(*models); err != nil {
			return err
		}
	}
	if *name == "" {
		*name = strings.TrimSuffix(filepath.Base(path), mmapmodel.ComponentExt)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg := serve.Config{
		Engine:      &serve.SDKEngine{Options: []sdk.Option{sdk.WithThreads(*threads), sdk.WithBackend(*backend)}, ContextLength: *ctxLen, KVCache: *kvType, Sessions: *concurrency},
		ModelName:   *name,
		Limits:      serve.Limits{MaxTokens: *maxTokens},
		Concurrency: *concurrency, QueueLimit: *queue, MaxBundleBytes: *maxBundle,
		DrainTimeout: *drain, StreamWriteTimeout: *streamWrite, Logger: log,
		Notify: func(s string) { serve.Notify(s) },
	}
	if *tokenFile != "" {
		tok, err := readToken(*tokenFile)
		if err != nil {
			return err
		}
		cfg.AdminToken = tok
		if st, err := os.Stat(*tokenFile); err == nil && st.Mode().Perm()&0o077 != 0 {
			log.Warn("admin token file is readable by other users; chmod 0600 it", "file", *tokenFile, "mode", st.Mode().Perm())
		}
	}
	if *state != "" {
		st, err := update.Open(*state, update.Options{Verify: serve.VerifyFile, Shapes: serve.ComponentTensors})
		if err != nil {
			return err
		}
		cfg.Store = st
		if *trust != "" {
			if cfg.TrustedRoot, err = os.ReadFile(*trust); err != nil {
				return err
			}
		} else {
			log.Warn("no --trust: update bundles will be refused unless the state directory holds a rotated root")
		}
	} else if *trust != "" {
		return fmt.Errorf("%w: --trust needs --state (where updates are kept)", errUsage)
	}
	if *pollURL != "" && (*state == "" || *pollEvery <= 0) {
		return fmt.Errorf("%w: --poll needs --state and a positive --poll-interval", errUsage)
	}
	switch {
	case *kvType != sdk.KVFloat32 && *kvType != sdk.KVFloat16:
		return fmt.Errorf("%w: --kv %q (want f32 or f16)", errUsage, *kvType)
	case *kvType == sdk.KVFloat16 && *backend == sdk.BackendCUDA:
		return fmt.Errorf("%w: --kv f16 needs the CPU backend (the CUDA backend keeps its cache in f32)", errUsage)
	}
	if *gpuTelemetry == "auto" {
		tm, err := openTelemetry()
		if err != nil {
			log.Info("no GPU telemetry on /metrics", "reason", err)
		} else {
			defer tm.Close()
			cfg.Telemetry = tm
		}
	}
	srv, err := serve.New(cfg)
	if err != nil {
		return err
	}
	if err := srv.Start(ctx, serve.Source{ID: initialID(path), Path: path}); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		srv.Close(context.Background())
		return err
	}
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); !net.ParseIP(host).IsLoopback() {
		log.Warn("listening beyond loopback: anyone who can reach this address can run the model", "addr", ln.Addr().String())
	}
	ro := serve.RunOptions{Listener: ln, ShutdownTimeout: *shutdown}
	if *adminSocket != "" {
		os.Remove(*adminSocket) // a socket left by a previous run
		al, err := net.Listen("unix", *adminSocket)
		if err != nil {
			ln.Close()
			srv.Close(context.Background())
			return err
		}
		defer os.Remove(*adminSocket)
		if err := os.Chmod(*adminSocket, 0o600); err != nil {
			al.Close()
			ln.Close()
			srv.Close(context.Background())
			return err
		}
		ro.AdminListener = al
	}
	if *pollURL != "" {
		pctx, stop := context.WithCancel(ctx)
		defer stop()
		go srv.PollEvery(pctx, &http.Client{Timeout: time.Minute}, *pollURL, *pollEvery)
	}
	log.Info("serving", "addr", ln.Addr().String(), "model", *name, "release", srv.Live().Current(), "updates", cfg.Store != nil)
	if onListening != nil {
		onListening(ln.Addr().String())
	}
	return srv.Run(ctx, ro)
}

// initialID names the release of a model given by path: its name and a
// short hash (of the manifest for a release directory, of the first MiB
// for a file), so that two models given by the same path get different
// ids.
func initialID(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), mmapmodel.ComponentExt)
	p := path
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		p = filepath.Join(path, mmapmodel.ManifestName)
	}
	f, err := os.Open(p)
	if err != nil {
		return base
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, io.LimitReader(f, 1<<20))
	return base + "-" + hex.EncodeToString(h.Sum(nil)[:6])
}

// pickModel finds the one model in dir: dir itself when it is a release
// directory, else its only .bwm file or release subdirectory.
func pickModel(dir string) (string, error) {
	if _, err := os.Stat(filepath.Join(dir, mmapmodel.ManifestName)); err == nil {
		return dir, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var found []string
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(p, mmapmodel.ManifestName)); err == nil {
				found = append(found, p)
			}
		} else if strings.HasSuffix(e.Name(), mmapmodel.ComponentExt) {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("--models %s: no .bwm file or release directory in it", dir)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("--models %s: %d models (%s); this agent serves one model: pick it with --model", dir, len(found), strings.Join(found, ", "))
}

// readToken reads a token file: the token is the file's content without
// surrounding white space.
func readToken(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tok := []byte(strings.TrimSpace(string(data)))
	if len(tok) < 16 {
		return nil, errors.New(path + ": admin token shorter than 16 characters")
	}
	return tok, nil
}
