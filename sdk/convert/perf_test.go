package convert

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/speakez/barewire/mmapmodel/gguf"
	"github.com/speakez/barewire/mmapmodel/ternary"
	"github.com/speakez/barewire/sdk"
)

// TestPerf2B4T measures a conversion at the real shapes of
// microsoft/bitnet-b1.58-2B-4T (architectures.md §1.1, §1.6): a GGUF with
// 210 I2_S projections, an F16 token_embd of 128256×2560 (656 MB, the
// largest tensor) and 121 F32 norms, 1.18 GB in all, written to a
// temporary directory and removed afterwards. It reports wall time, the
// process's peak resident set (VmHWM, reset before the conversion through
// /proc/self/clear_refs) and the peak anonymous resident memory (RssAnon,
// sampled every 10 ms), against the largest tensor. Run it with
//
//	BAREWIRE_CONVERT_PERF=1 go test ./sdk/convert -run TestPerf2B4T -v
//
// It needs about 2.1 GB of free disk (input and output) and Linux for the
// memory figures.
func TestPerf2B4T(t *testing.T) {
	if os.Getenv("BAREWIRE_CONVERT_PERF") == "" {
		t.Skip("set BAREWIRE_CONVERT_PERF=1 to convert 2B4T-shaped checkpoints (about 1.2 GB each, written to a temporary directory)")
	}
	c := sdk.Config2B4T()
	t.Run("gguf-i2s", func(t *testing.T) {
		dir := t.TempDir()
		in := filepath.Join(dir, "2b4t-i2s.gguf")
		largest, err := write2B4TGGUF(in, c)
		if err != nil {
			t.Fatal(err)
		}
		measure(t, in, filepath.Join(dir, "out.bwm"), largest, Options{I2SLayout: "x86"})
	})
	t.Run("hf-packed", func(t *testing.T) {
		dir := t.TempDir()
		largest, err := write2B4THF(dir, c)
		if err != nil {
			t.Fatal(err)
		}
		measure(t, dir, filepath.Join(dir, "out.bwm"), largest, Options{})
	})
}

func measure(t *testing.T, in, out string, largest int64, opts Options) {
	size := int64(0)
	filepath.Walk(in, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			size += fi.Size()
		}
		return nil
	})
	t.Logf("input: %.2f GB; largest tensor %.1f MB", float64(size)/1e9, float64(largest)/1e6)
	runtime.GC()
	debug.FreeOSMemory()
	baseAnon := procStatus("RssAnon")
	resetPeak := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	var mu sync.Mutex
	peakAnon := int64(0)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		for {
			if v := procStatus("RssAnon"); v > 0 {
				mu.Lock()
				peakAnon = max(peakAnon, v)
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	}()
	start := time.Now()
	s, err := Convert(context.Background(), in, out, opts)
	wall := time.Since(start)
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	hwm := procStatus("VmHWM")
	t.Logf("converted in %v (%.0f MB/s of input): %d tensors, %.2f GB out, %.2f bits per weight", wall.Round(time.Millisecond),
		float64(size)/1e6/wall.Seconds(), s.Tensors, float64(s.FileBytes)/1e9, s.BitsPerWeight)
	t.Logf("peak resident set (VmHWM, reset=%v): %.1f MB = %.2f× the largest tensor; peak anonymous memory (RssAnon): %.1f MB = %.2f× (%.1f MB before the conversion)",
		resetPeak, float64(hwm)/1e6, float64(hwm)/float64(largest), float64(peakAnon)/1e6, float64(peakAnon)/float64(largest), float64(baseAnon)/1e6)
	if resetPeak && float64(hwm) > 1.5*float64(largest)+256e6 {
		t.Errorf("peak resident set %.1f MB is above 1.5× the largest tensor (%.1f MB) plus 256 MB", float64(hwm)/1e6, float64(largest)/1e6)
	}
}

