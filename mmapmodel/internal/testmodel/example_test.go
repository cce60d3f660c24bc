package testmodel_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/mmapmodel/internal/testmodel"
)

func ExampleWriteMLP() {
	dir, err := os.MkdirTemp("", "testmodel")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, testmodel.MLPFile)
	if err := testmodel.WriteMLP(p); err != nil {
		log.Fatal(err)
	}
	m, err := mmapmodel.Open(p)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	w, _ := m.Tensor("hidden.0.weight")
	fmt.Println(m.Arch(), len(m.Tensors()), w.DType, w.Layout, w.Shape)
	// Output: mlp 7 t2 i2b128 [64 784]
}
