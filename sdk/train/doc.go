// Package train is the SDK's quantization-aware trainer for small ternary
// models: a ternary MLP classifier (architecture "mlp") and a
// character-level MatMul-free language model (architecture "hgrn-bit").
// It keeps fp32 master weights and runs the forward pass as inference does
// — absmean ternary weights, per-token int8 activations, rounding half to
// even (architectures.md §1.3) — with straight-through gradients, AdamW, a
// warm-up and cosine learning-rate schedule, gradient clipping, resumable
// checkpoints and an optional progressive schedule from float to ternary.
// Export writes a BAREWire model file whose outputs under sdk.Open equal
// the trainer's quantized forward pass bit for bit.
package train
