package simd

import (
	"slices"
	"testing"
)

// FuzzTiers feeds the same fuzzer-chosen weights and activations to every
// usable tier and fails on any difference from the generic kernels. Run in
// CI with a bounded count: go test -run XXX -fuzz FuzzTiers -fuzztime=500x.
func FuzzTiers(f *testing.F) {
	f.Add([]byte{0x80, 0x7f, 0xaa, 0x55}, uint8(3), uint8(2), uint8(5))
	f.Add([]byte{0x80}, uint8(9), uint8(1), uint8(4))
	f.Add([]byte{}, uint8(0), uint8(0), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, rowsB, blocksB, ntokB uint8) {
		rows, blocks, ntok := int(rowsB%12), int(blocksB%6), int(ntokB%9)
		byteAt := func(i int) byte {
			if len(data) == 0 {
				return 0
			}
			return data[i%len(data)] ^ byte(i/len(data)*37)
		}
		// Valid packed bytes: map each data byte onto the valid code bytes.
		var t2ok, t5ok []byte
		for b := 0; b < 256; b++ {
			if b&3 != 3 && b>>2&3 != 3 && b>>4&3 != 3 && b>>6 != 3 {
				t2ok = append(t2ok, byte(b))
			}
		}
		for v := 0; v < 243; v++ {
			t5ok = append(t5ok, byte((v*256+242)/243))
		}
		stride := blocks * 32
		w2 := make([]byte, rows*stride)
		w5 := make([]byte, rows*stride)
		for i := range w2 {
			w2[i] = t2ok[int(byteAt(i))%len(t2ok)]
			w5[i] = t5ok[int(byteAt(i+7))%len(t5ok)]
		}
		k2, k5 := blocks*128, blocks*160
		x := make([]int8, max(1, ntok)*k5)
		for i := range x {
			x[i] = int8(byteAt(3*i + 1))
		}
		xs := make([]int32, max(1, ntok))
		for tk := range xs {
			xs[tk] = SumInt8(x[tk*k2 : tk*k2+k2])
		}
		w8 := make([]int8, rows*k5)
		for i := range w8 {
			w8[i] = int8(byteAt(5*i + 2))
		}
		run := func(impl Impl) [][]int32 {
			a := make([]int32, rows)
			impl.MatVecT2(a, w2, stride, x[:k2], xs[0])
			b := make([]int32, rows)
			impl.MatVecT16(b, w5, stride, x[:k5], SumInt8(x[:k5]))
			c := make([]int32, rows*ntok)
			impl.MatMulT2(c, rows, w2, stride, rows, x, k2, k2, xs, ntok)
			d := make([]int32, rows)
			impl.MatVecI8(d, w8, k5, x[:k5])
			return [][]int32{a, b, c, d}
		}
		want := run(Generic)
		for _, impl := range tierImpls(t) {
			got := run(impl)
			for i, name := range []string{"MatVecT2", "MatVecT16", "MatMulT2", "MatVecI8"} {
				if !slices.Equal(got[i], want[i]) {
					t.Fatalf("%s %s rows=%d blocks=%d ntok=%d: got %v, want %v", impl.Tier, name, rows, blocks, ntok, got[i], want[i])
				}
			}
		}
	})
}
