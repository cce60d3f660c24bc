// Package safetensors reads Hugging Face safetensors files from a read-only
// memory mapping and never trusts them: the header length, the JSON header,
// every dtype, shape and data offset are checked, and the tensors must tile
// the byte buffer exactly (no holes, no overlaps), as the format requires.
// Sharded checkpoints (model.safetensors.index.json) and model directories
// (config.json, tokenizer.json and weights) open as one Model.
//
// Tensors are packed back to back, so their bytes may be unaligned: the
// package hands out byte slices and decoding helpers that do not assume
// alignment. Subpackage stwrite writes files for tests.
//
// Format: huggingface/safetensors README.md ("Format") and
// safetensors/src/tensor.rs (validation rules, dtype list).
package safetensors
