package mmapmodel

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	mmap "github.com/edsrzf/mmap-go"
)

// mapping is one read-only file mapping shared by a File and every view
// made from it. refs counts the File's own reference plus one per live
// view; the bytes are unmapped when it drops to zero, never before, so a
// view can outlive Model.Close (a request that pinned the old release of a
// hot swap keeps reading it until it finishes).
//
// Mappings are also shared between opens: a file that is already mapped
// (the same device, inode, size and modification time — component files
// are immutable and named by content, so a release that reuses a
// component reuses its file) is not mapped again, and each open takes a
// reference. Replacing one component of a release therefore maps one new
// file, and the unchanged components keep their single mapping.
type mapping struct {
	path     string
	key      fileKey
	data     mmap.MMap
	refs     atomic.Int64
	unmapped atomic.Bool
	unmapErr error
}

// fileKey identifies a file's contents for sharing a mapping.
type fileKey struct {
	dev, ino uint64
	size     int64
	mtime    int64 // nanoseconds
}

// shared holds every live mapping by file identity.
var shared = struct {
	sync.Mutex
	byKey map[fileKey]*mapping
}{byKey: make(map[fileKey]*mapping)}

// sharedMapping returns a live mapping of the file with key k, with a
// reference taken for the caller, or nil.
func sharedMapping(k fileKey) *mapping {
	shared.Lock()
	defer shared.Unlock()
	if m := shared.byKey[k]; m != nil && m.acquire() {
		return m
	}
	return nil
}

// SharedMappings reports how many files are mapped at present (each once,
// however many Models hold them).
func SharedMappings() int {
	shared.Lock()
	defer shared.Unlock()
	return len(shared.byKey)
}

func mapFile(path string) (*mapping, *os.File, uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, 0, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		what := "not a regular file"
		if st.IsDir() {
			what = "a directory, not a model file"
		}
		return nil, nil, 0, formatErr(path, "", "", "%s", what)
	}
	size := uint64(st.Size())
	if err := checkMappable(path, size); err != nil {
		f.Close()
		return nil, nil, 0, err
	}
	key, keyed := identity(st)
	if keyed && size >= PreambleSize {
		if m := sharedMapping(key); m != nil {
			return m, f, size, nil
		}
	}
	m := &mapping{path: path, key: key}
	if size >= PreambleSize {
		// Map the whole file: mapping is lazy, so this reads nothing; the
		// parse touches the preamble and header pages only.
		m.data, err = mmap.Map(f, mmap.RDONLY, 0)
		if err != nil {
			f.Close()
			return nil, nil, 0, fmt.Errorf("%s: mmap: %w", path, err)
		}
	}
	m.refs.Store(1)
	if keyed && m.data != nil {
		shared.Lock()
		// Another open may have mapped the same file meanwhile; the later
		// one is then simply not shared.
		if _, dup := shared.byKey[key]; !dup {
			shared.byKey[key] = m
		}
		shared.Unlock()
	}
	return m, f, size, nil
}

// acquire takes a reference for a view; it fails once the mapping is gone.
func (m *mapping) acquire() bool {
	for {
		n := m.refs.Load()
		if n <= 0 {
			return false
		}
		if m.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference and unmaps on the last one.
func (m *mapping) release() error {
	n := m.refs.Add(-1)
	if n > 0 {
		return nil
	}
	if n < 0 {
		panic("mmapmodel: mapping released more often than acquired")
	}
	shared.Lock()
	if shared.byKey[m.key] == m {
		delete(shared.byKey, m.key)
	}
	shared.Unlock()
	m.unmapped.Store(true)
	if m.data != nil {
		m.unmapErr = m.data.Unmap()
		m.data = nil
	}
	return m.unmapErr
}
