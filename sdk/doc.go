// Package sdk runs ternary neural networks on edge devices: BitNet b1.58
// (2B4T and 1bitLLM) and the MatMul-free LM as language models, and
// ternary MLP classifiers. Open maps a model file or release directory
// (package mmapmodel) and builds its graph over the mapped weights, which
// the CPU backend never copies (the CUDA backend reads them in place on
// Jetson and copies them once to a discrete GPU); the kernels of package
// simd run on a worker pool.
//
// A Model is immutable and shared. Classifiers answer Classify from any
// goroutine. Language models hand out Sessions, each holding one
// conversation's state (KV cache, recurrent state) allocated once, for one
// goroutine at a time: Forward runs tokens (prefill through the ternary
// matrix × int8 matrix kernel, decode through matrix × vector), Generate
// streams sampled tokens as a range-over-func iterator, and no decoded
// token allocates.
//
// The graphs follow reference/architectures.md §1 (BitNet), §2 (MatMul-free
// LM) and §7 (the parity checklist); their tensor names, slots and
// parameters are documented next to each loader (mlp.go, bitnet.go,
// mmfree.go). Tests compare every graph with the float64 reference in
// sdk/internal/reference on the same weights: identical int8 activations
// and integer dot products, logits equal to float32 rounding, the same
// greedy tokens.
package sdk
