package safetensors_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/speakez/barewire/mmapmodel/safetensors"
	"github.com/speakez/barewire/mmapmodel/safetensors/stwrite"
)

// Write a one-file model directory, open it, and read a BitNet packed weight
// and its scale.
func Example() {
	dir, _ := os.MkdirTemp("", "st-example")
	defer os.RemoveAll(dir)
	w := &stwrite.Writer{Metadata: map[string]string{"format": "pt"}}
	w.Add("q_proj.weight", safetensors.U8, []uint64{1, 2}, []byte{0b10100001, 0b00011000})
	w.Add("q_proj.weight_scale", safetensors.BF16, []uint64{1}, stwrite.BF16Bytes([]float32{0.5}))
	if err := w.WriteFile(filepath.Join(dir, safetensors.SingleFileName)); err != nil {
		fmt.Println(err)
		return
	}
	m, err := safetensors.OpenDir(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	for _, t := range m.Tensors() {
		fmt.Println(t.Name, t.DType, t.Shape, t.Shard)
	}
	f, _ := m.File("q_proj.weight_scale")
	s, _ := f.Scalar("q_proj.weight_scale")
	fmt.Println("weight_scale", s)
	// Output:
	// q_proj.weight U8 [1 2] model.safetensors
	// q_proj.weight_scale BF16 [1] model.safetensors
	// weight_scale 0.5
}
