//go:build !unix

package mmapmodel

// madvise is a no-op where the platform has no madvise: advice is a hint.
func madvise(b []byte, a Advice) error { return nil }
