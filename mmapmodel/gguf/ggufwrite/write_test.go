package ggufwrite_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/speakez/barewire/mmapmodel/gguf"
	"github.com/speakez/barewire/mmapmodel/gguf/ggufwrite"
)

func TestEncodeRoundTrip(t *testing.T) {
	w := &ggufwrite.Writer{}
	w.Add("u8s", []uint8{1, 2}).Add("bools", []bool{true, false}).Add("u64s", []uint64{7, 1 << 40}).
		Add("i16s", []int16{-1, 5})
	w.AddTensor("t", gguf.TypeQ8_0, []uint64{32}, make([]byte, 34))
	data, lay, err := w.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if lay.Size != len(data) || lay.DataStart%32 != 0 || len(lay.KVOffsets) != 4 || lay.KVOffsets[0] != 24 {
		t.Fatalf("layout %+v", lay)
	}
	f, err := gguf.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := f.Uints("u64s"); err != nil || !slices.Equal(u, []uint64{7, 1 << 40}) {
		t.Errorf("u64s %v %v", u, err)
	}
	if u, err := f.Uints("u8s"); err != nil || !slices.Equal(u, []uint64{1, 2}) {
		t.Errorf("u8s %v %v", u, err)
	}
	if i, err := f.Int32s("i16s"); err != nil || !slices.Equal(i, []int32{-1, 5}) {
		t.Errorf("i16s %v %v", i, err)
	}
	if v, _ := f.Lookup("bools"); v.String() != "bool[2]{true, false}" {
		t.Errorf("bools %s", v)
	}
}

func TestEncodeErrors(t *testing.T) {
	cases := map[string]*ggufwrite.Writer{
		"unsupported Go type": (&ggufwrite.Writer{}).Add("k", struct{}{}),
		"array element type":  (&ggufwrite.Writer{}).Add("k", ggufwrite.Array{Elem: gguf.Uint8, Values: []any{"x"}}),
		"tensor size":         (&ggufwrite.Writer{}).AddTensor("t", gguf.TypeF32, []uint64{2}, make([]byte, 4)),
	}
	for name, w := range cases {
		if _, _, err := w.Encode(); err == nil {
			t.Errorf("%s: no error", name)
		} else if name == "tensor size" && !strings.Contains(err.Error(), `"t"`) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestRawValue(t *testing.T) {
	w := &ggufwrite.Writer{}
	w.Add("k", ggufwrite.Raw{Type: gguf.Bool, Payload: []byte{2}})
	data, _, err := w.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gguf.Parse(data); err == nil || !strings.Contains(err.Error(), `"k"`) {
		t.Fatalf("bool 2 written raw: %v", err)
	}
}
