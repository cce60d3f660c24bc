package serve

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/speakez/barewire/jetson/telemetry"
	"github.com/speakez/barewire/update"
	"github.com/speakez/barewire/update/live"
)

// Defaults of Config.
const (
	DefaultModelName      = "barewire"
	DefaultMaxBodyBytes   = 1 << 20
	DefaultMaxBundleBytes = 4 << 30
	DefaultConcurrency    = 4
	DefaultQueueLimit     = 64
	DefaultQueueTimeout   = 30 * time.Second
	DefaultUpdateTimeout  = 10 * time.Minute
	// DefaultStreamWriteTimeout bounds one write of a streamed response:
	// a client that stops reading loses its stream (and its slot) then.
	DefaultStreamWriteTimeout = 30 * time.Second
)

// Config configures a Server. Engine is required.
type Config struct {
	Engine Engine
	// ModelName is the id in /v1/models; requests may name it or leave
	// "model" empty.
	ModelName string
	// Store and TrustedRoot enable POST /admin/v1/updates.
	Store       *update.Store
	TrustedRoot []byte
	// AdminToken, when not empty, opens the admin endpoints on Handler to
	// requests carrying "Authorization: Bearer <token>". Without it they
	// are served only by AdminHandler (a unix socket).
	AdminToken []byte
	Limits     Limits
	// MaxBodyBytes bounds inference request bodies (413 beyond);
	// MaxBundleBytes bounds update bodies.
	MaxBodyBytes   int64
	MaxBundleBytes int64
	// Concurrency is the number of requests run at once (the session
	// pool); QueueLimit more may wait, up to QueueTimeout; beyond that,
	// 429.
	Concurrency  int
	QueueLimit   int
	QueueTimeout time.Duration
	// DrainTimeout is how long a retired release may stay pinned before
	// the drain alarm (live.Options.DrainTimeout).
	DrainTimeout time.Duration
	// UpdateTimeout bounds opening, warming and checking a new release.
	UpdateTimeout time.Duration
	// StreamWriteTimeout bounds each write of a streamed (SSE) response:
	// generation stops, and its slot is freed, when a client does not
	// take a piece for this long.
	StreamWriteTimeout time.Duration
	Logger             *slog.Logger
	// Notify, when set, receives sd_notify states (STATUS=... after swaps).
	Notify func(state string)
	// Telemetry, when set, is read at every scrape of /metrics for the
	// barewire_gpu_* gauges (gputelemetry.go). The caller closes it after
	// the server.
	Telemetry telemetry.Telemetry
}

// Server is the HTTP API of edge-agent over one model whose release can be
// swapped while it serves.
type Server struct {
	cfg     Config
	live    *live.Live[Component]
	metrics *metrics
	log     *slog.Logger

	slots    chan struct{} // a token per running request: the session pool bound
	waiting  atomic.Int64
	leave    func()
	updateMu sync.Mutex // one update at a time (TryLock: a second gets 409)
	stopping atomic.Bool
	started  time.Time

	mu         sync.Mutex
	lastUpdate *UpdateResult

	// outside describes the model Start served from outside the store
	// (--model), nil when none is live or the engine cannot describe
	// models: while it is live, bundles are checked against it, not
	// against the store's current release (compat).
	outside atomic.Pointer[outsideModel]
	// storeCompat is the check the store had before New replaced it with
	// compat; compat hands it everything else.
	storeCompat update.CompatCheck
}

// outsideModel is the architecture and tensors of a model served from
// outside the store, or why they could not be had.
type outsideModel struct {
	id, path string
	arch     string
	tensors  []update.TensorShape
	err      error
}

// A ModelShaper is an Engine that can describe the model of a release it
// opened: its architecture and tensors. With one, a server checks every
// bundle against the model it serves from outside its store (the
// command line's --model, before the first update) as it checks them
// against the store's releases; without one, only against the store's.
type ModelShaper interface {
	Shapes(r *Release) (arch string, tensors []update.TensorShape, err error)
}

// compat is the store's CompatCheck while the server runs: a release must
// have the shapes of what is live. That is the store's current release
// (the store's own check, update.SameShapes by default, against running)
// unless the model given on the command line is live: before the first
// update, or after the store's current release failed to open at start.
func (s *Server) compat(running, next *update.ReleaseManifest) error {
	o := s.outside.Load()
	if o == nil || s.live.Current() != o.id {
		return s.storeCompat(running, next)
	}
	what := fmt.Sprintf("the model being served (%s, %s)", o.id, o.path)
	if o.err != nil {
		return fmt.Errorf("release %q: %s cannot be described, so no bundle can be checked against it: %v: %w", next.ID, what, o.err, update.ErrShape)
	}
	return update.SameTensors(what, o.arch, o.tensors, next)
}

