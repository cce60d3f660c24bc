package simd_test

import (
	"fmt"

	"github.com/speakez/barewire/simd"
)

// A 2×3 ternary matrix times a float vector: pack the rows, quantize the
// activations, run the integer kernel, and scale back.
func Example() {
	w := [][]int8{{1, -1, 0}, {1, 1, 1}}
	const k = 3
	stride := simd.RowBytesI2B128(k)
	packed := make([]byte, len(w)*stride)
	for r, row := range w {
		simd.PackI2B128(packed[r*stride:], row)
	}

	x := []float32{0.5, -1, 0.25}
	q := make([]int8, simd.PaddedLen(k, simd.BlockI2B128))
	scale, sum := simd.QuantizeActivations(q, x)

	acc := make([]int32, len(w))
	simd.Active().MatVecT2(acc, packed, stride, q, sum)

	y := make([]float32, len(w))
	simd.Dequantize(y, acc, []float32{1}, scale)
	fmt.Println(acc, y)
	// Output: [191 -31] [1.503937 -0.24409449]
}
