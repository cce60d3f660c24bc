//go:build !cgo

package emu

import "github.com/speakez/barewire/jetson/cuda"

// Available reports whether this build can emulate the kernels: it needs cgo.
const Available = false

// Kernels is empty without cgo.
var Kernels = map[string]func(mem cuda.Memory, grid, block cuda.Dim3, args []cuda.Arg) error{}
