package live

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Component is one mapped part of a release (an embedding, a block, a
// head, or a whole model file). Close unmaps it; it is called exactly once,
// when no release uses the component any more.
type Component interface {
	Close() error
}

// Errors callers branch on.
var (
	// ErrNoRelease: nothing has been swapped in yet.
	ErrNoRelease = errors.New("no release is live")
	// ErrClosed: the Live was closed.
	ErrClosed = errors.New("live release holder closed")
	// ErrUsed: a release may be swapped in once; a retired or discarded
	// release cannot come back (its mappings may already be gone).
	ErrUsed = errors.New("release already swapped in or discarded")
)

// DefaultDrainTimeout is how long a retired release may stay pinned before
// the drain alarm is raised.
const DefaultDrainTimeout = 30 * time.Second

// Options configure a Live. Every hook is optional.
type Options[C Component] struct {
	// DrainTimeout: a retired release still pinned after this long raises
	// OnDrainTimeout. It stays mapped regardless. Default DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Warm runs before the swap, on the release being swapped in: madvise
	// WILLNEED, touching pages. A failure stops the swap.
	Warm func(ctx context.Context, r *Release[C]) error
	// Check runs after Warm: a test inference. A failure stops the swap.
	Check func(ctx context.Context, r *Release[C]) error
	// OnSwap is called after each swap with the retired release's ID ("" on
	// the first) and the new one's.
	OnSwap func(old, next string)
	// OnDrainTimeout is the alarm: release id is still pinned pins times
	// DrainTimeout after it was retired.
	OnDrainTimeout func(id string, pins int64)
	// OnClosed is called when a retired release's last pin is dropped and
	// its components were released, with how long draining took and the
	// first Close error.
	OnClosed func(id string, drained time.Duration, err error)
}

// Live holds the current release. Its methods are safe for concurrent use.
type Live[C Component] struct {
	cur atomic.Pointer[Release[C]]
	opt Options[C]

	swapMu sync.Mutex // serializes Swap and Close; held during warm-up

	// mu guards the fields below. It is held only briefly, never during
	// warm-up, so the unpin that closes a drained release never waits for
	// a swap in progress.
	mu       sync.Mutex
	closed   bool
	swaps    int64
	draining map[*Release[C]]struct{}
	alldone  chan struct{} // closed when closed and nothing is draining
}

// New returns a Live with nothing swapped in yet.
func New[C Component](opt Options[C]) *Live[C] {
	if opt.DrainTimeout <= 0 {
		opt.DrainTimeout = DefaultDrainTimeout
	}
	return &Live[C]{opt: opt, draining: map[*Release[C]]struct{}{}}
}

// Acquire pins the current release: its components stay mapped until the
// returned function is called, whatever swaps happen meanwhile. Call it
// exactly once, after the last read of mapped bytes (outputs copied out,
// response written). It allocates nothing and takes no lock.
func (l *Live[C]) Acquire() (*Release[C], func(), error) {
	for {
		r := l.cur.Load()
		if r == nil {
			if l.isClosed() {
				return nil, nil, ErrClosed
			}
			return nil, nil, ErrNoRelease
		}
		// The holder's own reference keeps a current release above zero;
		// a count of zero means r was retired and drained between the load
		// and here, and the pointer already names its successor: load
		// again. Never increment from zero (that would resurrect a closed
		// release; Badger's Table.IncrRef has the same rule).
		n := r.refs.Load()
		if n > 0 && r.refs.CompareAndSwap(n, n+1) {
			return r, r.unpin, nil
		}
	}
}

func (l *Live[C]) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Current returns the ID of the current release, or "".
func (l *Live[C]) Current() string {
	if r := l.cur.Load(); r != nil {
		return r.id
	}
	return ""
}

// Swap makes next the current release. It runs Options.Warm and
// Options.Check on next first (a failure leaves the current release
// serving and next untouched: Discard it), then stores the pointer: from
// that instant new Acquires get next, while requests that pinned the old
// release finish on it. The old release is closed when its last pin is
// dropped — immediately if none is held. Swap returns the old release's
// ID. Swaps are serialized; Acquire is never blocked by one. ctx bounds the
// warm-up and check, and a cancelled ctx stops the swap before the store.
func (l *Live[C]) Swap(ctx context.Context, next *Release[C]) (string, error) {
	if next == nil {
		return "", errors.New("live: swap to a nil release")
	}
	l.swapMu.Lock()
	defer l.swapMu.Unlock()
	if l.isClosed() {
		return "", ErrClosed
	}
	if !next.used.CompareAndSwap(false, true) {
		return "", fmt.Errorf("release %q: %w", next.id, ErrUsed)
	}
	ok := false
	defer func() {
		if !ok {
			next.used.Store(false) // still the caller's: it may Discard it
		}
	}()
	if l.opt.Warm != nil {
		if err := l.opt.Warm(ctx, next); err != nil {
			return "", fmt.Errorf("release %q: warm: %w", next.id, err)
		}
	}
	if l.opt.Check != nil {
		if err := l.opt.Check(ctx, next); err != nil {
			return "", fmt.Errorf("release %q: test inference: %w", next.id, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("release %q: swap abandoned: %w", next.id, err)
	}
	ok = true
	// The swap proper: one atomic store. The builder's reference on next
	// becomes the holder's reference.
	old := l.cur.Swap(next)
	l.mu.Lock()
	l.swaps++
	l.mu.Unlock()
	oldID := ""
	if old != nil {
		oldID = old.id
		l.retire(old)
	}
	if l.opt.OnSwap != nil {
		l.opt.OnSwap(oldID, next.id)
	}
	return oldID, nil
}

// retire drops the holder's reference on r, which no Acquire can reach any
// more, and arms the drain alarm. Called with l.mu not held.
func (l *Live[C]) retire(r *Release[C]) {
	r.retiredAt = time.Now()
	r.live = l
	l.mu.Lock()
	l.draining[r] = struct{}{}
	l.mu.Unlock()
	// The alarm is a timer, not a goroutine per swap: nothing runs unless
	// draining is slow. finish stops it.
	r.alarm = time.AfterFunc(l.opt.DrainTimeout, func() {
		if n := r.refs.Load(); n > 0 {
			r.alarmed.Store(true)
			if l.opt.OnDrainTimeout != nil {
				l.opt.OnDrainTimeout(r.id, n)
			}
		}
	})
	r.unpin()
}

// finished is called by r.finish once r's components are released.
func (l *Live[C]) finished(r *Release[C], err error) {
	l.mu.Lock()
	delete(l.draining, r)
	if l.closed && len(l.draining) == 0 && l.alldone != nil {
		select {
		case <-l.alldone:
		default:
			close(l.alldone)
		}
	}
	l.mu.Unlock()
	if l.opt.OnClosed != nil {
		l.opt.OnClosed(r.id, time.Since(r.retiredAt), err)
	}
}

// Draining describes a retired release that is still pinned.
type Draining struct {
	ID      string
	Pins    int64
	Since   time.Time
	Alarmed bool // the drain timeout passed
}

// Stats is a snapshot of the holder.
type Stats struct {
	Current  string
	Swaps    int64
	Draining []Draining // oldest first
}

// Stats returns a snapshot: the current release, the number of swaps and
// the retired releases still pinned.
func (l *Live[C]) Stats() Stats {
	st := Stats{Current: l.Current()}
	l.mu.Lock()
	defer l.mu.Unlock()
	st.Swaps = l.swaps
	for r := range l.draining {
		st.Draining = append(st.Draining, Draining{ID: r.id, Pins: r.refs.Load(), Since: r.retiredAt, Alarmed: r.alarmed.Load()})
	}
	slices.SortFunc(st.Draining, func(a, b Draining) int { return a.Since.Compare(b.Since) })
	return st
}

// Close retires the current release so that later Acquires fail with
// ErrClosed, then waits until every retired release has drained and been
// closed, or ctx is done (the releases still pinned then stay mapped and
// are closed when their pins are dropped).
func (l *Live[C]) Close(ctx context.Context) error {
	l.swapMu.Lock()
	l.mu.Lock()
	first := !l.closed
	if first {
		l.closed = true
		l.alldone = make(chan struct{})
	}
	done := l.alldone
	l.mu.Unlock()
	if first {
		if old := l.cur.Swap(nil); old != nil {
			l.retire(old)
		}
		l.mu.Lock()
		if len(l.draining) == 0 {
			select {
			case <-l.alldone:
			default:
				close(l.alldone)
			}
		}
		l.mu.Unlock()
	}
	l.swapMu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("live: close: releases still pinned: %w", ctx.Err())
	}
}
