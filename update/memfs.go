package update

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"sync"
	"time"
)

// MemFS is an in-memory FS that models the gap between the page cache and
// durable storage, for power-loss tests without root or device-mapper
// (the approach of Pebble's crashable vfs; reference/ota.md §1.13):
//
//   - a file's bytes become durable only when the file is synced;
//   - a new name, a rename or a removal becomes durable only when the
//     directory holding the name is synced (SyncDir);
//   - Crash drops everything that is not durable, as a power cut would,
//     and invalidates every open handle.
//
// A file named in a durable directory whose data was never synced comes
// back empty after Crash: ext4 may do exactly that (the zero-length file
// after rename without fsync, google/renameio:tempfile.go). Directories
// themselves are taken as durable once created; the store creates its
// directories once, at Open, and syncs their parents.
type MemFS struct {
	mu    sync.Mutex
	dirs  map[string]*memDir
	epoch int // bumped by Crash; handles of older epochs are dead
}

type memDir struct {
	live    map[string]*memInode
	durable map[string]*memInode
}

type memInode struct {
	data    []byte
	durable []byte
	mode    fs.FileMode
}

// NewMemFS returns an empty MemFS holding only the root directory "/".
func NewMemFS() *MemFS {
	m := &MemFS{dirs: map[string]*memDir{}}
	m.dirs["/"] = newMemDir()
	return m
}

func newMemDir() *memDir {
	return &memDir{live: map[string]*memInode{}, durable: map[string]*memInode{}}
}

var _ FS = (*MemFS)(nil)

func memClean(name string) string { return path.Clean("/" + name) }

// split returns the directory and base of name, and the directory if it exists.
func (m *MemFS) split(name string) (string, string, *memDir) {
	name = memClean(name)
	dir, base := path.Split(name)
	dir = memClean(dir)
	return dir, base, m.dirs[dir]
}

// Crash simulates a power cut: unsynced data and unsynced directory
// entries are lost, and open handles stop working.
func (m *MemFS) Crash() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.epoch++
	for _, d := range m.dirs {
		d.live = make(map[string]*memInode, len(d.durable))
		for name, ino := range d.durable {
			d.live[name] = ino
		}
	}
	for _, d := range m.dirs {
		for _, ino := range d.live {
			ino.data = append([]byte(nil), ino.durable...)
		}
	}
}

// ReadFile returns the live contents of name (a test convenience).
func (m *MemFS) ReadFile(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, base, d := m.split(name)
	if d == nil || d.live[base] == nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
	}
	return append([]byte(nil), d.live[base].data...), nil
}

// OpenFile implements FS. Supported flags: O_RDONLY, and O_WRONLY or
// O_RDWR with O_CREATE, O_EXCL, O_TRUNC, O_APPEND.
func (m *MemFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, base, d := m.split(name)
	if d == nil || base == "" {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	ino := d.live[base]
	switch {
	case ino == nil && flag&os.O_CREATE == 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case ino != nil && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case ino == nil:
		ino = &memInode{mode: perm}
		d.live[base] = ino
	}
	writable := flag&(os.O_WRONLY|os.O_RDWR) != 0
	if writable && flag&os.O_TRUNC != 0 {
		ino.data = nil
	}
	h := &memFile{fs: m, ino: ino, name: memClean(name), epoch: m.epoch, writable: writable, readable: flag&os.O_WRONLY == 0}
	if flag&os.O_APPEND != 0 {
		h.off = int64(len(ino.data))
	}
	return h, nil
}

// Rename implements FS.
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ob, od := m.split(oldname)
	_, nb, nd := m.split(newname)
	if od == nil || od.live[ob] == nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	if nd == nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	ino := od.live[ob]
	delete(od.live, ob)
	nd.live[nb] = ino
	return nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, base, d := m.split(name)
	if d == nil || d.live[base] == nil {
		if _, isDir := m.dirs[memClean(name)]; isDir {
			return &fs.PathError{Op: "remove", Path: name, Err: errors.New("is a directory")}
		}
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(d.live, base)
	return nil
}

// ReadDir implements FS. Subdirectories are listed with the files.
func (m *MemFS) ReadDir(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir = memClean(dir)
	d := m.dirs[dir]
	if d == nil {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: fs.ErrNotExist}
	}
	var names []string
	for name := range d.live {
		names = append(names, name)
	}
	for sub := range m.dirs {
		if sub != dir && path.Dir(sub) == dir {
			names = append(names, path.Base(sub))
		}
	}
	sort.Strings(names)
	return names, nil
}

// MkdirAll implements FS.
func (m *MemFS) MkdirAll(dir string, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := memClean(dir); ; p = path.Dir(p) {
		if _, ok := m.dirs[p]; !ok {
			m.dirs[p] = newMemDir()
		}
		if p == "/" {
			return nil
		}
	}
}

// SyncDir implements FS: the live entries of dir become durable.
func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.dirs[memClean(dir)]
	if d == nil {
		return &fs.PathError{Op: "sync", Path: dir, Err: fs.ErrNotExist}
	}
	d.durable = make(map[string]*memInode, len(d.live))
	for name, ino := range d.live {
		d.durable[name] = ino
	}
	return nil
}

// Stat implements FS.
func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.dirs[memClean(name)]; ok {
		return memInfo{name: path.Base(memClean(name)), mode: fs.ModeDir | 0o755}, nil
	}
	_, base, d := m.split(name)
	if d == nil || d.live[base] == nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	ino := d.live[base]
	return memInfo{name: base, size: int64(len(ino.data)), mode: ino.mode}, nil
}

type memFile struct {
	fs       *MemFS
	ino      *memInode
	name     string
	off      int64
	epoch    int
	closed   bool
	writable bool
	readable bool
}

var errStale = errors.New("file handle lost in simulated crash")

func (f *memFile) check(op string) error {
	if f.closed {
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	}
	if f.epoch != f.fs.epoch {
		return &fs.PathError{Op: op, Path: f.name, Err: errStale}
	}
	return nil
}

func (f *memFile) Read(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read"); err != nil {
		return 0, err
	}
	if !f.readable {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrPermission}
	}
	if f.off >= int64(len(f.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.ino.data[f.off:])
	f.off += int64(n)
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write"); err != nil {
		return 0, err
	}
	if !f.writable {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: fs.ErrPermission}
	}
	end := f.off + int64(len(p))
	if end > int64(len(f.ino.data)) {
		f.ino.data = append(f.ino.data, make([]byte, end-int64(len(f.ino.data)))...)
	}
	copy(f.ino.data[f.off:], p)
	f.off = end
	return len(p), nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("sync"); err != nil {
		return err
	}
	f.ino.durable = append([]byte(nil), f.ino.data...)
	return nil
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("stat"); err != nil {
		return nil, err
	}
	return memInfo{name: path.Base(f.name), size: int64(len(f.ino.data)), mode: f.ino.mode}, nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	f.closed = true
	return nil
}

type memInfo struct {
	name string
	size int64
	mode fs.FileMode
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return i.mode }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return i.mode.IsDir() }
func (i memInfo) Sys() any           { return nil }
