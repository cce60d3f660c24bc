package ternary

import "errors"

// Sentinel errors. Decoders wrap them with the field that is wrong.
var (
	// ErrFormat reports bytes that do not hold a valid encoding of the
	// requested shape (wrong length, invalid 2-bit code, bad scale).
	ErrFormat = errors.New("ternary: invalid encoding")
	// ErrAmbiguousLayout reports that the evidence at hand cannot tell which
	// I2_S layout a tensor was written with; the caller must name the layout.
	ErrAmbiguousLayout = errors.New("ternary: I2_S layout is ambiguous; pass the layout explicitly")
	// ErrNonUniformScale reports per-block scales that differ, so the tensor
	// has no single per-tensor scale; the block scales are still available.
	ErrNonUniformScale = errors.New("ternary: block scales differ")
)
