package mnist_test

import (
	"fmt"

	"github.com/speakez/barewire/sdk/train/mnist"
)

func Example() {
	test, err := mnist.LoadTest()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(test.Len(), "images, first label", test.Labels[0])
	// Output: 10000 images, first label 7
}
