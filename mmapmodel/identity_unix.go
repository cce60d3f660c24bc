//go:build unix

package mmapmodel

import (
	"os"
	"syscall"
)

// identity returns the key under which a file's mapping is shared.
func identity(st os.FileInfo) (fileKey, bool) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, false
	}
	return fileKey{dev: uint64(sys.Dev), ino: uint64(sys.Ino), size: st.Size(), mtime: st.ModTime().UnixNano()}, true
}
