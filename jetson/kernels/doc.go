// Package kernels holds the CUDA kernels of the jetson backend: CUDA C
// sources (*.cu, written without toolkit headers), the PTX that clang makes
// of them (ptx/*.ptx, committed and embedded), and a Go reference of what
// each kernel computes, used by the fake driver in tests.
//
// Regenerate the PTX with `go generate ./jetson/...` (needs clang with the
// NVPTX target, e.g. Debian's clang-14); check-ptx.sh fails when the
// committed files are stale.
package kernels
