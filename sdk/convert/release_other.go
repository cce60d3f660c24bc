//go:build !unix

package convert

// dropPages is a no-op where madvise is not available.
func dropPages([]byte) {}
