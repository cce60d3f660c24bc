package stwrite_test

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/speakez/barewire/mmapmodel/safetensors"
	"github.com/speakez/barewire/mmapmodel/safetensors/stwrite"
)

func TestEncode(t *testing.T) {
	w := &stwrite.Writer{Metadata: map[string]string{"format": "pt"}}
	w.Add("b", safetensors.U8, []uint64{3}, []byte{1, 2, 3}).Add("a", safetensors.F32, nil, stwrite.F32Bytes([]float32{1}))
	h, err := w.Header()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"__metadata__":{"format":"pt"},"b":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"a":{"dtype":"F32","shape":[],"data_offsets":[3,7]}}`
	if h != want {
		t.Fatalf("header\n%s\nwant\n%s", h, want)
	}
	data, _ := w.Encode()
	n := binary.LittleEndian.Uint64(data)
	if n%8 != 0 || n < uint64(len(want)) || len(data) != 8+int(n)+7 || strings.TrimRight(string(data[8:8+n]), " ") != want {
		t.Fatalf("file layout: header %d bytes, file %d", n, len(data))
	}
	f, err := safetensors.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Scalar("a"); v != 1 {
		t.Fatalf("a = %v", v)
	}
	if got := stwrite.BF16Bytes([]float32{1.00390625}); got[0] != 0x80 || got[1] != 0x3f {
		t.Fatalf("BF16 tie rounding: %x", got)
	}
	bad := &stwrite.Writer{}
	bad.Add("x", safetensors.F32, []uint64{2}, make([]byte, 4))
	if _, err := bad.Encode(); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Fatalf("size mismatch: %v", err)
	}
}
