package gguf_test

import (
	"encoding/binary"
	"math"
	"slices"
	"testing"

	"github.com/speakez/barewire/mmapmodel/gguf"
	"github.com/speakez/barewire/mmapmodel/gguf/ggufwrite"
	"github.com/speakez/barewire/mmapmodel/ternary"
)

// TestTernaryTensorsEndToEnd writes I2_S and TQ2_0 tensors holding known
// values, opens the file, and decodes them from the mapping.
func TestTernaryTensorsEndToEnd(t *testing.T) {
	rows, cols := 2, 256
	vals := make([]int8, rows*cols)
	for i := range vals {
		vals[i] = int8(i*7%3) - 1
	}
	// I2_S, x86 layout (MSB quantize_i2_s): weight r of each 128-block in
	// byte r%32 at shift 6-2·(r/32); scale in the tail.
	i2s := make([]byte, rows*cols/4+32)
	for e, v := range vals {
		b, r := e/128, e%128
		i2s[32*b+r%32] |= byte(v+1) << (6 - 2*(r/32))
	}
	binary.LittleEndian.PutUint32(i2s[rows*cols/4:], math.Float32bits(0.75))
	// TQ2_0 (GGML quantize_row_tq2_0_ref): weight e of a block in byte
	// 32·(e/128)+e%32 at shift 2·((e%128)/32); f16 d = 0.75 (0x3a00).
	var tq2 []byte
	for b := 0; b < rows*cols/256; b++ {
		blk := make([]byte, 66)
		for e := range 256 {
			blk[32*(e/128)+e%32] |= byte(vals[b*256+e]+1) << (2 * ((e % 128) / 32))
		}
		binary.LittleEndian.PutUint16(blk[64:], 0x3a00)
		tq2 = append(tq2, blk...)
	}
	w := &ggufwrite.Writer{}
	w.Add("general.architecture", "bitnet")
	w.AddTensor("blk.0.attn_q.weight", gguf.TypeI2_S, []uint64{uint64(cols), uint64(rows)}, i2s)
	w.AddTensor("blk.0.attn_k.weight", gguf.TypeTQ2_0, []uint64{uint64(cols), uint64(rows)}, tq2)
	data, _, err := w.Encode()
	if err != nil {
		t.Fatal(err)
	}
	f, err := openBytes(t, data)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := f.TensorData("blk.0.attn_q.weight")
	dq, err := ternary.NewI2S(q, rows, cols, ternary.I2SX86)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := f.TensorData("blk.0.attn_k.weight")
	dk, err := ternary.NewTQ(ternary.TQ2, k, rows, cols)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]int8, cols)
	for r := range rows {
		for _, dec := range []interface{ Row(int, []int8) error }{dq, dk} {
			if err := dec.Row(r, row); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(row, vals[r*cols:(r+1)*cols]) {
				t.Fatalf("row %d differs (%T)", r, dec)
			}
		}
	}
	if g, err := dk.TensorScale(); err != nil || g != dq.Scale() || g != 0.75 {
		t.Fatalf("scales %v %v %v", g, dq.Scale(), err)
	}
}
