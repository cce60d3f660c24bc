//go:build gc && !purego && !noasm

package sgemm

import "golang.org/x/sys/cpu"

var useAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// axpy4Asm is axpy4 over n elements, n a multiple of 8.
//
//go:noescape
func axpy4Asm(y, b *float32, ld int, a *[4]float32, n int)
