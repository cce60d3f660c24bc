package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/speakez/barewire/update"
)

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func readFile(p string) ([]byte, error) { return os.ReadFile(p) }

// load runs n closed-loop clients until stop is closed, checking every
// response; it records each request's latency and start time.
type load struct {
	e        *env
	mu       sync.Mutex
	lat      []sample
	failures []string
	requests atomic.Int64
	wg       sync.WaitGroup
	stop     chan struct{}
}

type sample struct {
	start time.Time
	d     time.Duration
}

func startLoad(e *env, clients int, body string) *load {
	l := &load{e: e, stop: make(chan struct{})}
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	for i := 0; i < clients; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				start := time.Now()
				err := l.one(client, body)
				d := time.Since(start)
				l.requests.Add(1)
				l.mu.Lock()
				if err != nil {
					if len(l.failures) < 20 {
						l.failures = append(l.failures, err.Error())
					}
				} else {
					l.lat = append(l.lat, sample{start, d})
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *load) one(client *http.Client, body string) error {
	resp, err := client.Post(l.e.ts.URL+"/v1/completions", "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	var c completion
	if err := json.Unmarshal(b, &c); err != nil {
		return err
	}
	return l.e.checkResponse(c.SystemFingerprint, resp.Header.Get("X-Barewire-Release"), c.Choices[0].Text)
}

// finish stops the clients and returns the failures and the latencies.
func (l *load) finish() ([]string, []sample) {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failures, l.lat
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p * float64(len(s)-1))
	return s[i]
}

func durations(ss []sample, from, to time.Time) []time.Duration {
	var out []time.Duration
	for _, s := range ss {
		if !s.start.Before(from) && s.start.Before(to) {
			out = append(out, s.d)
		}
	}
	return out
}

// TestUpdateFlow: a bundle posted to the admin API becomes the served
// release; the state says so; the previous release's only component is
// closed once drained.
func TestUpdateFlow(t *testing.T) {
	e := newEnv(t, 0, nil)
	resp, body := e.update("r1", releaseSlots(1))
	if resp.StatusCode != 200 {
		t.Fatalf("update: %d %s", resp.StatusCode, body)
	}
	var res UpdateResult
	json.Unmarshal(body, &res)
	if res.Release != "r1" || res.Replaced != "r0" {
		t.Fatalf("result %s", body)
	}
	resp, body = e.do("POST", "/v1/completions", `{"prompt":"x","max_tokens":3}`)
	var c completion
	json.Unmarshal(body, &c)
	if c.SystemFingerprint != "r1" {
		t.Fatalf("served by %q after the update: %s", c.SystemFingerprint, body)
	}
	if err := e.checkResponse(c.SystemFingerprint, resp.Header.Get("X-Barewire-Release"), c.Choices[0].Text); err != nil {
		t.Fatal(err)
	}
	st, _ := e.fx.store.State()
	if st.Current != "r1" || st.Pending != "" {
		t.Fatalf("state %+v", st)
	}
	if e.eng.open.Load() != 3 {
		t.Fatalf("%d components open, want r1's 3", e.eng.open.Load())
	}
	// Re-posting the same release (a later bundle version) is a no-op.
	_, mbody := e.do("GET", "/metrics", "")
	swaps := metricValue(string(mbody), "barewire_swaps_total")
	if resp, body := e.update("r1", releaseSlots(1)); resp.StatusCode != 200 {
		t.Fatalf("re-apply: %d %s", resp.StatusCode, body)
	}
	_, mbody = e.do("GET", "/metrics", "")
	if got := metricValue(string(mbody), "barewire_swaps_total"); got != swaps || e.srv.live.Current() != "r1" || e.eng.open.Load() != 3 {
		t.Fatalf("re-applying r1 swapped (swaps %v → %v, current %q, %d components open)", swaps, got, e.srv.live.Current(), e.eng.open.Load())
	}
	// A release that fails its test inference is refused, marked bad, and
	// r1 stays.
	e.eng.failCheck = func(id string) bool { return id == "r2" }
	resp, body = e.update("r2", releaseSlots(2))
	if resp.StatusCode != 422 || !strings.Contains(string(body), "health") {
		t.Fatalf("failing release: %d %s", resp.StatusCode, body)
	}
	if st, _ := e.fx.store.State(); st.Current != "r1" || !st.IsBad("r2") {
		t.Fatalf("state after a failed check %+v", st)
	}
	if e.srv.live.Current() != "r1" || e.eng.open.Load() != 3 {
		t.Fatalf("current %s, %d components open", e.srv.live.Current(), e.eng.open.Load())
	}
	_, body = e.do("GET", "/metrics", "")
	if metricValue(string(body), "barewire_rollbacks_total") != 1 || !strings.Contains(string(body), `barewire_update_failures_total{reason="health"} 1`) {
		t.Fatalf("metrics:\n%s", grepLines(string(body), "barewire_"))
	}
}

// TestRestartServesStoreRelease: a new server on the same state directory
// starts with the store's current release, not the command-line model.
func TestRestartServesStoreRelease(t *testing.T) {
	e := newEnv(t, 0, nil)
	if resp, body := e.update("r1", releaseSlots(1)); resp.StatusCode != 200 {
		t.Fatalf("update: %d %s", resp.StatusCode, body)
	}
	eng := newFakeEngine(0)
	s2, err := New(Config{Engine: eng, Store: e.fx.store, TrustedRoot: e.fx.root})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Start(context.Background(), Source{ID: "cmdline", Path: "x"}); err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	if s2.live.Current() != "r1" {
		t.Fatalf("restart serves %q", s2.live.Current())
	}
	// A pending release that fails its start is rolled back and marked bad.
	path, _ := e.fx.bundle("r3", releaseSlots(3), 64<<10)
	if _, err := e.fx.store.ApplyBundle(path, e.fx.root); err != nil {
		t.Fatal(err)
	}
	eng3 := newFakeEngine(0)
	eng3.failCheck = func(id string) bool { return id == "r3" }
	s3, _ := New(Config{Engine: eng3, Store: e.fx.store, TrustedRoot: e.fx.root})
	if err := s3.Start(context.Background(), Source{}); err != nil {
		t.Fatal(err)
	}
	defer s3.Close(context.Background())
	if st, _ := e.fx.store.State(); s3.live.Current() != "r1" || !st.IsBad("r3") || st.Pending != "" {
		t.Fatalf("after a failing pending start: serving %q, state %+v", s3.live.Current(), st)
	}
}

// TestHostileAdmin: hostile update requests are refused with fitting
// codes while clients keep being served by the running release, with zero
// failed requests and the release untouched.
func TestHostileAdmin(t *testing.T) {
	e := newEnv(t, time.Millisecond, func(c *Config) { c.MaxBundleBytes = 1 << 20 })
	if resp, body := e.update("r1", releaseSlots(1)); resp.StatusCode != 200 {
		t.Fatalf("update: %d %s", resp.StatusCode, body)
	}
	before, _ := e.fx.store.State()
	l := startLoad(e, 4, `{"prompt":"x","max_tokens":4}`)
	good, _ := e.fx.bundle("r5", releaseSlots(5), 64<<10)
	goodBytes, _ := os.ReadFile(good)
	// A bundle signed by keys the device does not trust.
	other := newFixture(t)
	foreign, _ := other.bundle("r6", releaseSlots(6), 64<<10)
	foreignBytes, _ := os.ReadFile(foreign)
	flipped := append([]byte(nil), goodBytes...)
	flipped[len(flipped)-100] ^= 0x40
	auth := []string{"Authorization", "Bearer " + testToken}
	for _, tc := range []struct {
		name   string
		body   string
		hdr    []string
		status int
	}{
		{"no token", string(goodBytes), nil, 401},
		{"wrong token", string(goodBytes), []string{"Authorization", "Bearer " + testToken + "x"}, 401},
		{"oversized", strings.Repeat("x", 2<<20), auth, 413},
		{"garbage", "this is not a bundle at all", auth, 422},
		{"empty", "", auth, 422},
		{"truncated", string(goodBytes[:len(goodBytes)/2]), auth, 422},
		{"flipped bit", string(flipped), auth, 422},
		{"untrusted keys", string(foreignBytes), auth, 422},
	} {
		resp, body := e.do("POST", "/admin/v1/updates", tc.body, tc.hdr...)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, resp.StatusCode, tc.status, body)
		}
		var ae apiError
		if json.Unmarshal(body, &ae) != nil || ae.Error.Message == "" {
			t.Errorf("%s: not a JSON error: %s", tc.name, body)
		}
		if cur := e.srv.live.Current(); cur != "r1" {
			t.Fatalf("%s: serving %q after a refused update", tc.name, cur)
		}
	}
	// Oversized without a Content-Length (chunked): cut off while read.
	req, _ := http.NewRequest("POST", e.ts.URL+"/admin/v1/updates", io.NopCloser(io.LimitReader(zeros{}, 3<<20)))
	req.Header.Set("Authorization", "Bearer "+testToken)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Errorf("chunked oversized: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("chunked oversized: status %d, want 413", resp.StatusCode)
		}
	}
	time.Sleep(200 * time.Millisecond)
	failures, lat := l.finish()
	if len(failures) > 0 {
		t.Fatalf("%d failed requests during hostile updates, e.g. %v", len(failures), failures)
	}
	if len(lat) == 0 {
		t.Fatal("no requests served")
	}
	after, _ := e.fx.store.State()
	if after.Current != before.Current || after.Previous != before.Previous || after.Pending != "" || after.Versions != before.Versions {
		t.Fatalf("state changed by refused updates: %+v → %+v", before, after)
	}
	objs, _ := os.ReadDir(filepath.Join(e.fx.store.Dir(), update.ObjectsDir))
	for _, o := range objs {
		if strings.HasPrefix(o.Name(), ".") {
			t.Errorf("leftover temporary %s", o.Name())
		}
	}
	ups, _ := filepath.Glob(filepath.Join(e.fx.store.Dir(), ".tmp-upload-*"))
	if len(ups) != 0 {
		t.Errorf("upload temporaries left: %v", ups)
	}
	t.Logf("%d requests served during the hostile updates, none failed", len(lat))
}

