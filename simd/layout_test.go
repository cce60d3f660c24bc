package simd

import (
	"math/rand/v2"
	"testing"
)

// All 243 five-trit values: the byte decodes to its digits both by the
// documented extraction and by the prefix form the amd64 kernels use, and
// distinct values give distinct bytes.
func TestT5AllValues(t *testing.T) {
	seen := map[byte]int{}
	for v := 0; v < 243; v++ {
		var c [5]uint8
		for k, r := 4, v; k >= 0; k-- {
			c[k] = uint8(r % 3)
			r /= 3
		}
		b := EncodeT5(c)
		if prev, dup := seen[b]; dup {
			t.Fatalf("values %d and %d share byte %#x", prev, v, b)
		}
		seen[b] = v
		m := func(k int) int { return int(uint32(b)<<8*uint32(pow3[k])) >> 16 }
		for k := 0; k < 5; k++ {
			if got := DecodeT5(b, k); got != c[k] {
				t.Fatalf("value %d byte %#x digit %d: DecodeT5 = %d, want %d", v, b, k, got, c[k])
			}
			if got := m(k+1) - 3*m(k); got != int(c[k]) {
				t.Fatalf("value %d byte %#x digit %d: prefix form = %d, want %d", v, b, k, got, c[k])
			}
		}
		if m(5) != v {
			t.Fatalf("value %d: m_5 = %d", v, m(5))
		}
	}
}

func TestRowBytes(t *testing.T) {
	for _, c := range []struct{ k, t2, t16 int }{{0, 0, 0}, {1, 32, 32}, {128, 32, 32}, {129, 64, 32}, {160, 64, 32}, {161, 64, 64}, {2560, 640, 512}} {
		if got := RowBytesI2B128(c.k); got != c.t2 {
			t.Errorf("RowBytesI2B128(%d) = %d, want %d", c.k, got, c.t2)
		}
		if got := RowBytesT5B160(c.k); got != c.t16 {
			t.Errorf("RowBytesT5B160(%d) = %d, want %d", c.k, got, c.t16)
		}
	}
}

// The i2b128 bit positions, checked against hand-placed weights.
func TestPackI2B128Layout(t *testing.T) {
	w := make([]int8, 130)
	w[0], w[32], w[64], w[96] = 1, -1, 0, 1 // byte 0: 10 00 01 10
	w[129] = -1                             // block 1, byte 1, field 5:4
	dst := make([]byte, 64)
	PackI2B128(dst, w)
	if dst[0] != 0b10_00_01_10 {
		t.Errorf("byte 0 = %08b", dst[0])
	}
	if dst[5] != 0b01_01_01_01 {
		t.Errorf("byte 5 (all zero weights) = %08b", dst[5])
	}
	// Block 1: weights 128, 129 real, the rest padding (code 01).
	if dst[32] != 0b01_01_01_01 || dst[33] != 0b00_01_01_01 {
		t.Errorf("block 1 bytes 0,1 = %08b %08b", dst[32], dst[33])
	}
}

func TestPackRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, k := range []int{0, 1, 31, 127, 128, 159, 160, 161, 300, 1000} {
		w := make([]int8, k)
		for i := range w {
			w[i] = int8(rng.IntN(3)) - 1
		}
		for _, v := range []struct {
			name   string
			n      int
			pack   func([]byte, []int8)
			unpack func([]int8, []byte, int)
			block  int
		}{{"i2b128", RowBytesI2B128(k), PackI2B128, UnpackI2B128, 128}, {"t5b160", RowBytesT5B160(k), PackT5B160, UnpackT5B160, 160}} {
			dst := make([]byte, v.n)
			v.pack(dst, w)
			got := make([]int8, PaddedLen(k, v.block))
			v.unpack(got, dst, len(got))
			for i := range got {
				want := int8(0)
				if i < k {
					want = w[i]
				}
				if got[i] != want {
					t.Fatalf("%s k=%d: weight %d = %d, want %d", v.name, k, i, got[i], want)
				}
			}
		}
	}
}

func TestPackRejects(t *testing.T) {
	for name, f := range map[string]func(){
		"weight 2":   func() { PackI2B128(make([]byte, 32), []int8{2}) },
		"weight -2":  func() { PackT5B160(make([]byte, 32), []int8{-2}) },
		"short dst":  func() { PackI2B128(make([]byte, 31), []int8{0}) },
		"short t5":   func() { PackT5B160(make([]byte, 32), make([]int8, 161)) },
		"short src":  func() { UnpackI2B128(make([]int8, 200), make([]byte, 32), 200) },
		"negative k": func() { RowBytesI2B128(-1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestFillRandomValid(t *testing.T) {
	for _, layout := range []string{LayoutI2B128, LayoutT5B160} {
		buf := make([]byte, 4096)
		if err := FillRandom(buf, layout, 9); err != nil {
			t.Fatal(err)
		}
		w := make([]int8, 4096*5)
		var n int
		if layout == LayoutI2B128 {
			n = 4096 * 4
			UnpackI2B128(w, buf, n)
		} else {
			n = 4096 * 5
			UnpackT5B160(w, buf, n)
		}
		count := [3]int{}
		for _, v := range w[:n] {
			if v < -1 || v > 1 {
				t.Fatalf("%s: weight %d", layout, v)
			}
			count[v+1]++
		}
		for i, c := range count {
			if c < n/4 {
				t.Errorf("%s: value %d appears %d times of %d", layout, i-1, c, n)
			}
		}
	}
	if FillRandom(make([]byte, 1), "q4", 1) == nil {
		t.Error("unknown layout accepted")
	}
}
