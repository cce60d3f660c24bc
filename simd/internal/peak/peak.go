//go:build amd64

// Command peak measures how many 512-bit instructions of the kinds the
// ternary kernels use this core retires per second, and from that the
// most ternary weights per second any kernel built on them can reach on
// one thread (docs/PERFORMANCE.md, under the in-cache goals). It needs
// AVX-512 VNNI and AVX-512 BW.
//
//	go run ./simd/internal/peak
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/klauspost/cpuid/v2"
)

func addD(n int)
func dpbusd(n int)
func andDpbusd(n int)
func shufb(n int)
func srlw(n int)
func maddubsw(n int)
func mulhuw(n int)
func dpwssd(n int)
func addB(n int)

func main() {
	if !cpuid.CPU.Supports(cpuid.AVX512BW, cpuid.AVX512VNNI) {
		fmt.Fprintln(os.Stderr, "peak: this CPU lacks AVX-512 BW or VNNI")
		os.Exit(2)
	}
	const n = 50_000_000 // 16 instructions each
	type kernel struct {
		name  string
		f     func(int)
		count int // instructions per call unit
	}
	ks := []kernel{
		{"VPADDD", addD, 16},
		{"VPDPBUSD", dpbusd, 16},
		{"VPANDD+VPDPBUSD pairs", andDpbusd, 16},
		{"VPSHUFB", shufb, 16},
		{"VPSRLW", srlw, 16},
		{"VPMADDUBSW", maddubsw, 16},
		{"VPMULHUW", mulhuw, 16},
		{"VPDPWSSD", dpwssd, 16},
		{"VPADDB", addB, 16},
	}
	best := make([]float64, len(ks))
	for range 5 { // best of five, interleaved
		for i, k := range ks {
			t := time.Now()
			k.f(n)
			r := float64(n*k.count) / time.Since(t).Seconds() / 1e9
			best[i] = max(best[i], r)
		}
	}
	fmt.Printf("%s, one thread, best of 5 (G instructions/s; for the pairs, G pairs/s)\n", cpuid.CPU.BrandName)
	for i, k := range ks {
		fmt.Printf("  %-24s %6.2f\n", k.name, best[i])
	}
	clock := best[0] / 2 // VPADDD zmm issues on two ports
	fmt.Printf("clock implied by VPADDD at two per cycle: %.2f GHz\n", clock)
	fmt.Printf("i2b128 decode ceiling, one VPANDD and one VPDPBUSD per 64 weights: %.0f G weights/s\n", best[2]*64)
	fmt.Printf("with the masking free (VPDPBUSD alone): %.0f G weights/s\n", best[1]*64)
	// t5b160: per 64 bytes (320 weights) two VPMULHUW and two VPDPWSSD
	// per base-3 digit and two operations to split the bytes into words.
	fmt.Printf("t5b160 decode ceiling, 22 of these per 320 weights: %.0f G weights/s\n", min(best[6], best[7])*320/22)
}
