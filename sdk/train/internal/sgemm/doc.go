// Package sgemm multiplies float32 matrices for the trainer: the three
// products a linear layer's forward and backward passes need (C = A·Bᵀ,
// C += A·B, C += Aᵀ·B), blocked for the caches and split by rows across
// goroutines. The inner loop is one AVX2/FMA routine on amd64 and plain Go
// elsewhere.
//
// These products serve training, not inference: inference runs the ternary
// integer kernels of package simd. The routine lives here rather than in
// simd because it is a float kernel that only the trainer uses. Integer-valued
// inputs (ternary weights times int8 activations) give exact integer results
// whenever every partial sum stays below 2^24, so the trainer's quantized
// forward pass equals the integer kernels bit for bit.
package sgemm