// write2B4THF streams a Hugging Face directory of the packed 2B4T release's
// layout (architectures.md §1.4 item 2, §5.3): config.json and one
// model.safetensors with U8 [out/4, in] projections, BF16 [1] weight_scale
// (= 16, so γ = 1/16), a BF16 embedding of 128256×2560 and BF16 norms.
// It returns the size of the largest tensor.
func write2B4THF(dir string, c sdk.BitNetConfig) (int64, error) {
	cfg := map[string]any{"architectures": []string{"BitNetForCausalLM"}, "model_type": "bitnet", "vocab_size": c.Vocab,
		"hidden_size": c.Dim, "num_hidden_layers": c.Layers, "num_attention_heads": c.Heads, "num_key_value_heads": c.KVHeads,
		"intermediate_size": c.FFN, "rope_theta": c.RopeTheta, "rms_norm_eps": c.Eps, "hidden_act": c.Act,
		"max_position_embeddings": c.ContextLength, "bos_token_id": 128000, "eos_token_id": 128001, "tie_word_embeddings": true,
		"quantization_config": map[string]any{"quant_method": "bitnet", "linear_class": "bitlinear"}}
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		return 0, err
	}
	type ti struct {
		name  string
		dtype string
		shape []int
		size  int64
	}
	var ts []ti
	add := func(name, dtype string, es int, shape ...int) {
		n := int64(es)
		for _, d := range shape {
			n *= int64(d)
		}
		ts = append(ts, ti{name, dtype, shape, n})
	}
	d, kv, ffn := c.Dim, c.KVHeads*c.HeadDim, c.FFN
	add("model.embed_tokens.weight", "BF16", 2, c.Vocab, d)
	for l := range c.Layers {
		p := func(s string) string { return fmt.Sprintf("model.layers.%d.%s", l, s) }
		add(p("input_layernorm.weight"), "BF16", 2, d)
		for _, x := range []struct {
			n       string
			out, in int
		}{{"self_attn.q_proj", d, d}, {"self_attn.k_proj", kv, d}, {"self_attn.v_proj", kv, d}, {"self_attn.o_proj", d, d},
			{"mlp.gate_proj", ffn, d}, {"mlp.up_proj", ffn, d}, {"mlp.down_proj", d, ffn}} {
			add(p(x.n+".weight"), "U8", 1, x.out/4, x.in)
			add(p(x.n+".weight_scale"), "BF16", 2, 1)
		}
		add(p("self_attn.attn_sub_norm.weight"), "BF16", 2, d)
		add(p("post_attention_layernorm.weight"), "BF16", 2, d)
		add(p("mlp.ffn_sub_norm.weight"), "BF16", 2, ffn)
	}
	add("model.norm.weight", "BF16", 2, d)
	var hdr strings.Builder
	hdr.WriteString("{")
	off, largest := int64(0), int64(0)
	for i, t := range ts {
		if i > 0 {
			hdr.WriteString(",")
		}
		sh, _ := json.Marshal(t.shape)
		fmt.Fprintf(&hdr, "%q:{\"dtype\":%q,\"shape\":%s,\"data_offsets\":[%d,%d]}", t.name, t.dtype, sh, off, off+t.size)
		off += t.size
		largest = max(largest, t.size)
	}
	hdr.WriteString("}")
	for hdr.Len()%8 != 0 {
		hdr.WriteString(" ")
	}
	f, err := os.Create(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	binary.Write(w, binary.LittleEndian, uint64(hdr.Len()))
	w.WriteString(hdr.String())
	rng := rand.New(rand.NewPCG(2, 2))
	codes := make([]byte, 1<<20)
	for i := range codes {
		for k := range 4 {
			codes[i] |= byte(rng.IntN(3)) << (2 * k)
		}
	}
	halves := make([]byte, 1<<20)
	for i := 0; i < len(halves); i += 2 {
		binary.LittleEndian.PutUint16(halves[i:], ternary.F32ToBF16(float32(2*rng.Float64()-1)))
	}
	one := ternary.F32ToBF16(1)
	sixteen := ternary.F32ToBF16(16)
	for i, t := range ts {
		switch {
		case t.dtype == "U8":
			for n, shift := t.size, (i*8192)%(len(codes)/2); n > 0; shift = (shift + 4096) % (len(codes) / 2) {
				k := min(n, int64(len(codes)-shift))
				w.Write(codes[shift : shift+int(k)])
				n -= k
			}
		case strings.HasSuffix(t.name, ".weight_scale"):
			binary.Write(w, binary.LittleEndian, sixteen)
		case strings.HasSuffix(t.name, "embed_tokens.weight"):
			for n := t.size; n > 0; {
				k := min(n, int64(len(halves)))
				w.Write(halves[:k])
				n -= k
			}
		default:
			for range t.size / 2 {
				binary.Write(w, binary.LittleEndian, one)
			}
		}
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	return largest, f.Close()
}

// procStatus returns a "kB" field of /proc/self/status in bytes, or 0.
func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v * 1024
		}
	}
	return 0
}

