//go:build unix

package convert

import (
	"os"

	"golang.org/x/sys/unix"
)

// dropPages tells the kernel that this process is done with the mapped
// input bytes b (madvise MADV_DONTNEED on the whole pages inside b). The
// pages stay in the page cache but leave the process's resident set, so a
// conversion's resident memory does not grow with the model: each tensor is
// read, written and dropped. It is advice; errors are ignored.
func dropPages(b []byte) {
	ps := os.Getpagesize()
	if len(b) < 2*ps {
		return
	}
	p := uintptrOf(b)
	start := (ps - int(p%uintptr(ps))) % ps
	end := len(b) - int((p+uintptr(len(b)))%uintptr(ps))
	if end-start < ps {
		return
	}
	_ = unix.Madvise(b[start:end], unix.MADV_DONTNEED)
}
