//go:build !amd64 || !gc || purego || noasm

package simd

var readStreams = []func([]byte){readStreamGo}
