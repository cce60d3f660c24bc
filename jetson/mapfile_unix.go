//go:build unix

package jetson

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// MappedFile is a model file mapped read-only (PROT_READ, MAP_SHARED): the
// WeightSource for GPU placement when mmapmodel's views are not used. It can
// also map itself privately (the RegisteredPrivate fallback) and drop pages
// already copied to the device.
type MappedFile struct {
	f    *os.File
	data []byte
}

// MapFile maps path read-only. mmap returns page-aligned memory, which is
// what host registration pins (reference/jetson.md §1.3).
func MapFile(path string) (*MappedFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.Size() == 0 || st.Size() > int64(^uint(0)>>1) {
		f.Close()
		return nil, fmt.Errorf("jetson: %s: cannot map %d bytes", path, st.Size())
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("jetson: mmap %s: %w", path, err)
	}
	return &MappedFile{f: f, data: data}, nil
}

// Bytes returns the mapping.
func (m *MappedFile) Bytes() []byte { return m.data }

// MapPrivate maps the file again, PROT_READ|PROT_WRITE and MAP_PRIVATE. A
// device that cannot register read-only memory can register this one with
// default flags; the write pin then copies each page (copy on write), so the
// file itself is never written (reference/jetson.md §1.3).
func (m *MappedFile) MapPrivate() ([]byte, func() error, error) {
	b, err := unix.Mmap(int(m.f.Fd()), 0, len(m.data), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
	if err != nil {
		return nil, nil, fmt.Errorf("jetson: private mmap of %s: %w", m.f.Name(), err)
	}
	return b, func() error { return unix.Munmap(b) }, nil
}

// Evict drops the whole pages inside [off, off+n) from this mapping
// (MADV_DONTNEED); they are read from the file again if touched.
func (m *MappedFile) Evict(off, n int) error {
	ps := os.Getpagesize()
	lo := (off + ps - 1) / ps * ps
	hi := (off + n) / ps * ps
	if off+n >= len(m.data) {
		hi = len(m.data)
	}
	if hi <= lo {
		return nil
	}
	return unix.Madvise(m.data[lo:hi], unix.MADV_DONTNEED)
}

// Close unmaps the file. Release any Weights placed from it first.
func (m *MappedFile) Close() error {
	if m.data == nil {
		return nil
	}
	err := unix.Munmap(m.data)
	m.data = nil
	return errors.Join(err, m.f.Close())
}
