//go:build !amd64 || !gc || purego || noasm

package simd

func readStream(p []byte) { readStreamGo(p) }
