package i2b128_test

import (
	"fmt"

	"github.com/speakez/barewire/mmapmodel/internal/i2b128"
)

func Example() {
	// One row of 4 weights: padded to one block of 128 (32 bytes).
	b, _ := i2b128.Pack([]int8{1, -1, 0, 1}, 1, 4)
	fmt.Printf("%d bytes, first %08b %08b %08b %08b %08b\n", len(b), b[0], b[1], b[2], b[3], b[4])
	w, _ := i2b128.Unpack(b, 1, 4)
	fmt.Println(w)
	// Output:
	// 32 bytes, first 10010101 00010101 01010101 10010101 01010101
	// [1 -1 0 1]
}
