package serve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/speakez/barewire/update"
	"github.com/speakez/barewire/update/live"
)

// fakeComponent is one slot's component. When it comes from the store its
// file is really mapped (read-only, shared), so the leak tests can watch
// /proc/self/maps; reading it after Close would fault, and the closed flag
// turns that into a test failure first.
type fakeComponent struct {
	key    string
	data   []byte // the mapping, or nil
	closed atomic.Bool
	eng    *fakeEngine
}

func (c *fakeComponent) Close() error {
	if c.closed.Swap(true) {
		return errors.New("closed twice")
	}
	c.eng.open.Add(-1)
	if c.data != nil {
		return unix.Munmap(c.data)
	}
	return nil
}

// fakeEngine generates one token per step; token i reads the component of
// slot i mod n and its text is "slot=key;". A response therefore names
// every component it touched, and a test can check that all of them
// belong to the release in system_fingerprint.
type fakeEngine struct {
	maps      *live.Mappings[Component]
	tokenTime time.Duration // per generated token
	open      atomic.Int64  // components open
	failCheck func(id string) bool
	useAfter  atomic.Int64 // reads of a closed component (must stay 0)

	mu      sync.Mutex
	opened  int
	classes int
}

func newFakeEngine(tokenTime time.Duration) *fakeEngine {
	return &fakeEngine{maps: live.NewMappings[Component](nil), tokenTime: tokenTime, classes: 3}
}

func (e *fakeEngine) Open(ctx context.Context, src Source) (*Release, error) {
	slots := map[string]string{}
	if src.Manifest != nil {
		for s, c := range src.Manifest.Slots {
			slots[s] = c.SHA256
		}
	} else {
		slots["model"] = "path:" + src.Path
	}
	ms := map[string]*live.Mapping[Component]{}
	fail := func(err error) (*Release, error) {
		for _, m := range ms {
			m.Release()
		}
		return nil, err
	}
	for slot, key := range slots {
		m, err := e.maps.Get(key, func() (Component, error) {
			c := &fakeComponent{key: key, eng: e}
			if src.ObjectPath != nil {
				f, err := os.Open(src.ObjectPath(key))
				if err != nil {
					return nil, err
				}
				st, _ := f.Stat()
				c.data, err = unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
				f.Close()
				if err != nil {
					return nil, err
				}
			}
			e.open.Add(1)
			e.mu.Lock()
			e.opened++
			e.mu.Unlock()
			return c, nil
		})
		if err != nil {
			return fail(err)
		}
		ms[slot] = m
	}
	r, err := live.NewRelease(src.ID, ms)
	if err != nil {
		return fail(err)
	}
	return r, nil
}

func (e *fakeEngine) Warm(ctx context.Context, r *Release) error {
	for _, s := range r.Slots() {
		c, _ := r.Component(s)
		if d := c.(*fakeComponent).data; d != nil {
			unix.Madvise(d, unix.MADV_WILLNEED)
			var sum byte
			for i := 0; i < len(d); i += 4096 {
				sum += d[i]
			}
			_ = sum
		}
	}
	return nil
}

func (e *fakeEngine) Check(ctx context.Context, r *Release) error {
	if e.failCheck != nil && e.failCheck(r.ID()) {
		return errors.New("canary output wrong")
	}
	_, err := e.Complete(ctx, r, "check", GenParams{MaxTokens: 1}, func([]byte) error { return nil })
	return err
}

func (e *fakeEngine) Info(r *Release) ModelInfo {
	return ModelInfo{Arch: "fake", Generates: true, Classifies: true, Classes: e.classes}
}

func (e *fakeEngine) read(r *Release, slot string) (string, error) {
	comp, _ := r.Component(slot)
	c := comp.(*fakeComponent)
	if c.closed.Load() {
		e.useAfter.Add(1)
		return "", fmt.Errorf("release %s slot %s: component %s read after close", r.ID(), slot, c.key)
	}
	if len(c.data) > 0 {
		_ = c.data[len(c.data)/2]
	}
	return c.key, nil
}

func (e *fakeEngine) Complete(ctx context.Context, r *Release, prompt string, p GenParams, emit func([]byte) error) (Finish, error) {
	slots := r.Slots()
	fin := Finish{Reason: "length", PromptTokens: len(prompt)/4 + 1}
	var t *time.Timer
	if e.tokenTime > 0 {
		t = time.NewTimer(e.tokenTime)
		defer t.Stop()
	}
	for i := 0; i < p.MaxTokens; i++ {
		if t != nil {
			if i > 0 {
				t.Reset(e.tokenTime)
			}
			select {
			case <-ctx.Done():
				return fin, ctx.Err()
			case <-t.C:
			}
		} else if err := ctx.Err(); err != nil {
			return fin, err
		}
		slot := slots[i%len(slots)]
		key, err := e.read(r, slot)
		if err != nil {
			return fin, err
		}
		if err := emit([]byte(slot + "=" + key + ";")); err != nil {
			return fin, err
		}
		fin.CompletionTokens++
	}
	return fin, nil
}

