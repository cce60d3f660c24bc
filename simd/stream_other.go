//go:build !(amd64 || arm64) || !gc || purego || noasm

package simd

var readStreams = []func([]byte){readStreamGo}
