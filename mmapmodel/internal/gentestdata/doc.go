// Command gentestdata rebuilds the model files shipped in testdata/ (the
// ternary MLP, as a single file and as a release directory) and the fuzz
// seed corpus, from fixed seeds: its output is the same, byte for byte, on
// every run. It is run by go generate in mmapmodel:
//
//	go run ./internal/gentestdata -out ../testdata -corpus testdata/fuzz
package main
