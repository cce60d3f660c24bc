package live

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeComp is a component that records its release and whether it was
// closed; reading a closed one is the use-after-unmap the package exists
// to prevent.
type fakeComp struct {
	key    string
	closed atomic.Int32
	log    *closeLog
}

func (c *fakeComp) Close() error {
	if c.closed.Add(1) != 1 {
		panic("component " + c.key + " closed twice")
	}
	if c.log != nil {
		c.log.add(c.key)
	}
	return nil
}

type closeLog struct {
	mu   sync.Mutex
	keys []string
}

func (l *closeLog) add(k string) {
	l.mu.Lock()
	l.keys = append(l.keys, k)
	l.mu.Unlock()
}

func (l *closeLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.keys...)
}

// build makes release id whose slots map to the given keys, opening (or
// sharing) fake components through set.
func build(t testing.TB, set *Mappings[*fakeComp], id string, slots map[string]string, log *closeLog, opened *[]*fakeComp) *Release[*fakeComp] {
	t.Helper()
	ms := map[string]*Mapping[*fakeComp]{}
	for slot, key := range slots {
		m, err := set.Get(key, func() (*fakeComp, error) {
			c := &fakeComp{key: key, log: log}
			if opened != nil {
				*opened = append(*opened, c)
			}
			return c, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		ms[slot] = m
	}
	r, err := NewRelease(id, ms)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAcquireBeforeAndAfter(t *testing.T) {
	l := New(Options[*fakeComp]{})
	if _, _, err := l.Acquire(); !errors.Is(err, ErrNoRelease) {
		t.Fatalf("Acquire with nothing live: %v, want ErrNoRelease", err)
	}
	set := NewMappings[*fakeComp](nil)
	r := build(t, set, "r1", map[string]string{"head": "h1"}, nil, nil)
	if _, err := l.Swap(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Swap(context.Background(), r); !errors.Is(err, ErrUsed) {
		t.Fatalf("second swap of the same release: %v, want ErrUsed", err)
	}
	got, done, err := l.Acquire()
	if err != nil || got.ID() != "r1" {
		t.Fatalf("Acquire: %v %v", got, err)
	}
	done()
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Acquire(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Acquire after Close: %v, want ErrClosed", err)
	}
	if c, _ := r.Component("head"); c.closed.Load() != 1 {
		t.Fatal("component not closed by Close")
	}
	if set.Len() != 0 {
		t.Fatalf("%d mappings left after Close", set.Len())
	}
}

// TestCloseOrder: the old release's own components close when its last pin
// goes, not at the swap; a component shared with the new release stays.
func TestCloseOrder(t *testing.T) {
	log := &closeLog{}
	var closedIDs []string
	var mu sync.Mutex
	l := New(Options[*fakeComp]{OnClosed: func(id string, _ time.Duration, err error) {
		mu.Lock()
		closedIDs = append(closedIDs, id)
		mu.Unlock()
		if err != nil {
			t.Error(err)
		}
	}})
	set := NewMappings[*fakeComp](nil)
	r1 := build(t, set, "r1", map[string]string{"embed": "E", "block.0": "B1", "head": "H"}, log, nil)
	if _, err := l.Swap(context.Background(), r1); err != nil {
		t.Fatal(err)
	}
	pinned, unpin, _ := l.Acquire()
	r2 := build(t, set, "r2", map[string]string{"embed": "E", "block.0": "B2", "head": "H"}, log, nil)
	if old, err := l.Swap(context.Background(), r2); err != nil || old != "r1" {
		t.Fatalf("swap: %q %v", old, err)
	}
	if set.Len() != 4 {
		t.Fatalf("mapped %v, want E B1 B2 H", set.Keys())
	}
	if got := log.list(); len(got) != 0 {
		t.Fatalf("closed %v while r1 is pinned", got)
	}
	if c, _ := pinned.Component("block.0"); c.key != "B1" || c.closed.Load() != 0 {
		t.Fatal("pinned release lost its component")
	}
	if l.Stats().Draining[0].ID != "r1" {
		t.Fatalf("stats: %+v", l.Stats())
	}
	unpin()
	<-r1.Drained()
	if got := log.list(); len(got) != 1 || got[0] != "B1" {
		t.Fatalf("closed %v after r1 drained, want only B1", got)
	}
	if e, _ := r2.Mapping("embed"); e.Refs() != 1 {
		t.Fatalf("shared embed refs %d, want 1", e.Refs())
	}
	// A swap with nobody pinned closes synchronously.
	r3 := build(t, set, "r3", map[string]string{"embed": "E2", "block.0": "B2", "head": "H"}, log, nil)
	if _, err := l.Swap(context.Background(), r3); err != nil {
		t.Fatal(err)
	}
	if got := log.list(); len(got) != 2 || got[1] != "E" {
		t.Fatalf("closed %v, want B1 then E", got)
	}
	if len(l.Stats().Draining) != 0 {
		t.Fatalf("draining %+v", l.Stats().Draining)
	}
	mu.Lock()
	if fmt.Sprint(closedIDs) != "[r1 r2]" {
		t.Fatalf("OnClosed order %v", closedIDs)
	}
	mu.Unlock()
	l.Close(context.Background())
	if set.Len() != 0 {
		t.Fatalf("left mapped: %v", set.Keys())
	}
}

// TestDrainTimeoutAlarm: a pin held past the drain timeout raises the alarm
// and the release stays mapped until the pin goes.
func TestDrainTimeoutAlarm(t *testing.T) {
	alarm := make(chan string, 1)
	l := New(Options[*fakeComp]{
		DrainTimeout:   30 * time.Millisecond,
		OnDrainTimeout: func(id string, pins int64) { alarm <- fmt.Sprintf("%s:%d", id, pins) },
	})
	set := NewMappings[*fakeComp](nil)
	r1 := build(t, set, "r1", map[string]string{"head": "H1"}, nil, nil)
	l.Swap(context.Background(), r1)
	_, unpin, _ := l.Acquire()
	l.Swap(context.Background(), build(t, set, "r2", map[string]string{"head": "H2"}, nil, nil))
	select {
	case got := <-alarm:
		if got != "r1:1" {
			t.Fatalf("alarm %q, want r1:1", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no drain alarm")
	}
	c, _ := r1.Component("head")
	if c.closed.Load() != 0 {
		t.Fatal("release force-closed on drain timeout")
	}
	if d := l.Stats().Draining; len(d) != 1 || !d[0].Alarmed {
		t.Fatalf("stats draining %+v", d)
	}
	// New requests get r2 meanwhile.
	r, done, _ := l.Acquire()
	if r.ID() != "r2" {
		t.Fatalf("Acquire during drain got %s", r.ID())
	}
	done()
	unpin()
	if c.closed.Load() != 1 {
		t.Fatal("release not closed after its last pin")
	}
	l.Close(context.Background())
}

func TestSwapCheckFailureKeepsCurrent(t *testing.T) {
	bad := errors.New("canary failed")
	l := New(Options[*fakeComp]{Check: func(_ context.Context, r *Release[*fakeComp]) error {
		if r.ID() == "bad" {
			return bad
		}
		return nil
	}})
	set := NewMappings[*fakeComp](nil)
	l.Swap(context.Background(), build(t, set, "good", map[string]string{"head": "G"}, nil, nil))
	b := build(t, set, "bad", map[string]string{"head": "B"}, nil, nil)
	if _, err := l.Swap(context.Background(), b); !errors.Is(err, bad) {
		t.Fatalf("swap: %v", err)
	}
	if l.Current() != "good" {
		t.Fatalf("current %q after a failed check", l.Current())
	}
	if err := b.Discard(); err != nil {
		t.Fatal(err)
	}
	if c, _ := b.Component("head"); c.closed.Load() != 1 {
		t.Fatal("discarded release not closed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := build(t, set, "late", map[string]string{"head": "L"}, nil, nil)
	if _, err := l.Swap(ctx, c); !errors.Is(err, context.Canceled) || l.Current() != "good" {
		t.Fatalf("swap with a cancelled context: %v, current %q", err, l.Current())
	}
	c.Discard()
	l.Close(context.Background())
	if set.Len() != 0 {
		t.Fatalf("left mapped: %v", set.Keys())
	}
}

// TestHammer: readers pin and read every component while releases that
// share some components are swapped in a loop. Each reader checks that
// every component of its release belongs to it and is not closed; at the
// end every component was closed exactly once.
func TestHammer(t *testing.T) {
	swaps := 2000
	if testing.Short() {
		swaps = 300
	}
	set := NewMappings[*fakeComp](nil)
	var opened []*fakeComp
	l := New(Options[*fakeComp]{})
	slotsOf := func(i int) map[string]string {
		// embed changes every 7th release, block.0 every release, head never.
		return map[string]string{"embed": fmt.Sprintf("E%d", i/7), "block.0": fmt.Sprintf("B%d", i), "head": "H"}
	}
	l.Swap(context.Background(), build(t, set, "r0", slotsOf(0), nil, &opened))
	var stop atomic.Bool
	var reads atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				r, done, err := l.Acquire()
				if err != nil {
					t.Error(err)
					return
				}
				var i int
				fmt.Sscanf(r.ID(), "r%d", &i)
				want := slotsOf(i)
				for _, s := range r.Slots() {
					c, _ := r.Component(s)
					if c.closed.Load() != 0 {
						t.Errorf("%s: read closed component %s", r.ID(), c.key)
					}
					if c.key != want[s] {
						t.Errorf("%s: slot %s holds %s, want %s", r.ID(), s, c.key, want[s])
					}
				}
				runtime.Gosched()
				done()
				reads.Add(1)
			}
		}()
	}
	for i := 1; i <= swaps; i++ {
		if _, err := l.Swap(context.Background(), build(t, set, fmt.Sprintf("r%d", i), slotsOf(i), nil, &opened)); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, c := range opened {
		if c.closed.Load() != 1 {
			t.Errorf("component %s closed %d times", c.key, c.closed.Load())
		}
	}
	if set.Len() != 0 {
		t.Fatalf("left mapped: %v", set.Keys())
	}
	if st := l.Stats(); st.Swaps != int64(swaps)+1 || len(st.Draining) != 0 {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("%d swaps, %d pinned reads, %d components opened", swaps, reads.Load(), len(opened))
}

func TestAcquireDoesNotAllocate(t *testing.T) {
	l := New(Options[*fakeComp]{})
	set := NewMappings[*fakeComp](nil)
	l.Swap(context.Background(), build(t, set, "r1", map[string]string{"head": "H"}, nil, nil))
	allocs := testing.AllocsPerRun(1000, func() {
		r, done, _ := l.Acquire()
		if _, ok := r.Component("head"); !ok {
			t.Fatal("no head")
		}
		done()
	})
	if allocs != 0 {
		t.Fatalf("Acquire+Component+release: %v allocations, want 0", allocs)
	}
	l.Close(context.Background())
}

func BenchmarkAcquire(b *testing.B) {
	l := New(Options[*fakeComp]{})
	set := NewMappings[*fakeComp](nil)
	l.Swap(context.Background(), build(b, set, "r1", map[string]string{"head": "H"}, nil, nil))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, done, _ := l.Acquire()
			done()
		}
	})
}
