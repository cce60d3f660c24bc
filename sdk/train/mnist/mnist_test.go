package mnist

import "testing"

func TestLoadTest(t *testing.T) {
	s, err := LoadTest()
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 10000 {
		t.Fatalf("%d test images, want 10000", s.Len())
	}
	var counts [10]int
	for i, img := range s.Images {
		if len(img) != Pixels {
			t.Fatalf("image %d has %d pixels", i, len(img))
		}
		counts[s.Labels[i]]++
	}
	// The published class counts of the MNIST test set.
	want := [10]int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}
	if counts != want {
		t.Fatalf("class counts %v, want %v", counts, want)
	}
}
