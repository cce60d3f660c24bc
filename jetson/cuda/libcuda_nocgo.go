//go:build !(cgo && linux)

package cuda

import (
	"fmt"
	"runtime"
)

// LibraryEnv names an environment variable holding the path of libcuda.so.1
// to try first. Unused in this build: the driver can only be loaded with cgo
// on Linux.
const LibraryEnv = "BAREWIRE_LIBCUDA"

// Open always fails in this build: loading libcuda needs cgo on Linux.
// The error wraps ErrNoCgo (and so ErrUnavailable).
func Open() (Driver, error) {
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("%w: the CUDA backend supports Linux only (this is %s/%s)", ErrUnavailable, runtime.GOOS, runtime.GOARCH)
	}
	return nil, fmt.Errorf("%w: this binary was built with CGO_ENABLED=0; rebuild with CGO_ENABLED=1 and a C compiler (gcc) to use the GPU", ErrNoCgo)
}
