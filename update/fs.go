package update

import (
	"io"
	"io/fs"
	"os"
	"sort"
)

// File is the part of *os.File the store and state code use.
type File interface {
	io.Reader
	io.Writer
	io.Closer
	Sync() error
	Stat() (fs.FileInfo, error)
}

// FS is the file system the store and the state file go through. It is an
// interface so that tests can swap in MemFS (which models what survives a
// power cut) and FaultFS (which injects ENOSPC and other errors), the way
// Pebble's vfs and bbolt's failpoints do (see reference/ota.md §1.13).
//
// Names are slash-separated paths as the implementation understands them;
// OSFS passes them to the os package unchanged.
type FS interface {
	// OpenFile is os.OpenFile. The store only ever uses O_RDONLY and
	// O_WRONLY|O_CREATE|O_EXCL: it never reopens a published file for writing.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	Rename(oldname, newname string) error
	Remove(name string) error
	// ReadDir returns the names in dir, sorted.
	ReadDir(dir string) ([]string, error)
	MkdirAll(dir string, perm fs.FileMode) error
	// SyncDir makes the directory entries of dir durable (fsync on the
	// directory): without it a rename or a new name may be lost in a power
	// cut even when the file's data was synced.
	SyncDir(dir string) error
	Stat(name string) (fs.FileInfo, error)
}

// OSFS is the real file system.
type OSFS struct{}

var _ FS = OSFS{}

// OpenFile implements FS.
func (OSFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Rename implements FS.
func (OSFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

// Remove implements FS.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// ReadDir implements FS.
func (OSFS) ReadDir(dir string) ([]string, error) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.Name()
	}
	sort.Strings(names)
	return names, nil
}

// MkdirAll implements FS.
func (OSFS) MkdirAll(dir string, perm fs.FileMode) error { return os.MkdirAll(dir, perm) }

// Stat implements FS.
func (OSFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// SyncDir implements FS.
func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
