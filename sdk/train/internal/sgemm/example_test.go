package sgemm_test

import (
	"fmt"

	"github.com/speakez/barewire/sdk/train/internal/sgemm"
)

// A layer's forward pass: Y = X·Wᵀ for two inputs and three outputs.
func ExampleMulABt() {
	x := []float32{1, 2, 3, 4} // 2 inputs of width 2
	w := []float32{1, 0, 0, 1, 1, -1}
	y := make([]float32, 6)
	sgemm.MulABt(y, x, w, 2, 3, 2)
	fmt.Println(y)
	// Output: [1 2 -1 3 4 -1]
}
