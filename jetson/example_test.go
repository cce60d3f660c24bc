package jetson_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/speakez/barewire/jetson"
	"github.com/speakez/barewire/jetson/cuda"
	"github.com/speakez/barewire/jetson/cuda/cudafake"
)

// The placement plan for each kind of device, decided from attributes alone.
func ExampleDecide() {
	orin := jetson.Capabilities{Name: "Orin", Integrated: true, CanMapHostMemory: true,
		HostRegisterSupported: true, ReadOnlyHostRegister: true}
	h100 := jetson.Capabilities{Name: "H100"}
	fmt.Println(jetson.Decide(orin, jetson.Auto))
	fmt.Println(jetson.Decide(h100, jetson.Auto))
	fmt.Println(jetson.Decide(h100, jetson.ForceInPlace).Steps)
	// Output:
	// registered(DEVICEMAP|READ_ONLY) → registered-private → device-copy: integrated GPU with host registration: mapping registered read-only and read in place
	// device-copy: discrete GPU: weights copied once to device memory (in place they would cross PCIe on every token)
	// [registered registered-private]
}

// Opening the backend and placing a model file. The fake driver stands in
// for a Jetson Orin here; with Options{} the real driver is used, and a
// machine without a GPU gets an error wrapping cuda.ErrUnavailable.
func Example() {
	f, _ := os.CreateTemp("", "model")
	defer os.Remove(f.Name())
	f.Write(make([]byte, 1<<16))
	f.Close()

	b, err := jetson.Open(jetson.Options{Driver: cudafake.New(cudafake.Orin())})
	if errors.Is(err, cuda.ErrUnavailable) {
		fmt.Println("no GPU, using the CPU:", err)
		return
	} else if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	m, err := jetson.MapFile(f.Name())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	w, err := b.PlaceWeights(m)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Release()
	fmt.Println(w.Policy.Placement, w.Policy.Model, w.Policy.Session())
	// Output: registered UnifiedAddressSpace PartiallyUnifiedHybrid
}
