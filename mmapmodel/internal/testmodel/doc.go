// Package testmodel builds the small models shipped in testdata/ and used
// by tests: a ternary MLP classifier for 28×28 images (784→64→10) with
// deterministic pseudo-random weights, in single-file and release form,
// and a tiny model holding every dtype, used as a fuzzing seed.
//
// The weights come from SplitMix64 (Steele, Lea, Flood, "Fast splittable
// pseudorandom number generators", OOPSLA 2014), written out here rather
// than taken from math/rand so the bytes cannot change with a Go release.
package testmodel
