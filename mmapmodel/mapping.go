package mmapmodel

import (
	"fmt"
	"os"
	"sync/atomic"

	mmap "github.com/edsrzf/mmap-go"
)

// mapping is one read-only file mapping shared by a File and every view
// made from it. refs counts the File's own reference plus one per live
// view; the bytes are unmapped when it drops to zero, never before, so a
// view can outlive Model.Close (a request that pinned the old release of a
// hot swap keeps reading it until it finishes).
type mapping struct {
	path     string
	data     mmap.MMap
	refs     atomic.Int64
	unmapped atomic.Bool
	unmapErr error
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
	m := &mapping{path: path}
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
	m.unmapped.Store(true)
	if m.data != nil {
		m.unmapErr = m.data.Unmap()
		m.data = nil
	}
	return m.unmapErr
}
