package live

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Release is an immutable set of components, one per slot, and an ID. It
// is built with NewRelease from mappings the caller holds, swapped in once
// (Live.Swap) or given up (Discard), and closed when retired and drained.
type Release[C Component] struct {
	id    string
	slots []string // sorted
	maps  []*Mapping[C]

	// refs is the builder's (then the holder's) reference plus one per
	// pin. The release is finished when it reaches zero.
	refs  atomic.Int64
	unpin func() // built once, so Acquire hands it out without allocating
	used  atomic.Bool

	// Set by retire before the holder's reference is dropped, read by
	// finish after the last reference is dropped (ordered by refs).
	live      *Live[C]
	retiredAt time.Time
	alarm     *time.Timer
	alarmed   atomic.Bool

	drained chan struct{}
}

// NewRelease builds release id over the given mappings (slot → mapping).
// It takes over the caller's reference on each mapping (from
// Mappings.Get); the same mapping may fill several slots only if the caller
// took one reference per slot. On error the caller keeps its references.
func NewRelease[C Component](id string, slots map[string]*Mapping[C]) (*Release[C], error) {
	if id == "" {
		return nil, errors.New("live: release with an empty id")
	}
	if len(slots) == 0 {
		return nil, fmt.Errorf("live: release %q has no components", id)
	}
	r := &Release[C]{id: id, drained: make(chan struct{})}
	for s := range slots {
		r.slots = append(r.slots, s)
	}
	slices.Sort(r.slots)
	r.maps = make([]*Mapping[C], len(r.slots))
	for i, s := range r.slots {
		if slots[s] == nil {
			return nil, fmt.Errorf("live: release %q: slot %q has no mapping", id, s)
		}
		r.maps[i] = slots[s]
	}
	r.refs.Store(1)
	r.unpin = r.drop
	return r, nil
}

// ID names the release.
func (r *Release[C]) ID() string { return r.id }

// Slots returns the slot names, sorted. The slice is shared: do not modify.
func (r *Release[C]) Slots() []string { return r.slots }

// Component returns the component filling slot. It does not allocate.
func (r *Release[C]) Component(slot string) (C, bool) {
	i, ok := slices.BinarySearch(r.slots, slot)
	if !ok {
		var zero C
		return zero, false
	}
	return r.maps[i].comp, true
}

// Mapping returns the shared mapping filling slot (for its key).
func (r *Release[C]) Mapping(slot string) (*Mapping[C], bool) {
	i, ok := slices.BinarySearch(r.slots, slot)
	if !ok {
		return nil, false
	}
	return r.maps[i], true
}

// Pins is the number of references held on the release: the holder's own
// while it is current, plus one per Acquire not yet released.
func (r *Release[C]) Pins() int64 { return r.refs.Load() }

// Drained is closed once the release is finished: retired (or discarded),
// every pin dropped, and its components released.
func (r *Release[C]) Drained() <-chan struct{} { return r.drained }

// Discard gives up a release that was never swapped in (its warm-up or
// check failed), releasing its mappings.
func (r *Release[C]) Discard() error {
	if !r.used.CompareAndSwap(false, true) {
		return fmt.Errorf("release %q: %w", r.id, ErrUsed)
	}
	r.retiredAt = time.Now()
	r.drop()
	return nil
}

// drop releases one reference; the last one finishes the release.
func (r *Release[C]) drop() {
	n := r.refs.Add(-1)
	if n > 0 {
		return
	}
	if n < 0 {
		panic("live: release " + r.id + " unpinned more often than pinned")
	}
	r.finish()
}

// finish runs once, in the goroutine that dropped the last reference: the
// request that finished last, or Swap when nobody held the old release.
// Releasing the components is munmap, a few microseconds per file, so it
// runs inline rather than on a goroutine of its own.
func (r *Release[C]) finish() {
	if r.alarm != nil {
		r.alarm.Stop()
	}
	var errs []error
	for _, m := range r.maps {
		if err := m.Release(); err != nil {
			errs = append(errs, err)
		}
	}
	err := errors.Join(errs...)
	close(r.drained)
	if r.live != nil {
		r.live.finished(r, err)
	}
}

// Mapping is a component shared by the releases that use it, with a
// reference count: it is closed when the last release holding it finishes.
type Mapping[C Component] struct {
	key  string
	comp C
	refs atomic.Int64
	set  *Mappings[C]
}

// Key is the mapping's content key (the component's hash).
func (m *Mapping[C]) Key() string { return m.key }

// Component returns the mapped component.
func (m *Mapping[C]) Component() C { return m.comp }

// Refs is the number of references held (one per release using it, plus
// any held by a builder).
func (m *Mapping[C]) Refs() int64 { return m.refs.Load() }

// Release drops one reference; the last closes the component.
func (m *Mapping[C]) Release() error {
	n := m.refs.Add(-1)
	if n > 0 {
		return nil
	}
	if n < 0 {
		panic("live: mapping " + m.key + " released more often than acquired")
	}
	if m.set != nil {
		m.set.remove(m)
	}
	err := m.comp.Close()
	if err != nil {
		err = fmt.Errorf("component %s: close: %w", m.key, err)
	}
	if m.set != nil && m.set.onClose != nil {
		m.set.onClose(m.key, err)
	}
	return err
}

// Mappings is the set of mapped components, keyed by content (the
// component's SHA-256), so that a component shared by two releases is
// mapped once. Safe for concurrent use.
type Mappings[C Component] struct {
	mu      sync.Mutex
	m       map[string]*Mapping[C]
	onClose func(key string, err error)
}

// NewMappings returns an empty set. onClose, if not nil, is called after a
// component is closed.
func NewMappings[C Component](onClose func(key string, err error)) *Mappings[C] {
	return &Mappings[C]{m: map[string]*Mapping[C]{}, onClose: onClose}
}

// Get returns the mapping for key with one reference owned by the caller
// (hand it to NewRelease, or Release it). When key is not mapped, open
// maps it. Opens are serialized; a mapping whose last reference is being
// dropped concurrently is not reused.
func (s *Mappings[C]) Get(key string, open func() (C, error)) (*Mapping[C], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.m[key]; ok {
		for {
			n := m.refs.Load()
			if n <= 0 {
				break // closing: map it again below
			}
			if m.refs.CompareAndSwap(n, n+1) {
				return m, nil
			}
		}
	}
	c, err := open()
	if err != nil {
		return nil, fmt.Errorf("component %s: %w", key, err)
	}
	m := &Mapping[C]{key: key, comp: c, set: s}
	m.refs.Store(1)
	s.m[key] = m
	return m, nil
}

// Adopt wraps an already-open component in a mapping with one reference
// owned by the caller, without entering it in any set (a component that
// is not shared, such as a whole model opened from a path).
func Adopt[C Component](key string, c C) *Mapping[C] {
	m := &Mapping[C]{key: key, comp: c}
	m.refs.Store(1)
	return m
}

func (s *Mappings[C]) remove(m *Mapping[C]) {
	s.mu.Lock()
	if s.m[m.key] == m {
		delete(s.m, m.key)
	}
	s.mu.Unlock()
}

// Len is the number of components mapped.
func (s *Mappings[C]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// Keys returns the keys of the mapped components, sorted.
func (s *Mappings[C]) Keys() []string {
	s.mu.Lock()
	keys := make([]string, 0, len(s.m))
	for k := range s.m {
		keys = append(keys, k)
	}
	s.mu.Unlock()
	slices.Sort(keys)
	return keys
}
