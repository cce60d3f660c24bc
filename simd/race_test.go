//go:build race

package simd

// raceEnabled: the race detector changes escape analysis, so allocation
// counts are not checked under it.
const raceEnabled = true
