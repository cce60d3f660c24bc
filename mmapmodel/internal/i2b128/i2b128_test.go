package i2b128

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestPackKnownBytes pins the bit layout with hand-computed bytes, so a
// change that packs and unpacks consistently but differently still fails.
func TestPackKnownBytes(t *testing.T) {
	w := make([]int8, 128)
	w[0] = 1    // byte 0, bits 7:6 -> 10
	w[32] = -1  // byte 0, bits 5:4 -> 00
	w[64] = 0   // byte 0, bits 3:2 -> 01
	w[96] = 1   // byte 0, bits 1:0 -> 10
	w[31] = -1  // byte 31, bits 7:6 -> 00
	w[127] = -1 // byte 31, bits 1:0 -> 00
	got, err := Pack(w, 1, 128)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte{0x55}, 32)
	want[0] = 0b10_00_01_10
	want[31] = 0b00_01_01_00
	if !bytes.Equal(got, want) {
		t.Fatalf("Pack = % x\nwant % x", got, want)
	}
}

func TestPaddingIsZeroCode(t *testing.T) {
	// k = 1: one real weight, 127 padding weights of code 01.
	got, err := Pack([]int8{-1}, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 32 || got[0] != 0b00_01_01_01 || got[1] != 0x55 {
		t.Fatalf("Pack([-1]) = % x", got)
	}
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, k := range []int{1, 31, 127, 128, 129, 300, 784} {
		rows := 3
		w := make([]int8, rows*k)
		for i := range w {
			w[i] = int8(rng.IntN(3)) - 1
		}
		p, err := Pack(w, rows, k)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != rows*RowBytes(k) {
			t.Fatalf("k=%d: %d bytes", k, len(p))
		}
		u, err := Unpack(p, rows, k)
		if err != nil {
			t.Fatal(err)
		}
		for i := range w {
			if u[i] != w[i] {
				t.Fatalf("k=%d: weight %d = %d, want %d", k, i, u[i], w[i])
			}
		}
	}
}

func TestRejects(t *testing.T) {
	if _, err := Pack([]int8{2}, 1, 1); err == nil {
		t.Error("Pack accepted weight 2")
	}
	b := bytes.Repeat([]byte{0x55}, 32)
	b[0] = 0xC0
	if _, err := Unpack(b, 1, 128); err == nil {
		t.Error("Unpack accepted code 11")
	}
}
