package stwrite_test

import (
	"fmt"

	"github.com/speakez/barewire/mmapmodel/safetensors"
	"github.com/speakez/barewire/mmapmodel/safetensors/stwrite"
)

// Build a safetensors file in memory and read it back.
func Example() {
	w := &stwrite.Writer{}
	w.Add("model.norm.weight", safetensors.F32, []uint64{2}, stwrite.F32Bytes([]float32{1, 0.5}))
	data, err := w.Encode()
	if err != nil {
		fmt.Println(err)
		return
	}
	f, err := safetensors.Parse(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	v, _ := f.Float32s("model.norm.weight")
	fmt.Println(v, f.DataOffset%8)
	// Output: [1 0.5] 0
}
