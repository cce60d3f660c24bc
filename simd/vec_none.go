//go:build !(amd64 || arm64) || !gc || purego || noasm

package simd

// The loops of normVec: none in this build (normVec stays false).
func sumSquaresVec(x *float32, n int, s *[8]float64)              { panic("simd: no vector loops") }
func scaleVec(dst, x *float32, n int, inv float32)                { panic("simd: no vector loops") }
func scaleWeightVec(dst, x, w *float32, n int, inv float32)       { panic("simd: no vector loops") }
func sumLanesVec(x *float32, n int, s *[8]float64)                { panic("simd: no vector loops") }
func maxVec(x *float32, n int) float32                            { panic("simd: no vector loops") }
func expScaledVec(dst, x *float32, n int, m, scale float32)       { panic("simd: no vector loops") }
func reluSqGateVec(dst, gate, up *float32, n int)                 { panic("simd: no vector loops") }
func addToVec(dst, x *float32, n int)                             { panic("simd: no vector loops") }
func argmaxVec(x *float32, n int, bv *[64]float32, bi *[64]int32) { panic("simd: no vector loops") }
func ropeVec(x, cos, sin *float32, h, n int)                      { panic("simd: no vector loops") }
func siluVec(dst, x *float32, n int)                              { panic("simd: no vector loops") }
func siluGateVec(dst, gate, up *float32, n int)                   { panic("simd: no vector loops") }
func mlgruVec(h, ig, fg *float32, n int)                          { panic("simd: no vector loops") }
func mlgruLBVec(h, ig, fg, lb *float32, n int)                    { panic("simd: no vector loops") }
