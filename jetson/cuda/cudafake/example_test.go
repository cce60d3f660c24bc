package cudafake_test

import (
	"errors"
	"fmt"

	"github.com/speakez/barewire/jetson/cuda"
	"github.com/speakez/barewire/jetson/cuda/cudafake"
)

// A fake Xavier refuses read-only registration, as its attribute says, and
// records every call.
func Example() {
	f := cudafake.New(cudafake.Xavier())
	if err := f.CreateContext(0); err != nil {
		fmt.Println(err)
		return
	}
	buf := make([]byte, 4096)
	err := f.HostRegister(buf, cuda.RegisterDeviceMap|cuda.RegisterReadOnly)
	fmt.Println(errors.Is(err, cuda.ErrorNotSupported))
	fmt.Println(f.HostRegister(buf, cuda.RegisterDeviceMap))
	fmt.Println(f.Count("cuMemHostRegister_v2"))
	// Output:
	// true
	// <nil>
	// 2
}
