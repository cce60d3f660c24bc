package ggufwrite_test

import (
	"fmt"

	"github.com/speakez/barewire/mmapmodel/gguf"
	"github.com/speakez/barewire/mmapmodel/gguf/ggufwrite"
)

// Build a GGUF file in memory with a nested array and a tensor, and read it
// back.
func Example() {
	w := &ggufwrite.Writer{Alignment: 64}
	w.Add("general.architecture", "bitnet").
		Add("pairs", ggufwrite.Array{Elem: gguf.Array, Values: []any{
			ggufwrite.Array{Elem: gguf.Int32, Values: []any{int32(1), int32(2)}},
		}})
	w.AddTensor("output_norm.weight", gguf.TypeF32, []uint64{3}, ggufwrite.F32Bytes([]float32{1, 2, 3}))
	data, layout, err := w.Encode()
	if err != nil {
		fmt.Println(err)
		return
	}
	f, err := gguf.Parse(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	v, _ := f.Lookup("pairs")
	fmt.Println(v, f.Alignment, layout.DataStart%64)
	// Output: array[1]{int32[2]{1, 2}} 64 0
}
