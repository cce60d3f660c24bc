//go:build !amd64 || !gc || purego || noasm

package simd

// Argmax's loop (argmaxLanes): none in this build.
func argmaxVec(x *float32, n int, bv *[64]float32, bi *[64]int32) { panic("simd: no vector loops") }