// New returns a Server with nothing live yet; call Start.
func New(cfg Config) (*Server, error) {
	if cfg.Engine == nil {
		return nil, errors.New("serve: no engine")
	}
	if cfg.ModelName == "" {
		cfg.ModelName = DefaultModelName
	}
	if cfg.Limits.MaxTokens <= 0 {
		cfg.Limits.MaxTokens = DefaultLimits.MaxTokens
	}
	if cfg.Limits.DefaultTokens <= 0 {
		cfg.Limits.DefaultTokens = min(DefaultLimits.DefaultTokens, cfg.Limits.MaxTokens)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxBundleBytes <= 0 {
		cfg.MaxBundleBytes = DefaultMaxBundleBytes
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.QueueLimit < 0 {
		cfg.QueueLimit = 0
	} else if cfg.QueueLimit == 0 {
		cfg.QueueLimit = DefaultQueueLimit
	}
	if cfg.QueueTimeout <= 0 {
		cfg.QueueTimeout = DefaultQueueTimeout
	}
	if cfg.UpdateTimeout <= 0 {
		cfg.UpdateTimeout = DefaultUpdateTimeout
	}
	if cfg.StreamWriteTimeout <= 0 {
		cfg.StreamWriteTimeout = DefaultStreamWriteTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, slots: make(chan struct{}, cfg.Concurrency), started: time.Now()}
	s.leave = func() { <-s.slots; s.metrics.inflight.Dec() }
	s.live = live.New(live.Options[Component]{
		DrainTimeout: cfg.DrainTimeout,
		OnSwap: func(old, next string) {
			s.metrics.swaps.Inc()
			if old != "" {
				s.metrics.releaseInfo.DeleteLabelValues(old)
			}
			s.metrics.releaseInfo.WithLabelValues(next).Set(1)
			s.log.Info("release live", "release", next, "replaced", old)
			if s.cfg.Notify != nil {
				s.cfg.Notify("STATUS=serving release " + next)
			}
		},
		OnDrainTimeout: func(id string, pins int64) {
			s.metrics.drainAlarms.Inc()
			s.log.Warn("retired release still pinned past the drain timeout; it stays mapped", "release", id, "pins", pins)
			if s.cfg.Notify != nil {
				s.cfg.Notify(fmt.Sprintf("STATUS=serving release %s; release %s still in use by %d requests past the drain timeout", s.live.Current(), id, pins))
			}
		},
		OnClosed: func(id string, d time.Duration, err error) {
			s.log.Info("retired release unmapped", "release", id, "drained_after", d, "error", err)
		},
	})
	s.metrics = newMetrics(s)
	if cfg.Store != nil {
		s.storeCompat = cfg.Store.SetCompat(s.compat)
	}
	return s, nil
}

// Live is the holder of the served release.
func (s *Server) Live() *live.Live[Component] { return s.live }

// Start makes the first release live: after Recover, the store's pending
// release (one more start attempt, then warm-up and test inference; a
// failure rolls it back and marks it bad), else the store's current one,
// else initial (the model given on the command line).
func (s *Server) Start(ctx context.Context, initial Source) error {
	if st := s.cfg.Store; st != nil {
		rep, err := st.Recover()
		if err != nil {
			return fmt.Errorf("recover state: %w", err)
		}
		if rep.RolledBack != "" {
			s.metrics.rollbacks.Inc()
			s.log.Warn("pending release rolled back at start", "release", rep.RolledBack, "marked_bad", rep.MarkedBad)
		}
		for id, err := range rep.Failed {
			s.log.Error("release in the state does not verify", "release", id, "error", err)
		}
		state, err := st.State()
		if err != nil {
			return err
		}
		if state.Pending != "" {
			if err := s.activatePending(ctx); err != nil {
				s.log.Warn("pending release not started", "release", state.Pending, "error", err)
			}
		}
		if s.live.Current() == "" {
			if state, err = st.State(); err == nil && state.Current != "" && rep.Failed[state.Current] == nil {
				if err := s.openAndSwap(ctx, state.Current); err != nil {
					s.log.Error("current release of the store cannot be served; falling back to --model", "release", state.Current, "error", err)
				}
			}
		}
	}
	if s.live.Current() == "" {
		if initial.Path == "" {
			return errors.New("no model to serve: give --model, or a --state directory with a current release")
		}
		r, err := s.cfg.Engine.Open(ctx, initial)
		if err != nil {
			return err
		}
		if err := s.warmCheck(ctx, r); err != nil {
			r.Discard()
			return err
		}
		if sh, ok := s.cfg.Engine.(ModelShaper); ok && s.cfg.Store != nil {
			o := &outsideModel{id: initial.ID, path: initial.Path}
			if o.arch, o.tensors, o.err = sh.Shapes(r); o.err != nil {
				s.log.Warn("the served model cannot be described: update bundles are refused until a store release is live", "model", initial.Path, "error", o.err)
			}
			s.outside.Store(o)
		}
		if _, err := s.live.Swap(ctx, r); err != nil {
			r.Discard()
			return err
		}
	}
	return nil
}

func (s *Server) warmCheck(ctx context.Context, r *Release) error {
	if err := s.cfg.Engine.Warm(ctx, r); err != nil {
		return fmt.Errorf("release %q: warm-up: %w", r.ID(), err)
	}
	if err := s.cfg.Engine.Check(ctx, r); err != nil {
		return fmt.Errorf("release %q: test inference: %w", r.ID(), err)
	}
	return nil
}

// openAndSwap serves the store's release id (already current in the state).
func (s *Server) openAndSwap(ctx context.Context, id string) error {
	src, err := s.storeSource(id)
	if err != nil {
		return err
	}
	r, err := s.cfg.Engine.Open(ctx, src)
	if err != nil {
		return err
	}
	if err := s.warmCheck(ctx, r); err != nil {
		r.Discard()
		return err
	}
	if _, err := s.live.Swap(context.WithoutCancel(ctx), r); err != nil {
		r.Discard()
		return err
	}
	s.outside.Store(nil)
	return nil
}

// activatePending runs one start attempt of the store's pending release:
// BeginAttempt before anything is mapped (so a crash while mapping counts),
// then open, warm and test inside Activate's health check, so that a
// failure marks the release bad in the same state write; then the swap.
func (s *Server) activatePending(ctx context.Context) error {
	st := s.cfg.Store
	if _, err := st.BeginAttempt(); err != nil {
		if errors.Is(err, update.ErrAttempts) {
			if id, rerr := st.Rollback(); rerr == nil {
				s.metrics.rollbacks.Inc()
				return fmt.Errorf("release %q out of start attempts, rolled back: %w", id, err)
			}
		}
		return err
	}
	state, err := st.State()
	if err != nil {
		return err
	}
	// Laid out before Activate, which holds the store's lock while the
	// check runs (reading the manifest then would wait for it). A failure
	// here still goes through Activate, so the release is marked bad.
	src, srcErr := s.storeSource(state.Pending)
	var r *Release
	err = st.Activate(func(m *update.ReleaseManifest) error {
		if srcErr != nil {
			return srcErr
		}
		if m.ID != src.ID {
			return fmt.Errorf("pending release changed from %q to %q", src.ID, m.ID)
		}
		var err error
		if r, err = s.cfg.Engine.Open(ctx, src); err != nil {
			return err
		}
		return s.warmCheck(ctx, r)
	})
	if err != nil {
		if r != nil {
			r.Discard()
		}
		if errors.Is(err, update.ErrHealth) {
			s.metrics.rollbacks.Inc()
		}
		return err
	}
	// The state now says current; the pointer store cannot fail but for a
	// closed server.
	if _, err := s.live.Swap(context.WithoutCancel(ctx), r); err != nil {
		r.Discard()
		return err
	}
	s.outside.Store(nil) // a store release is live: compat uses the store's
	s.cleanupStore()
	return nil
}

// UpdateResult describes an update applied through the admin API.
type UpdateResult struct {
	Release  string    `json:"release"`
	Replaced string    `json:"replaced"`
	Started  time.Time `json:"started"`
	Duration float64   `json:"duration_seconds"`
	Error    string    `json:"error,omitempty"`
}

// ErrBusy: another update is being applied.
var ErrBusy = errors.New("another update is in progress")

// ErrNoStore: the server was started without a state directory.
var ErrNoStore = errors.New("updates need a state directory (--state)")

// ApplyBundle verifies and installs the bundle file at path (update.Store),
// then maps the new release, warms it, runs a test inference and swaps it
// in. The running release keeps serving throughout and stays if any step
// fails. The work is not tied to ctx's cancellation (a client that goes
// away must not leave a half-tested release marked bad) but is bounded by
// Config.UpdateTimeout.
func (s *Server) ApplyBundle(ctx context.Context, path string) (*UpdateResult, error) {
	if s.cfg.Store == nil {
		return nil, ErrNoStore
	}
	if !s.updateMu.TryLock() {
		s.metrics.updateFailures.WithLabelValues("busy").Inc()
		return nil, ErrBusy
	}
	defer s.updateMu.Unlock()
	return s.applyLocked(ctx, path)
}

// applyLocked is ApplyBundle with updateMu held.
func (s *Server) applyLocked(ctx context.Context, path string) (*UpdateResult, error) {
	ctx = context.WithoutCancel(ctx)
	res := &UpdateResult{Started: time.Now(), Replaced: s.live.Current()}
	err := s.applyBundle(ctx, path, res)
	res.Duration = time.Since(res.Started).Seconds()
	if err != nil {
		res.Error = err.Error()
		s.metrics.updateFailures.WithLabelValues(failureReason(err)).Inc()
		s.log.Warn("update refused", "error", err)
	}
	s.mu.Lock()
	s.lastUpdate = res
	s.mu.Unlock()
	return res, err
}

func (s *Server) applyBundle(ctx context.Context, path string, res *UpdateResult) error {
	st := s.cfg.Store
	m, err := st.ApplyBundle(path, s.cfg.TrustedRoot)
	if err != nil {
		return err
	}
	res.Release = m.ID
	if m.ID == s.live.Current() {
		return nil // the bundle only moved metadata versions
	}
	// UpdateTimeout bounds opening, warming and checking, not the install
	// before them (hashing a large bundle is not the release's fault).
	ctx, cancel := context.WithTimeout(ctx, s.cfg.UpdateTimeout)
	defer cancel()
	return s.activatePending(ctx)
}

// Poll asks the TUF repository at baseURL (a static HTTP server laid out by
// update.PublishDir) for a newer release and, when one is staged, opens,
// warms, checks and swaps to it exactly as a pushed bundle is. It returns
// the release the repository names and whether the running one changed.
// A poll that overlaps an update in progress returns ErrBusy.
func (s *Server) Poll(ctx context.Context, client *http.Client, baseURL string) (string, bool, error) {
	if s.cfg.Store == nil {
		return "", false, ErrNoStore
	}
	if !s.updateMu.TryLock() {
		return "", false, ErrBusy
	}
	defer s.updateMu.Unlock()
	pctx, cancel := context.WithTimeout(ctx, s.cfg.UpdateTimeout)
	defer cancel()
	m, staged, err := s.cfg.Store.Poll(pctx, client, baseURL, s.cfg.TrustedRoot)
	if err != nil {
		s.metrics.updateFailures.WithLabelValues(failureReason(err)).Inc()
		return "", false, err
	}
	if !staged || m.ID == s.live.Current() {
		return m.ID, false, nil
	}
	res := &UpdateResult{Started: time.Now(), Replaced: s.live.Current(), Release: m.ID}
	actx, acancel := context.WithTimeout(ctx, s.cfg.UpdateTimeout) // its own budget, after the download
	defer acancel()
	err = s.activatePending(actx)
	res.Duration = time.Since(res.Started).Seconds()
	if err != nil {
		res.Error = err.Error()
		s.metrics.updateFailures.WithLabelValues(failureReason(err)).Inc()
		s.log.Warn("polled update refused", "release", m.ID, "error", err)
	}
	s.mu.Lock()
	s.lastUpdate = res
	s.mu.Unlock()
	return m.ID, err == nil, err
}

// PollEvery polls baseURL every interval until ctx ends, logging what each
// poll did; errors never stop the loop (the next poll retries).
func (s *Server) PollEvery(ctx context.Context, client *http.Client, baseURL string, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		id, swapped, err := s.Poll(ctx, client, baseURL)
		switch {
		case err != nil:
			s.log.Warn("poll", "url", baseURL, "error", err)
		case swapped:
			s.log.Info("poll: release swapped in", "release", id)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// failureReason maps an update error to the small set of reasons the
// metric is labelled with.
func failureReason(err error) string {
	for _, c := range []struct {
		err    error
		reason string
	}{
		{update.ErrSignature, "signature"}, {update.ErrExpired, "expired"}, {update.ErrRollback, "rollback"},
		{update.ErrMixed, "mixed"}, {update.ErrHash, "hash"}, {update.ErrLength, "length"},
		{update.ErrName, "name"}, {update.ErrShape, "shape"}, {update.ErrMissing, "missing"},
		{update.ErrVerify, "verify"}, {update.ErrBadRelease, "bad_release"}, {update.ErrConflict, "conflict"},
		{update.ErrHealth, "health"}, {update.ErrAttempts, "attempts"}, {update.ErrFormat, "format"},
		{ErrBusy, "busy"}, {ErrNoStore, "no_store"}, {context.DeadlineExceeded, "timeout"},
	} {
		if errors.Is(err, c.err) {
			return c.reason
		}
	}
	return "other"
}

// updateStatus maps an update error to an HTTP status.
func updateStatus(err error) (int, string) {
	switch {
	case errors.Is(err, ErrBusy), errors.Is(err, update.ErrConflict), errors.Is(err, update.ErrBadRelease):
		return http.StatusConflict, "conflict_error"
	case errors.Is(err, ErrNoStore):
		return http.StatusNotImplemented, "not_implemented"
	case errors.Is(err, update.ErrHealth):
		return http.StatusUnprocessableEntity, "health_check_failed"
	case errors.Is(err, update.ErrSignature), errors.Is(err, update.ErrExpired), errors.Is(err, update.ErrRollback),
		errors.Is(err, update.ErrMixed), errors.Is(err, update.ErrHash), errors.Is(err, update.ErrLength),
		errors.Is(err, update.ErrName), errors.Is(err, update.ErrShape), errors.Is(err, update.ErrMissing),
		errors.Is(err, update.ErrVerify), errors.Is(err, update.ErrFormat):
		return http.StatusUnprocessableEntity, "invalid_bundle"
	}
	return http.StatusInternalServerError, "server_error"
}

// Close stops taking requests, retires the live release and waits for it
// to drain (or ctx).
func (s *Server) Close(ctx context.Context) error {
	s.stopping.Store(true)
	return s.live.Close(ctx)
}

// SetStopping makes /readyz answer 503 (graceful shutdown has begun).
func (s *Server) SetStopping() { s.stopping.Store(true) }

// Ready reports whether a release is live and the server is not stopping.
func (s *Server) Ready() bool { return !s.stopping.Load() && s.live.Current() != "" }

// Handler is the HTTP API. The admin endpoints answer only requests with
// the admin token (and 403 when none is configured: use AdminHandler on a
// unix socket).
func (s *Server) Handler() http.Handler { return s.mux(false) }

// AdminHandler serves the same API with the admin endpoints open, for a
// listener only the operator can reach (a unix socket, 0600).
func (s *Server) AdminHandler() http.Handler { return s.mux(true) }

func (s *Server) mux(trusted bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/completions", s.observe("completions", s.handleCompletions))
	mux.Handle("POST /v1/chat/completions", s.observe("chat", s.handleChat))
	mux.Handle("POST /v1/classify", s.observe("classify", s.handleClassify))
	mux.Handle("GET /v1/models", s.observe("models", s.handleModels))
	mux.Handle("GET /healthz", s.observe("healthz", s.handleHealthz))
	mux.Handle("GET /livez", s.observe("healthz", s.handleHealthz))
	mux.Handle("GET /readyz", s.observe("readyz", s.handleReadyz))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	admin := func(name string, h http.HandlerFunc) http.Handler {
		if trusted {
			return s.observe(name, h)
		}
		return s.observe(name, s.requireToken(h))
	}
	mux.Handle("POST /admin/v1/updates", admin("admin_updates", s.handleUpdate))
	mux.Handle("GET /admin/v1/status", admin("admin_status", s.handleStatus))
	// Other methods on the API's paths get a JSON 405 rather than the
	// mux's plain-text one.
	for path, allow := range map[string]string{
		"/v1/completions": "POST", "/v1/chat/completions": "POST", "/v1/classify": "POST", "/v1/models": "GET",
		"/healthz": "GET", "/livez": "GET", "/readyz": "GET", "/admin/v1/updates": "POST", "/admin/v1/status": "GET",
	} {
		mux.Handle(path, s.observe("other", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, &RequestError{Status: http.StatusMethodNotAllowed, Type: "invalid_request_error",
				Message: fmt.Sprintf("%s %s: method not allowed (use %s)", truncate(r.Method), path, allow)})
		}))
	}
	mux.Handle("/", s.observe("other", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &RequestError{Status: http.StatusNotFound, Type: "not_found_error",
			Message: fmt.Sprintf("no endpoint %s %s", r.Method, truncate(r.URL.Path))})
	}))
	return mux
}

