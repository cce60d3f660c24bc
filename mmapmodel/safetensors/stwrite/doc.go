// Package stwrite writes safetensors files and sharded indexes from known
// values, for tests across the repository. Tensors are laid out back to back
// in the order they were added, and the JSON header is padded with spaces to
// a multiple of 8 bytes, as the reference writer does.
package stwrite
