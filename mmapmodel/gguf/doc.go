// Package gguf reads GGUF model files (versions 2 and 3) as published by
// llama.cpp and bitnet.cpp, from a read-only memory mapping, and never trusts
// them: every length, count, offset, shape and alignment is checked against
// the file before use, and errors name the key or tensor and the field.
//
// Metadata values are decoded on access, zero-copy where possible; tensor
// data is returned as slices of the mapping. The ggml type table covers the
// types ternary models use (F32, F16, BF16, Q8_0, I8, TQ1_0, TQ2_0 and
// bitnet.cpp's I2_S, whose size is n/4 plus a 32-byte scale tail) and the
// common K-quants for embeddings. Subpackage ggufwrite builds GGUF files from
// known values for tests.
//
// Format: GGML docs/gguf.md; type ids and sizes: GGML ggml.c type_traits and
// the bitnet.cpp fork's ggml.h (see the reference notes, architectures.md §5).
package gguf
