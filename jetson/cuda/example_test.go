package cuda_test

import (
	"errors"
	"fmt"

	"github.com/speakez/barewire/jetson/cuda"
)

// Opening the driver: a machine without one (or a CGO_ENABLED=0 build) gets
// an error wrapping ErrUnavailable and falls back to the CPU.
func ExampleOpen() {
	d, err := cuda.Open()
	if errors.Is(err, cuda.ErrUnavailable) {
		fmt.Println("CPU only")
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	n, _ := d.DeviceCount()
	fmt.Println(n, "GPUs")
}

// Errors of driver calls carry their CUresult for errors.Is.
func ExampleError() {
	err := fmt.Errorf("placing weights: %w",
		&cuda.Error{Op: "cuMemHostRegister_v2", Result: cuda.ErrorNotSupported, Detail: "flags DEVICEMAP|READ_ONLY"})
	fmt.Println(errors.Is(err, cuda.ErrorNotSupported))
	fmt.Println(err)
	// Output:
	// true
	// placing weights: cuMemHostRegister_v2 (flags DEVICEMAP|READ_ONLY): CUDA_ERROR_NOT_SUPPORTED (801)
}
