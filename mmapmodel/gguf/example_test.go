package gguf_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/speakez/barewire/mmapmodel/gguf"
	"github.com/speakez/barewire/mmapmodel/gguf/ggufwrite"
)

// Write a small GGUF file, open it, and read an architecture-prefixed key
// and a tensor.
func Example() {
	dir, _ := os.MkdirTemp("", "gguf-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tiny.gguf")

	w := &ggufwrite.Writer{}
	w.Add("general.architecture", "bitnet-b1.58").
		Add("bitnet-b1.58.context_length", uint32(4096))
	w.AddTensor("output_norm.weight", gguf.TypeF32, []uint64{2}, ggufwrite.F32Bytes([]float32{1, 0.5}))
	if _, err := w.WriteFile(path); err != nil {
		fmt.Println(err)
		return
	}

	f, err := gguf.Open(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	ctx, _ := f.ArchUint("context_length")
	fmt.Println("version", f.Version, "context", ctx)
	for _, t := range f.Tensors() {
		data, _ := f.TensorData(t.Name)
		fmt.Println(t.Name, t.Type, t.Dims, len(data), "bytes")
	}
	_, err = f.String("general.name")
	fmt.Println(err)
	// Output:
	// version 3 context 4096
	// output_norm.weight F32 [2] 8 bytes
	// gguf: key "general.name": not found
}