func (e *fakeEngine) Classify(ctx context.Context, r *Release, x []float32) (Classification, error) {
	if len(x) == 7 {
		return Classification{}, fmt.Errorf("seven inputs: %w", ErrBadInput)
	}
	c := Classification{Scores: make([]float32, e.classes)}
	for i, s := range r.Slots() {
		key, err := e.read(r, s)
		if err != nil {
			return c, err
		}
		c.Scores[i%e.classes] += float32(len(key))
	}
	c.Label = 1
	return c, nil
}

// fixture is a store with signing keys and a helper to publish releases
// whose components are random files.
type fixture struct {
	t     testing.TB
	dir   string
	keys  string
	root  []byte
	store *update.Store
	// comps[k] is the content of component k (shared across releases by key).
	mu      sync.Mutex
	files   map[string]string // component name → source path
	hashes  map[string]string // component name → sha256
	version int64
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{t: t, dir: dir, keys: filepath.Join(dir, "keys"), files: map[string]string{}, hashes: map[string]string{}}
	if err := update.Keygen(f.keys); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.root, err = os.ReadFile(filepath.Join(f.keys, update.RootName)); err != nil {
		t.Fatal(err)
	}
	if f.store, err = update.Open(filepath.Join(dir, "state"), update.Options{}); err != nil {
		t.Fatal(err)
	}
	return f
}

// component returns the hash of component name, writing it on first use
// (size bytes derived from the name).
func (f *fixture) component(name string, size int) (string, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = fmt.Sprintf("%s-%d", name, size)
	if h, ok := f.hashes[name]; ok {
		return h, f.files[name]
	}
	data := make([]byte, size)
	seed := sha256.Sum256([]byte(name))
	for i := range data {
		data[i] = seed[i%32] ^ byte(i>>8)
	}
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	p := filepath.Join(f.dir, "src-"+name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		f.t.Fatal(err)
	}
	f.hashes[name], f.files[name] = h, p
	return h, p
}

// release describes release id with slot → component name (writing the
// components on first use) and takes the next metadata version; it returns
// the manifest, hash → file path, slot → hash and the version.
func (f *fixture) release(id string, slots map[string]string, size int) (update.ReleaseManifest, map[string]string, map[string]string, int64) {
	f.t.Helper()
	m := update.ReleaseManifest{Format: update.ManifestFormat, ID: id, Arch: "fake", Slots: map[string]update.Component{}}
	files := map[string]string{}
	keys := map[string]string{}
	for slot, name := range slots {
		h, p := f.component(name, size)
		m.Slots[slot] = update.Component{SHA256: h, Length: int64(size),
			Tensors: []update.TensorShape{{Name: slot + ".weight", DType: "i8", Shape: []int64{int64(size)}}}}
		files[h] = p
		keys[slot] = h
	}
	f.mu.Lock()
	f.version++
	v := f.version
	f.mu.Unlock()
	return m, files, keys, v
}

// bundle signs release id with slot → component name and writes the
// bundle; it returns the bundle path and slot → hash.
func (f *fixture) bundle(id string, slots map[string]string, size int) (string, map[string]string) {
	f.t.Helper()
	m, files, keys, v := f.release(id, slots, size)
	out := filepath.Join(f.dir, id+".bwb")
	if err := update.BuildBundle(f.keys, m, files, v, time.Now().Add(time.Hour), out); err != nil {
		f.t.Fatal(err)
	}
	return out, keys
}

// releaseSlots is the slot → component name layout of release i used by
// the swap tests: the head never changes, the embedding every 3rd
// release, block.0 every release, so swaps share some mappings.
func releaseSlots(i int) map[string]string {
	return map[string]string{
		"embed":   fmt.Sprintf("embed-%d", i/3),
		"block.0": fmt.Sprintf("block0-%d", i),
		"head":    "head",
	}
}

// parseTokens splits a fake engine output into slot → key, failing on a
// slot seen with two keys.
func parseTokens(text string) (map[string]string, error) {
	out := map[string]string{}
	for _, tok := range strings.Split(text, ";") {
		if tok == "" {
			continue
		}
		slot, key, ok := strings.Cut(tok, "=")
		if !ok {
			return nil, fmt.Errorf("token %q", tok)
		}
		if prev, ok := out[slot]; ok && prev != key {
			return nil, fmt.Errorf("slot %s read as %s and %s in one response", slot, prev, key)
		}
		out[slot] = key
	}
	return out, nil
}
