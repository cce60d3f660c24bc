package update

import (
	"io/fs"
	"os"
	"strings"
	"sync"
)

// FaultOp names a file-system operation that FaultFS can make fail.
type FaultOp string

// The operations FaultFS counts.
const (
	OpCreate  FaultOp = "create" // OpenFile with O_CREATE
	OpOpen    FaultOp = "open"   // OpenFile without O_CREATE
	OpWrite   FaultOp = "write"
	OpSync    FaultOp = "sync" // fsync of a file
	OpRename  FaultOp = "rename"
	OpRemove  FaultOp = "remove"
	OpSyncDir FaultOp = "syncdir"
)

// FaultRule makes the N-th call (1-based; 0 means every call) of Op on a
// name containing Match fail with Err. Use syscall.ENOSPC for a full disk.
type FaultRule struct {
	Op    FaultOp
	N     int
	Match string
	Err   error
}

// FaultFS wraps an FS and injects errors by rule, for disk-full and I/O
// error tests (reference/ota.md §5 item 8). Calls are counted per
// operation over names that match a rule's Match.
type FaultFS struct {
	FS
	mu     sync.Mutex
	rules  []FaultRule
	counts map[int]int // per rule index
}

// NewFaultFS returns inner with the rules applied.
func NewFaultFS(inner FS, rules ...FaultRule) *FaultFS {
	return &FaultFS{FS: inner, rules: rules, counts: map[int]int{}}
}

// Fired reports how many calls matched rule i so far.
func (f *FaultFS) Fired(i int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[i]
}

func (f *FaultFS) fault(op FaultOp, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.rules {
		if r.Op != op || !strings.Contains(name, r.Match) {
			continue
		}
		f.counts[i]++
		if r.N == 0 || r.N == f.counts[i] {
			return &fs.PathError{Op: string(op), Path: name, Err: r.Err}
		}
	}
	return nil
}

// OpenFile implements FS.
func (f *FaultFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	op := OpOpen
	if flag&os.O_CREATE != 0 {
		op = OpCreate
	}
	if err := f.fault(op, name); err != nil {
		return nil, err
	}
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f, name: name}, nil
}

// Rename implements FS; rules match the new name.
func (f *FaultFS) Rename(oldname, newname string) error {
	if err := f.fault(OpRename, newname); err != nil {
		return err
	}
	return f.FS.Rename(oldname, newname)
}

// Remove implements FS.
func (f *FaultFS) Remove(name string) error {
	if err := f.fault(OpRemove, name); err != nil {
		return err
	}
	return f.FS.Remove(name)
}

// SyncDir implements FS.
func (f *FaultFS) SyncDir(dir string) error {
	if err := f.fault(OpSyncDir, dir); err != nil {
		return err
	}
	return f.FS.SyncDir(dir)
}

type faultFile struct {
	File
	fs   *FaultFS
	name string
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.fs.fault(OpWrite, f.name); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *faultFile) Sync() error {
	if err := f.fs.fault(OpSync, f.name); err != nil {
		return err
	}
	return f.File.Sync()
}