// mapsCount counts the lines of /proc/self/maps naming a file under dir.
func mapsCount(t testing.TB, dir string) (int, []string) {
	data, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skip("no /proc/self/maps")
	}
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, dir) {
			lines = append(lines, l)
		}
	}
	return len(lines), lines
}

// rssKiB is the process's resident set (VmRSS) after returning freed heap
// to the OS, so that what is left is what the process still holds.
func rssKiB(t testing.TB) int {
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	t.Skip("no VmRSS")
	return 0
}

func fdCount(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// TestSwapUnderLoad: closed-loop clients while releases are swapped in
// through the admin API. Zero failed requests, zero responses mixing
// releases, and p99 during swaps within 1.5× of p99 without them (plus 2
// ms for timer noise on a loaded machine).
func TestSwapUnderLoad(t *testing.T) {
	clients, phase, every := 8, 4*time.Second, 500*time.Millisecond
	if os.Getenv("BAREWIRE_SOAK") == "1" {
		phase, every = 20*time.Second, 2*time.Second
	} else if testing.Short() {
		phase = 2 * time.Second
	}
	e := newEnv(t, 2*time.Millisecond, func(c *Config) { c.Concurrency = clients })
	// The latency bound is about this code, but the machine is shared: a
	// burst of other work in one window can break it. Correctness (no
	// failed, no mixed response, unmapping) fails at once; the latency
	// bound gets up to three attempts, each with fresh releases.
	for attempt := 1; ; attempt++ {
		within := swapLoadAttempt(t, e, attempt, clients, phase, every)
		if t.Failed() || within {
			return
		}
		if attempt == 3 {
			t.Fatal("p99 with swaps above 1.5 × p99 without (+2 ms) in three attempts")
		}
		t.Logf("attempt %d: latency bound missed; measuring again", attempt)
	}
}

// swapLoadAttempt runs one measurement and reports whether the latency
// bound held.
func swapLoadAttempt(t *testing.T, e *env, attempt, clients int, phase, every time.Duration) bool {
	// Bundles are built before the load starts, so that building them
	// (signing, writing test files) is not counted against the swaps.
	// Components are 1 MiB files, really mapped and warmed.
	n := 2*int(phase/(2*every)) + 1
	bundles := make([][]byte, n)
	for i := range bundles {
		id := fmt.Sprintf("a%d-r%d", attempt, i+1)
		p, keys := e.fx.bundle(id, releaseSlots(i+1), 1<<20)
		bundles[i], _ = os.ReadFile(p)
		e.mu.Lock()
		e.expect[id] = keys
		e.mu.Unlock()
	}
	if resp, body := e.do("POST", "/admin/v1/updates", string(bundles[0]), "Authorization", "Bearer "+testToken); resp.StatusCode != 200 {
		t.Fatalf("update: %d %s", resp.StatusCode, body)
	}
	l := startLoad(e, clients, `{"prompt":"x","max_tokens":6}`)
	bundles = bundles[1:]
	time.Sleep(200 * time.Millisecond) // connections set up
	// Blocks without and with swaps alternate (each 2 × every long, two
	// swaps per swap block), so that both see the same background noise
	// of a shared machine; phase is the total time of each kind.
	block := 2 * every
	var baseWin, swapWin [][2]time.Time
	swaps := 0
	var maxUnmap time.Duration
	for k := 0; k < int(phase/block); k++ {
		b0 := time.Now()
		time.Sleep(block)
		baseWin = append(baseWin, [2]time.Time{b0, time.Now()})
		s0 := time.Now()
		for j := 0; j < 2 && swaps < len(bundles); j++ {
			time.Sleep(time.Until(s0.Add(time.Duration(j) * every)))
			prev := e.srv.live.Current()
			resp, body := e.do("POST", "/admin/v1/updates", string(bundles[swaps]), "Authorization", "Bearer "+testToken)
			if resp.StatusCode != 200 {
				t.Errorf("swap %d: %d %s", swaps, resp.StatusCode, body)
			}
			swaps++
			// The replaced release's own block file leaves
			// /proc/self/maps within the drain timeout (2 s here).
			e.mu.Lock()
			oldBlock := e.expect[prev]["block.0"]
			e.mu.Unlock()
			swapped := time.Now()
			for {
				if n, _ := mapsCount(t, oldBlock); n == 0 {
					break
				}
				if time.Since(swapped) > 2*time.Second {
					t.Errorf("swap %d: %s's block still mapped 2 s after the swap", swaps, prev)
					break
				}
				// Not faster: reading /proc/self/maps takes CPU from the
				// clients being measured.
				time.Sleep(5 * time.Millisecond)
			}
			maxUnmap = max(maxUnmap, time.Since(swapped))
		}
		time.Sleep(time.Until(s0.Add(block)))
		swapWin = append(swapWin, [2]time.Time{s0, time.Now()})
	}
	failures, lat := l.finish()
	var base, during []time.Duration
	for _, w := range baseWin {
		base = append(base, durations(lat, w[0], w[1])...)
	}
	for _, w := range swapWin {
		during = append(during, durations(lat, w[0], w[1])...)
	}
	p50b, p99b := percentile(base, .5), percentile(base, .99)
	p50s, p99s := percentile(during, .5), percentile(during, .99)
	t.Logf("swap under load: %d clients, %d swaps every %v over %v, alternating with %v without swaps", clients, swaps, every, phase, phase)
	t.Logf("  without swaps: %d requests, p50 %v, p99 %v", len(base), p50b.Round(10*time.Microsecond), p99b.Round(10*time.Microsecond))
	t.Logf("  with swaps:    %d requests, p50 %v, p99 %v", len(during), p50s.Round(10*time.Microsecond), p99s.Round(10*time.Microsecond))
	t.Logf("  failed requests: %d (of %d); old block file out of /proc/self/maps within %v of each swap", len(failures), l.requests.Load(), maxUnmap.Round(100*time.Microsecond))
	if len(failures) > 0 {
		t.Fatalf("%d failed or mixed responses, e.g. %v", len(failures), failures)
	}
	if swaps < 3 || len(base) < 100 || len(during) < 100 {
		t.Fatalf("too little happened: %d swaps, %d and %d requests", swaps, len(base), len(during))
	}
	if e.eng.useAfter.Load() != 0 {
		t.Fatalf("%d reads of closed components", e.eng.useAfter.Load())
	}
	if raceEnabled {
		t.Logf("  latency bound not checked under the race detector")
		return true
	}
	if limit := p99b*3/2 + 2*time.Millisecond; p99s > limit {
		t.Logf("  p99 with swaps %v > 1.5 × p99 without (%v) + 2 ms", p99s, p99b)
		return false
	}
	return true
}

// TestNoLeaksAfterManySwaps swaps 200 times (applying the update through
// the store each time) and checks that mappings of store files, open file
// descriptors, goroutines and the resident set stay flat, and that only the
// live release's components remain mapped.
func TestNoLeaksAfterManySwaps(t *testing.T) {
	swaps := 200
	e := newEnv(t, 0, nil)
	dir := e.fx.store.Dir()
	// Eight releases cycling; each bundle carries a later metadata version.
	ctx := context.Background()
	apply := func(i int) {
		id := fmt.Sprintf("c%d", i%8)
		p, keys := e.fx.bundle(id, releaseSlots(i%8), 16<<10)
		e.mu.Lock()
		e.expect[id] = keys
		e.mu.Unlock()
		if _, err := e.srv.ApplyBundle(ctx, p); err != nil {
			t.Fatalf("swap %d (%s): %v", i, id, err)
		}
		os.Remove(p)
	}
	apply(0)
	apply(1)
	http.DefaultClient.CloseIdleConnections()
	runtime.GC()
	maps0, _ := mapsCount(t, dir)
	fds0, g0, rss0 := fdCount(t), runtime.NumGoroutine(), rssKiB(t)
	for i := 2; i < swaps+2; i++ {
		apply(i)
		if i%20 == 0 {
			// A request in between, so swaps drain pinned releases too.
			if resp, body := e.do("POST", "/v1/completions", `{"prompt":"x","max_tokens":3}`); resp.StatusCode != 200 {
				t.Fatalf("request: %d %s", resp.StatusCode, body)
			}
		}
	}
	http.DefaultClient.CloseIdleConnections()
	runtime.GC()
	time.Sleep(50 * time.Millisecond)
	maps1, lines := mapsCount(t, dir)
	fds1, g1, rss1 := fdCount(t), runtime.NumGoroutine(), rssKiB(t)
	t.Logf("after %d swaps: store mappings %d → %d, fds %d → %d, goroutines %d → %d, RSS %d → %d KiB", swaps, maps0, maps1, fds0, fds1, g0, g1, rss0, rss1)
	// Each swap maps three 16 KiB components; 200 swaps that leaked them
	// would hold 9.4 MiB.
	if rss1 > rss0+4<<10 {
		t.Errorf("resident set grew %d → %d KiB", rss0, rss1)
	}
	if maps1 != maps0 || maps1 != 3 {
		t.Errorf("store mappings %d → %d, want 3 (the live release's components):\n%s", maps0, maps1, strings.Join(lines, "\n"))
	}
	if fds1 > fds0+2 {
		t.Errorf("open fds grew %d → %d", fds0, fds1)
	}
	if g1 > g0+3 {
		t.Errorf("goroutines grew %d → %d", g0, g1)
	}
	if n := e.eng.open.Load(); n != 3 {
		t.Errorf("%d components open, want 3", n)
	}
	if st := e.srv.live.Stats(); len(st.Draining) != 0 || st.Swaps != int64(swaps)+3 {
		t.Errorf("live stats %+v", st)
	}
	liveDirs, _ := os.ReadDir(filepath.Join(dir, LiveDir))
	if len(liveDirs) > 2 {
		t.Errorf("%d release directories left under live/, want current and previous", len(liveDirs))
	}
}

// TestOldFileUnmappedAfterDrain: a request pinning the old release keeps
// its file mapped across the swap (and past the drain timeout, raising the
// alarm, never force-unmapping); when it ends the file leaves
// /proc/self/maps.
func TestOldFileUnmappedAfterDrain(t *testing.T) {
	e := newEnv(t, 10*time.Millisecond, func(c *Config) { c.DrainTimeout = 150 * time.Millisecond })
	if resp, body := e.update("r1", releaseSlots(1)); resp.StatusCode != 200 {
		t.Fatalf("update: %d %s", resp.StatusCode, body)
	}
	oldBlock := e.expect["r1"]["block.0"]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", e.ts.URL+"/v1/completions", strings.NewReader(`{"prompt":"x","max_tokens":60,"stream":true}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	release := resp.Header.Get("X-Barewire-Release")
	done := make(chan []string)
	complete := make(chan bool, 1)
	go func() {
		ev, ok := readSSE(t, resp.Body)
		resp.Body.Close()
		complete <- ok
		done <- ev
	}()
	time.Sleep(50 * time.Millisecond)
	if r, body := e.update("r2", releaseSlots(2)); r.StatusCode != 200 {
		t.Fatalf("update: %d %s", r.StatusCode, body)
	}
	if n, _ := mapsCount(t, oldBlock); n == 0 {
		t.Fatal("old component unmapped while a request pins it")
	}
	time.Sleep(300 * time.Millisecond) // past the drain timeout
	_, body := e.do("GET", "/metrics", "")
	if metricValue(string(body), "barewire_drain_alarm") != 1 || metricValue(string(body), "barewire_drain_alarms_total") != 1 {
		t.Fatalf("no drain alarm:\n%s", grepLines(string(body), "drain"))
	}
	if n, _ := mapsCount(t, oldBlock); n == 0 {
		t.Fatal("old component force-unmapped on drain timeout")
	}
	ok := <-complete
	events := <-done
	if !ok || len(events) < 60 {
		t.Fatalf("pinned stream ended after %d events (want 60 and [DONE]; [DONE] seen: %v)", len(events), ok)
	}
	var text strings.Builder
	for _, ev := range events {
		var c completion
		json.Unmarshal([]byte(ev), &c)
		if c.SystemFingerprint != "r1" {
			t.Fatalf("pinned stream switched release: %s", ev)
		}
		text.WriteString(c.Choices[0].Text)
	}
	if err := e.checkResponse("r1", release, text.String()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for {
		n, lines := mapsCount(t, oldBlock)
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("old component still mapped after its last request:\n%s", strings.Join(lines, "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, body = e.do("GET", "/metrics", "")
	if metricValue(string(body), "barewire_drain_alarm") != 0 {
		t.Fatal("alarm still raised after draining")
	}
}

func TestUpdateConcurrentIsBusy(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.srv.updateMu.Lock()
	resp, body := e.update("r1", releaseSlots(1))
	e.srv.updateMu.Unlock()
	if resp.StatusCode != 409 {
		t.Fatalf("concurrent update: %d %s", resp.StatusCode, body)
	}
	if !strings.Contains(string(body), `"conflict_error"`) || !strings.Contains(string(body), ErrBusy.Error()) {
		t.Fatalf("concurrent update: body %s does not name the busy conflict", body)
	}
	if e.srv.live.Current() != "r0" {
		t.Fatal("busy update changed the release")
	}
}

// shapedEngine is the fake engine with ModelShaper: it describes every
// release as arch "fake" with the tensors given, or fails with err.
type shapedEngine struct {
	*fakeEngine
	tensors []update.TensorShape
	err     error
}

func (e *shapedEngine) Shapes(*Release) (string, []update.TensorShape, error) {
	return "fake", e.tensors, e.err
}

// With an engine that describes models, a bundle pushed while the command
// line's model is live is checked against that model (the fixture's
// releases have tensors that one-tensor model lacks), not by the store's
// own check; an engine that cannot describe
// it refuses bundles, naming why; with an engine that does not describe
// models the store's own check (here a counting one) decides.
func TestOutsideModelCheck(t *testing.T) {
	for _, c := range []struct {
		name string
		eng  Engine
		want string // "" : taken
	}{
		{"described", &shapedEngine{fakeEngine: newFakeEngine(0), tensors: []update.TensorShape{{Name: "w", DType: "t2", Shape: []int64{4, 4}}}},
			`tensor "block.0.weight" unknown to the model being served (r0, /models/r0)`},
		{"undescribed", &shapedEngine{fakeEngine: newFakeEngine(0), err: errors.New("no header")},
			`the model being served (r0, /models/r0) cannot be described, so no bundle can be checked against it: no header`},
		{"no shaper", newFakeEngine(0), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			fx := newFixture(t)
			calls := 0
			fx.store.SetCompat(func(running, next *update.ReleaseManifest) error {
				calls++
				return update.SameShapes(running, next)
			})
			srv, err := New(Config{Engine: c.eng, Store: fx.store, TrustedRoot: fx.root, DrainTimeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Start(context.Background(), Source{ID: "r0", Path: "/models/r0"}); err != nil {
				t.Fatal(err)
			}
			defer srv.Close(context.Background())
			p, _ := fx.bundle("r1", releaseSlots(1), 64)
			_, err = srv.ApplyBundle(context.Background(), p)
			if c.want == "" {
				if err != nil || srv.Live().Current() != "r1" || calls != 1 {
					t.Fatalf("bundle: %v, live %q, store check called %d times, want r1 live after one", err, srv.Live().Current(), calls)
				}
				return
			}
			if !errors.Is(err, update.ErrShape) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("bundle against the served model: %v, want ErrShape and %q", err, c.want)
			}
			if srv.Live().Current() != "r0" || calls != 0 {
				t.Fatalf("live %q, store check called %d times", srv.Live().Current(), calls)
			}
		})
	}
}