// requireToken admits requests carrying the admin token. The comparison is
// of SHA-256 digests in constant time, so neither the token's bytes nor
// its length leak through timing.
func (s *Server) requireToken(h http.HandlerFunc) http.HandlerFunc {
	want := sha256.Sum256(s.cfg.AdminToken)
	return func(w http.ResponseWriter, r *http.Request) {
		if len(s.cfg.AdminToken) == 0 {
			writeError(w, &RequestError{Status: http.StatusForbidden, Type: "permission_error",
				Message: "the admin API is disabled on this listener: start the agent with --admin-token-file, or use --admin-socket"})
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(tok))
		if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="edge-agent admin"`)
			writeError(w, &RequestError{Status: http.StatusUnauthorized, Type: "authentication_error",
				Message: "missing or wrong admin token (Authorization: Bearer ...)"})
			return
		}
		h(w, r)
	}
}

// recorder captures the status code for the metrics.
type recorder struct {
	http.ResponseWriter
	code int
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// statusClientClosed is what the metrics record for a request whose client
// went away before the response ended (nginx's convention).
const statusClientClosed = 499

func (s *Server) observe(endpoint string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		h(rec, r)
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		if r.Context().Err() != nil && code < 400 {
			code = statusClientClosed
		}
		s.metrics.requests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
		s.metrics.duration.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
	})
}

// errorBody is the error object of the OpenAI API.
type errorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func errorJSON(e *RequestError) []byte {
	var b errorBody
	b.Error.Message, b.Error.Type = e.Message, e.Type
	if e.Param != "" {
		b.Error.Param = &e.Param
	}
	out, _ := json.Marshal(b)
	return out
}

func writeError(w http.ResponseWriter, err error) {
	var re *RequestError
	if !errors.As(err, &re) {
		re = &RequestError{Status: http.StatusInternalServerError, Type: "server_error", Message: err.Error()}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(re.Status)
	w.Write(errorJSON(re))
	w.Write([]byte("\n"))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.Encode(v)
}

// readBody reads a request body of at most limit bytes: 413 beyond it
// (checked against Content-Length first, so an honest large body is
// refused before it is read), 415 for a body that does not claim to be
// JSON when it claims anything.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return nil, &RequestError{Status: http.StatusUnsupportedMediaType, Type: "invalid_request_error",
			Message: fmt.Sprintf("Content-Type %q: want application/json", truncate(ct))}
	}
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(limit)
		}
		return nil, &RequestError{Status: http.StatusBadRequest, Type: "invalid_request_error", Message: "reading body: " + err.Error()}
	}
	return body, nil
}

func tooLarge(limit int64) *RequestError {
	return &RequestError{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error",
		Message: fmt.Sprintf("request body over the limit of %d bytes", limit)}
}

var errQueueFull = &RequestError{Status: http.StatusTooManyRequests, Type: "rate_limit_error",
	Message: "server busy: every worker is running and the queue is full; retry later"}

// admit takes a worker slot, waiting in a bounded queue. The slot count is
// the session pool's size, so memory for sessions is bounded by
// Concurrency and the waiters by QueueLimit.
func (s *Server) admit(ctx context.Context) (func(), error) {
	select {
	case s.slots <- struct{}{}:
		s.metrics.inflight.Inc()
		return s.leave, nil
	default:
	}
	if s.waiting.Add(1) > int64(s.cfg.QueueLimit) {
		s.waiting.Add(-1)
		return nil, errQueueFull
	}
	s.metrics.queued.Inc()
	defer func() { s.waiting.Add(-1); s.metrics.queued.Dec() }()
	t := time.NewTimer(s.cfg.QueueTimeout)
	defer t.Stop()
	select {
	case s.slots <- struct{}{}:
		s.metrics.inflight.Inc()
		return s.leave, nil
	case <-t.C:
		return nil, errQueueFull
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Server) checkModel(name string) error {
	if name == "" || name == s.cfg.ModelName {
		return nil
	}
	return &RequestError{Status: http.StatusNotFound, Type: "invalid_request_error", Param: "model",
		Message: fmt.Sprintf("field \"model\": no model %q here (GET /v1/models lists %q)", truncate(name), s.cfg.ModelName)}
}

var errNotReady = &RequestError{Status: http.StatusServiceUnavailable, Type: "service_unavailable",
	Message: "no release is being served yet"}

// pin admits the request and pins the live release for its whole life.
func (s *Server) pin(ctx context.Context) (*Release, func(), error) {
	leave, err := s.admit(ctx)
	if err != nil {
		return nil, nil, err
	}
	r, unpin, err := s.live.Acquire()
	if err != nil {
		leave()
		return nil, nil, errNotReady
	}
	return r, func() { unpin(); leave() }, nil
}

func newID(prefix string) string {
	var b [12]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Response shapes of the OpenAI API.
type (
	usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	}
	completionChoice struct {
		Text         string  `json:"text"`
		Index        int     `json:"index"`
		Logprobs     *string `json:"logprobs"`
		FinishReason *string `json:"finish_reason"`
	}
	chatMessageOut struct {
		Role    string `json:"role,omitempty"`
		Content string `json:"content,omitempty"`
	}
	chatChoice struct {
		Index        int             `json:"index"`
		Message      *chatMessageOut `json:"message,omitempty"`
		Delta        *chatMessageOut `json:"delta,omitempty"`
		Logprobs     *string         `json:"logprobs"`
		FinishReason *string         `json:"finish_reason"`
	}
	completionResponse struct {
		ID                string `json:"id"`
		Object            string `json:"object"`
		Created           int64  `json:"created"`
		Model             string `json:"model"`
		SystemFingerprint string `json:"system_fingerprint"`
		Choices           any    `json:"choices"`
		Usage             *usage `json:"usage,omitempty"`
	}
)

func (s *Server) handleCompletions(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		writeError(w, err)
		return
	}
	req, p, err := DecodeCompletionRequest(body, s.cfg.Limits)
	if err == nil {
		err = s.checkModel(req.Model)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	s.generate(w, r, false, req.Prompt[0], p, req.Stream, req.StreamOptions)
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		writeError(w, err)
		return
	}
	req, p, err := DecodeChatRequest(body, s.cfg.Limits)
	if err == nil {
		err = s.checkModel(req.Model)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	s.generate(w, r, true, RenderChat(req.Messages), p, req.Stream, req.StreamOptions)
}

// engineError turns an engine's error into a response.
func engineError(err error) error {
	switch {
	case errors.Is(err, ErrUnsupported):
		return &RequestError{Status: http.StatusBadRequest, Type: "invalid_request_error", Message: err.Error()}
	case errors.Is(err, ErrBadInput):
		return &RequestError{Status: http.StatusBadRequest, Type: "invalid_request_error", Message: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return &RequestError{Status: http.StatusGatewayTimeout, Type: "timeout_error", Message: err.Error()}
	}
	return &RequestError{Status: http.StatusInternalServerError, Type: "server_error", Message: err.Error()}
}

// generate runs one completion on the pinned release, streamed as
// server-sent events or answered as one JSON object. The pin is dropped
// only after the last byte has been written.
func (s *Server) generate(w http.ResponseWriter, r *http.Request, chat bool, prompt string, p GenParams, stream bool, so *StreamOptions) {
	ctx := r.Context()
	rel, done, err := s.pin(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return // the client went away while queued
		}
		writeError(w, err)
		return
	}
	defer done()
	if !s.cfg.Engine.Info(rel).Generates {
		writeError(w, &RequestError{Status: http.StatusBadRequest, Type: "invalid_request_error",
			Message: fmt.Sprintf("model %q classifies; it does not generate text (use /v1/classify)", s.cfg.ModelName)})
		return
	}
	w.Header().Set("X-Barewire-Release", rel.ID())
	id, created := newID("cmpl-"), time.Now().Unix()
	object := "text_completion"
	if chat {
		id, object = newID("chatcmpl-"), "chat.completion"
	}
	head := completionResponse{ID: id, Object: object, Created: created, Model: s.cfg.ModelName, SystemFingerprint: rel.ID()}
	if !stream {
		var text strings.Builder
		text.Grow(4 * max(0, min(p.MaxTokens, 1024)))
		fin, err := s.cfg.Engine.Complete(ctx, rel, prompt, p, func(piece []byte) error {
			text.Write(piece)
			return nil
		})
		s.metrics.tokens.Add(float64(fin.CompletionTokens))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			writeError(w, engineError(err))
			return
		}
		reason := fin.Reason
		if chat {
			head.Choices = []chatChoice{{Message: &chatMessageOut{Role: "assistant", Content: text.String()}, FinishReason: &reason}}
		} else {
			head.Choices = []completionChoice{{Text: text.String(), FinishReason: &reason}}
		}
		head.Usage = &usage{fin.PromptTokens, fin.CompletionTokens, fin.PromptTokens + fin.CompletionTokens}
		writeJSON(w, http.StatusOK, head)
		return
	}
	// Server-sent events: one "data: {chunk}" per piece, a last chunk with
	// the finish reason, optionally a usage chunk, then "data: [DONE]".
	if chat {
		head.Object = "chat.completion.chunk"
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	// Each write has a deadline (where the connection takes one), cleared
	// when the stream ends: the server sets none of its own, and a
	// keep-alive connection must not carry this one into its next request.
	defer rc.SetWriteDeadline(time.Time{})
	write := func(event []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.StreamWriteTimeout)) // not every ResponseWriter has one
		if _, err := w.Write(event); err != nil {
			return err
		}
		return rc.Flush()
	}
	var buf bytes.Buffer
	send := func(v any) error {
		buf.Reset()
		buf.WriteString("data: ")
		if err := json.NewEncoder(&buf).Encode(v); err != nil {
			return err
		}
		buf.WriteByte('\n')
		return write(buf.Bytes())
	}
	chunk := func(text string, reason *string, first bool) any {
		c := head
		if chat {
			d := &chatMessageOut{Content: text}
			if first {
				d.Role = "assistant"
			}
			c.Choices = []chatChoice{{Delta: d, FinishReason: reason}}
		} else {
			c.Choices = []completionChoice{{Text: text, FinishReason: reason}}
		}
		return c
	}
	if chat {
		if send(chunk("", nil, true)) != nil {
			return
		}
	}
	// The pieces' events: encoded once around a marker, each piece escaped
	// into the gap (jsonpiece.go), so a token costs no allocation here.
	frame, err := newPieceFrame(chunk(pieceMarker, nil, false))
	if err != nil {
		writeErrorEvent(w, rc, engineError(err).(*RequestError))
		return
	}
	ev := make([]byte, 0, len(frame.pre)+len(frame.post)+256)
	fin, err := s.cfg.Engine.Complete(ctx, rel, prompt, p, func(piece []byte) error {
		if len(piece) == 0 {
			return nil
		}
		ev = frame.appendEvent(ev[:0], piece)
		return write(ev)
	})
	s.metrics.tokens.Add(float64(fin.CompletionTokens))
	if err != nil {
		if ctx.Err() == nil {
			// Headers are gone: the error travels as an event, in the
			// shape of an error response, and [DONE] is not sent.
			writeErrorEvent(w, rc, engineError(err).(*RequestError))
		}
		return
	}
	reason := fin.Reason
	if send(chunk("", &reason, false)) != nil {
		return
	}
	if so != nil && so.IncludeUsage {
		c := head
		c.Choices = []completionChoice{}
		c.Usage = &usage{fin.PromptTokens, fin.CompletionTokens, fin.PromptTokens + fin.CompletionTokens}
		if send(c) != nil {
			return
		}
	}
	w.Write([]byte("data: [DONE]\n\n"))
	rc.Flush()
}

type classifyResponse struct {
	Object            string                 `json:"object"`
	Model             string                 `json:"model"`
	SystemFingerprint string                 `json:"system_fingerprint"`
	Data              []classificationResult `json:"data"`
}

type classificationResult struct {
	Index int `json:"index"`
	Classification
}

func (s *Server) handleClassify(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		writeError(w, err)
		return
	}
	req, err := DecodeClassifyRequest(body)
	if err == nil {
		err = s.checkModel(req.Model)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	rel, done, err := s.pin(ctx)
	if err != nil {
		if ctx.Err() == nil {
			writeError(w, err)
		}
		return
	}
	defer done()
	info := s.cfg.Engine.Info(rel)
	if !info.Classifies {
		writeError(w, &RequestError{Status: http.StatusBadRequest, Type: "invalid_request_error",
			Message: fmt.Sprintf("model %q generates text; it does not classify (use /v1/completions)", s.cfg.ModelName)})
		return
	}
	out := classifyResponse{Object: "list", Model: s.cfg.ModelName, SystemFingerprint: rel.ID()}
	for i, x := range req.Input {
		if info.Inputs > 0 && len(x) != info.Inputs {
			writeError(w, badField(fmt.Sprintf("input[%d]", i), "%d numbers, the model takes %d", len(x), info.Inputs))
			return
		}
		c, err := s.cfg.Engine.Classify(ctx, rel, x)
		if err != nil {
			if ctx.Err() == nil {
				writeError(w, engineError(err))
			}
			return
		}
		out.Data = append(out.Data, classificationResult{Index: i, Classification: c})
	}
	w.Header().Set("X-Barewire-Release", rel.ID())
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
		Release string `json:"release"`
		Arch    string `json:"arch,omitempty"`
	}
	m := model{ID: s.cfg.ModelName, Object: "model", Created: s.started.Unix(), OwnedBy: "barewire"}
	if rel, unpin, err := s.live.Acquire(); err == nil {
		m.Release, m.Arch = rel.ID(), s.cfg.Engine.Info(rel).Arch
		unpin()
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []model{m}})
}

// handleHealthz is liveness: the process answers.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz is readiness: a release is live (warmed and tested) and the
// server is not shutting down. It stays 200 during a swap: the old
// release serves until the pointer moves.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if !s.Ready() {
		writeError(w, &RequestError{Status: http.StatusServiceUnavailable, Type: "service_unavailable",
			Message: "not ready: no release live yet, or shutting down"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "release": s.live.Current()})
}

// writeErrorEvent sends an error in a stream whose headers are gone: an event
// in the shape of an error response; [DONE] does not follow.
func writeErrorEvent(w http.ResponseWriter, rc *http.ResponseController, re *RequestError) {
	w.Write(append(append([]byte("data: "), errorJSON(re)...), '\n', '\n'))
	rc.Flush()
}
