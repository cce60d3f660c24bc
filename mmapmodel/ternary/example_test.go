package ternary_test

import (
	"fmt"

	"github.com/speakez/barewire/mmapmodel/ternary"
)

// Unpack a Hugging Face BitNet packed weight ([out/4, in] uint8, with
// weight_scale = 1/γ) one row at a time.
func Example() {
	packed := []byte{0b10100001, 0b00011000, 0b10010000, 0b00001010}
	w, err := ternary.NewHFPacked(packed, 2, 2, 0.5, ternary.HFScaleReciprocal)
	if err != nil {
		fmt.Println(err)
		return
	}
	row := make([]int8, w.Cols())
	for r := 0; r < w.Rows(); r++ {
		if err := w.Row(r, row); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(r, row)
	}
	fmt.Println("gamma", w.Scale())
	// Output:
	// 0 [0 -1]
	// 1 [-1 1]
	// 2 [-1 1]
	// 3 [-1 1]
	// 4 [1 0]
	// 5 [0 -1]
	// 6 [1 -1]
	// 7 [1 -1]
	// gamma 2
}
