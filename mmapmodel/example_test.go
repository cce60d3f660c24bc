package mmapmodel_test

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/speakez/barewire/mmapmodel"
)

// Example writes a small model, opens it, and reads a tensor through a
// zero-copy view.
func Example() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.bwm")

	w := mmapmodel.NewWriter(path, "mlp", []mmapmodel.Param{mmapmodel.IntParam("hidden_dim", 2)})
	w.BeginComponent("head")
	w.Add(mmapmodel.TensorSpec{
		Name: "head.weight", DType: mmapmodel.I8, Shape: []mmapmodel.Elems{2, 3},
		Scales: []float32{0.5, 0.25}, Data: bytes.NewReader([]byte{1, 2, 3, 4, 5, 6}),
	})
	if _, err := w.Commit(); err != nil {
		log.Fatal(err)
	}

	m, err := mmapmodel.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	if err := m.Verify(); err != nil {
		log.Fatal(err)
	}
	t, err := m.Tensor("head.weight")
	if err != nil {
		log.Fatal(err)
	}
	v, err := mmapmodel.NewInt8Matrix(t)
	if err != nil {
		log.Fatal(err)
	}
	defer v.Release()
	fmt.Println(m.Arch(), t.DType, t.Shape, v.Row(1), v.Scales()[1])
	// Output: mlp i8 [2 3] [4 5 6] 0.25
}

// ExampleOpen_release opens the release-directory form of the shipped
// model and lists its slots.
func ExampleOpen_release() {
	m, err := mmapmodel.Open("../testdata/mlp-tiny-release")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	for _, c := range m.Components() {
		fmt.Println(c.Slot, len(c.Tensors), c.File.SHA256[:12])
	}
	// Output:
	// input 2 8fb006c365b2
	// hidden.0 2 dbcc7c8cf5b6
	// head 3 c1b19df61a77
}
