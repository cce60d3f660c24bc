package convert_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/speakez/barewire/mmapmodel/gguf"
	"github.com/speakez/barewire/mmapmodel/gguf/ggufwrite"
	"github.com/speakez/barewire/mmapmodel/ternary"
	"github.com/speakez/barewire/sdk"
	"github.com/speakez/barewire/sdk/convert"
)

// Example converts a one-layer BitNet b1.58 GGUF whose projections are
// stored as f16 ternary×γ values (kept as they are, never re-ternarized)
// and opens the result.
func Example() {
	dir, err := os.MkdirTemp("", "convert-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "tiny.gguf")
	const vocab, d, ffn = 256, 128, 256
	w := &ggufwrite.Writer{}
	w.Add("general.architecture", "bitnet-b1.58")
	for k, v := range map[string]uint32{"embedding_length": d, "block_count": 1, "feed_forward_length": ffn,
		"attention.head_count": 4, "attention.head_count_kv": 2, "context_length": 64, "vocab_size": vocab} {
		w.Add("bitnet-b1.58."+k, v)
	}
	f16 := func(n int, f func(i int) float32) []byte {
		b := make([]byte, 2*n)
		for i := range n {
			binary.LittleEndian.PutUint16(b[2*i:], ternary.F32ToF16(f(i)))
		}
		return b
	}
	ternaryF16 := func(i int) float32 { return float32(i%3-1) / 16 } // values in {−γ, 0, +γ}, γ = 1/16
	ones := func(int) float32 { return 1 }
	w.AddTensor("token_embd.weight", gguf.TypeF16, []uint64{d, vocab}, f16(d*vocab, func(i int) float32 { return float32(i%7-3) / 8 }))
	for _, t := range []struct {
		name    string
		in, out uint64
	}{{"attn_q", d, d}, {"attn_k", d, d / 2}, {"attn_v", d, d / 2}, {"attn_output", d, d}, {"ffn_gate", d, ffn}, {"ffn_up", d, ffn}, {"ffn_down", ffn, d}} {
		w.AddTensor("blk.0."+t.name+".weight", gguf.TypeF16, []uint64{t.in, t.out}, f16(int(t.in*t.out), ternaryF16))
	}
	for _, t := range []struct {
		name string
		n    uint64
	}{{"blk.0.attn_norm", d}, {"blk.0.attn_sub_norm", d}, {"blk.0.ffn_norm", d}, {"blk.0.ffn_sub_norm", ffn}, {"output_norm", d}} {
		w.AddTensor(t.name+".weight", gguf.TypeF16, []uint64{t.n}, f16(int(t.n), ones))
	}
	if _, err := w.WriteFile(in); err != nil {
		log.Fatal(err)
	}

	out := filepath.Join(dir, "tiny.bwm")
	s, err := convert.Convert(context.Background(), in, out, convert.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.Model)
	fmt.Printf("%s: %d tensors, %d ternary weights at %.1f bits each\n", s.Arch, s.Tensors, s.TernaryWeights, s.BitsPerWeight)
	m, err := sdk.Open(out)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	fmt.Println("opened:", m.Arch())
	// Output:
	// BitNet b1.58 2B4T (GGUF bitnet-b1.58)
	// bitnet-b1.58: 13 tensors, 147456 ternary weights at 2.0 bits each
	// opened: bitnet-b1.58
}