// write2B4TGGUF streams a GGUF v3 file of 2B4T's layout (GGML docs/gguf.md;
// architectures.md §5.1) to path without holding any tensor in memory:
// random valid I2_S codes with γ = 1/16, random F16 embeddings, norms of
// ones. It returns the size of the largest tensor.
func write2B4TGGUF(path string, c sdk.BitNetConfig) (int64, error) {
	type ti struct {
		name string
		dims []uint64
		typ  gguf.GGMLType
		size int64
	}
	var ts []ti
	add := func(name string, typ gguf.GGMLType, dims ...uint64) {
		n := int64(1)
		for _, d := range dims {
			n *= int64(d)
		}
		size := 4 * n
		switch typ {
		case gguf.TypeF16:
			size = 2 * n
		case gguf.TypeI2_S:
			size = int64(ternary.I2SSize(int(n)))
		}
		ts = append(ts, ti{name, dims, typ, size})
	}
	d, kv, ffn := uint64(c.Dim), uint64(c.KVHeads*c.HeadDim), uint64(c.FFN)
	add("token_embd.weight", gguf.TypeF16, d, uint64(c.Vocab))
	for l := range c.Layers {
		p := func(s string) string { return fmt.Sprintf("blk.%d.%s", l, s) }
		add(p("attn_norm.weight"), gguf.TypeF32, d)
		add(p("attn_q.weight"), gguf.TypeI2_S, d, d)
		add(p("attn_k.weight"), gguf.TypeI2_S, d, kv)
		add(p("attn_v.weight"), gguf.TypeI2_S, d, kv)
		add(p("attn_sub_norm.weight"), gguf.TypeF32, d)
		add(p("attn_output.weight"), gguf.TypeI2_S, d, d)
		add(p("ffn_norm.weight"), gguf.TypeF32, d)
		add(p("ffn_gate.weight"), gguf.TypeI2_S, d, ffn)
		add(p("ffn_up.weight"), gguf.TypeI2_S, d, ffn)
		add(p("ffn_sub_norm.weight"), gguf.TypeF32, ffn)
		add(p("ffn_down.weight"), gguf.TypeI2_S, ffn, d)
	}
	add("output_norm.weight", gguf.TypeF32, d)

	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	le := binary.LittleEndian
	u32 := func(v uint32) { binary.Write(w, le, v) }
	u64 := func(v uint64) { binary.Write(w, le, v) }
	str := func(s string) { u64(uint64(len(s))); w.WriteString(s) }
	arch := "bitnet-b1.58"
	type kvp struct {
		key string
		val any
	}
	kvs := []kvp{{"general.architecture", arch}, {"general.name", "bitnet2b"}, {arch + ".vocab_size", uint32(c.Vocab)},
		{arch + ".context_length", uint32(c.ContextLength)}, {arch + ".embedding_length", uint32(c.Dim)},
		{arch + ".block_count", uint32(c.Layers)}, {arch + ".feed_forward_length", uint32(c.FFN)},
		{arch + ".rope.dimension_count", uint32(c.HeadDim)}, {arch + ".attention.head_count", uint32(c.Heads)},
		{arch + ".attention.head_count_kv", uint32(c.KVHeads)}, {arch + ".attention.layer_norm_rms_epsilon", float32(c.Eps)},
		{arch + ".rope.freq_base", float32(c.RopeTheta)}, {"general.file_type", uint32(40)}, {"general.quantization_version", uint32(2)}}
	w.WriteString("GGUF")
	u32(3)
	u64(uint64(len(ts)))
	u64(uint64(len(kvs)))
	for _, p := range kvs {
		str(p.key)
		switch v := p.val.(type) {
		case string:
			u32(uint32(gguf.String))
			str(v)
		case uint32:
			u32(uint32(gguf.Uint32))
			u32(v)
		case float32:
			u32(uint32(gguf.Float32))
			u32(math.Float32bits(v))
		}
	}
	const align = 32
	off := uint64(0)
	largest := int64(0)
	for _, t := range ts {
		str(t.name)
		u32(uint32(len(t.dims)))
		for _, d := range t.dims {
			u64(d)
		}
		u32(uint32(t.typ))
		u64(off)
		off = (off + uint64(t.size) + align - 1) / align * align
		largest = max(largest, t.size)
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	pos, _ := f.Seek(0, 1)
	w.Write(make([]byte, (align-pos%align)%align))
	// Patterns: 1 MiB of valid I2_S code bytes (no field 11), of f16
	// values in [−1, 1), and of f32 ones.
	rng := rand.New(rand.NewPCG(1, 1))
	codes := make([]byte, 1<<20)
	for i := range codes {
		for k := range 4 {
			codes[i] |= byte(rng.IntN(3)) << (2 * k)
		}
	}
	halves := make([]byte, 1<<20)
	for i := 0; i < len(halves); i += 2 {
		le.PutUint16(halves[i:], ternary.F32ToF16(float32(2*rng.Float64()-1)))
	}
	ones := make([]byte, 1<<16)
	for i := 0; i < len(ones); i += 4 {
		le.PutUint32(ones[i:], math.Float32bits(1))
	}
	fill := func(pat []byte, n int64, shift int) {
		for n > 0 {
			k := min(n, int64(len(pat)-shift))
			w.Write(pat[shift : shift+int(k)])
			n -= k
			shift = (shift + 4096) % (len(pat) / 2)
		}
	}
	for i, t := range ts {
		switch t.typ {
		case gguf.TypeF16:
			fill(halves, t.size, 0)
		case gguf.TypeF32:
			fill(ones, t.size, 0)
		case gguf.TypeI2_S:
			fill(codes, t.size-32, (i*8192)%(len(codes)/2))
			tail := make([]byte, 32)
			le.PutUint32(tail, math.Float32bits(1.0/16))
			w.Write(tail)
		}
		if pad := (align - t.size%align) % align; pad > 0 {
			w.Write(make([]byte, pad))
		}
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	return largest, f.Close()
}
