// Package cuda is the minimal CUDA driver API binding of the jetson backend.
//
// The driver (libcuda.so.1) is opened at run time with dlopen, and each
// function is looked up by its exported, versioned name (cuMemAlloc_v2,
// cuMemHostRegister_v2, ...), so the package builds with gcc alone, with no
// CUDA toolkit, and a binary without a GPU reports ErrNoDriver or ErrNoDevice
// instead of failing to start. Calls are serialized, and each one that needs
// the context makes it current on the OS thread it runs on. With CGO_ENABLED=0 Open returns ErrNoCgo.
//
// Driver is an interface; package cudafake implements it in memory for tests.
package cuda
