// Package ggufwrite builds GGUF files from known values, for tests across
// the repository: every metadata type (nested arrays included), tensors of
// any ggml type, version and alignment chosen by the caller, and raw
// entries for building deliberately broken files. Layout reports where each
// region starts so that tests can corrupt a precise field.
package ggufwrite
