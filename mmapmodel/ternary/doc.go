// Package ternary decodes the ternary weight encodings found in published
// checkpoints into plain ternary values ({-1, 0, +1} as int8, row-major, one
// row at a time) together with the scale that turns them back into weights.
//
// Encodings: bitnet.cpp I2_S (both the 128-weight x86 block layout and the
// 64-weight ARM layout), llama.cpp TQ1_0 and TQ2_0 (per-256-block f16 scale),
// the Hugging Face BitNet 2B4T packed uint8 tensors (four row chunks per byte,
// weight_scale = 1/γ), and dense f32/f16/bf16 master weights ternarized with
// the BitNet absmean rule, with a guard that never re-ternarizes weights that
// are already ternary. Every decoder checks its input sizes and returns
// ErrFormat instead of reading past a buffer.
//
// Sources for each layout are named beside its decoder.
package ternary
