package sdk

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/sdk/internal/reference"
	"github.com/speakez/barewire/simd"
)

func TestSyntheticTiny(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{SyntheticBitNetTiny, SyntheticMMFreeTiny} {
		path, err := SyntheticPath(dir, name, SyntheticOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.File().Verify(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m.Vocab() != 512 || m.Tokenizer() == nil || m.Tokenizer().BOS() != 256 {
			t.Fatalf("%s: vocab %d tokenizer %v", name, m.Vocab(), m.Tokenizer())
		}
		// Weight bytes: every ternary row is 32 bytes per 128 weights,
		// the int8 head 1 byte per weight plus a 4-byte scale per row.
		var want int64
		for _, tn := range m.File().Tensors() {
			if tn.DType == mmapmodel.T2 {
				want += int64(tn.Length)
			}
		}
		if m.Arch() == ArchBitNet {
			want += 512*128 + 4*512
		}
		if got := m.WeightBytes(); got != want {
			t.Fatalf("%s: WeightBytes %d, want %d", name, got, want)
		}
		s, err := m.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		var text strings.Builder
		for piece, err := range s.GenerateText(context.Background(), "hi", GenerateOptions{MaxTokens: 16, Temperature: 1, Seed: 3}) {
			if err != nil {
				t.Fatal(err)
			}
			text.WriteString(piece)
		}
		// "hi" is three tokens with the BOS the tokenizer adds; sixteen are
		// generated (no EOS: all of them), the last one not yet run.
		if s.Pos() != 3+16-1 || text.Len() == 0 {
			t.Fatalf("%s: session at %d after generating %q, want 18 and some text", name, s.Pos(), text.String())
		}
		m.Close()
	}
	if _, err := SyntheticPath(dir, "nope", SyntheticOptions{}); err == nil {
		t.Fatal("unknown synthetic name accepted")
	}
	if err := WriteSynthetic(filepath.Join(dir, "x.bwm"), SyntheticBitNetTiny, SyntheticOptions{Head: "f8"}); err == nil {
		t.Fatal("unknown head dtype accepted")
	}
}

// An int8 output head (W8A8, row absmax scales) stays close to the f32
// head it was quantized from.
func TestInt8Head(t *testing.T) {
	cfg, _ := reference.SmallBitNetConfig("2B4T")
	ref, _ := reference.RandomBitNet(cfg, 5)
	mf, err := Open(writeRefBitNet(t, ref, false))
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	mi, err := Open(writeRefBitNet(t, ref, true))
	if err != nil {
		t.Fatal(err)
	}
	defer mi.Close()
	if mi.lm.head.lin.kind != linI8 || mf.lm.head.lin.kind != linDense {
		t.Fatal("head kinds")
	}
	sf, _ := mf.NewSession()
	si, _ := mi.NewSession()
	prompt := testPrompt(10, 64, 8)
	for p, tok := range prompt {
		lf, _ := sf.Forward(context.Background(), []int{tok})
		lf = slices.Clone(lf)
		li, err := si.Forward(context.Background(), []int{tok})
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float64, len(lf))
		for i, v := range lf {
			want[i] = float64(v)
		}
		// The embedding rows are int8 too, so the whole stream carries
		// their rounding: bound the difference by 5% of the logit range.
		if diff, span := maxAbsDiff(li, want); diff > 0.05*span || diff == 0 {
			t.Fatalf("pos %d: int8 head differs from f32 head by %g (range %g)", p, diff, span)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tiny.bwm")
	if err := WriteSynthetic(path, SyntheticBitNetTiny, SyntheticOptions{}); err != nil {
		t.Fatal(err)
	}
	// Drop one tensor: the error names it.
	m0, _ := mmapmodel.Open(path)
	defer m0.Close()
	bad := filepath.Join(dir, "bad.bwm")
	w := mmapmodel.NewWriter(bad, ArchBitNet, m0.Params())
	for _, c := range m0.Components() {
		w.BeginComponent(c.Slot)
		for _, tn := range c.Tensors {
			if tn.Name == "model.layers.1.mlp.up_proj.weight" {
				continue
			}
			v, _ := mmapmodel.NewView[uint8](tn)
			spec := mmapmodel.TensorSpec{Name: tn.Name, DType: tn.DType, Shape: tn.Shape, Scale: tn.Scale, Data: bytesReader(v.Data())}
			if tn.DType == mmapmodel.I8 {
				im, _ := mmapmodel.NewInt8Matrix(tn)
				spec.Scales = im.Scales()
			}
			w.Add(spec)
		}
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	_, err := Open(bad)
	if !errors.Is(err, ErrModel) || !strings.Contains(err.Error(), `"model.layers.1.mlp.up_proj.weight" missing`) {
		t.Fatalf("missing tensor: %v", err)
	}
	// An unknown architecture.
	other := filepath.Join(dir, "other.bwm")
	w = mmapmodel.NewWriter(other, "transformer-xl", nil)
	w.BeginComponent("a")
	w.Add(mmapmodel.TensorSpec{Name: "x", DType: mmapmodel.U8, Shape: []mmapmodel.Elems{1}, Data: bytesReader([]byte{1})})
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(other); !errors.Is(err, ErrArch) || !strings.Contains(err.Error(), `"transformer-xl"`) {
		t.Fatalf("unknown arch: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "absent.bwm")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("absent file: %v", err)
	}
}

// A release directory (one component file per slot) runs exactly like the
// single file holding the same tensors.
func TestReleaseMatchesSingleFile(t *testing.T) {
	dir := t.TempDir()
	single := filepath.Join(dir, "single.bwm")
	if err := WriteSynthetic(single, SyntheticMMFreeTiny, SyntheticOptions{Seed: 4}); err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join(dir, "release")
	c := MMFreeConfig{Vocab: 512, Dim: 128, Layers: 2, FFN: 384, Eps: 1e-6}
	src := &randomWeights{seed: 4, head: "i8"}
	if err := writeLayoutRelease(rel, ArchMMFree, mmfreeParams(c), mmfreeLayout(c), src.spec, nil); err != nil {
		t.Fatal(err)
	}
	var logits [][]float32
	for _, p := range []string{single, rel} {
		m, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if p == rel && len(m.File().Components()) != 2+2*c.Layers {
			t.Fatalf("release has %d components", len(m.File().Components()))
		}
		s, _ := m.NewSession()
		l, err := s.Forward(context.Background(), []int{1, 2, 3, 4})
		if err != nil {
			t.Fatal(err)
		}
		logits = append(logits, slices.Clone(l))
		m.Close()
	}
	if !slices.Equal(logits[0], logits[1]) {
		t.Fatal("release and single file give different logits")
	}
}

// Sessions of one model run in parallel (their kernel calls share the
// model's pool) and give what they give alone.
func TestConcurrentSessions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiny.bwm")
	if err := WriteSynthetic(path, SyntheticBitNetTiny, SyntheticOptions{Seed: 2}); err != nil {
		t.Fatal(err)
	}
	m, err := Open(path, WithThreads(2))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	gen := func(seed uint64) []int {
		s, err := m.NewSession(WithContextLength(64))
		if err != nil {
			t.Error(err)
			return nil
		}
		var out []int
		for tok, err := range s.Generate(context.Background(), []int{256, int(seed)}, GenerateOptions{MaxTokens: 24, Temperature: 1, Seed: seed}) {
			if err != nil {
				t.Error(err)
				return nil
			}
			out = append(out, tok.ID)
		}
		return out
	}
	want := [][]int{gen(1), gen(2), gen(3)}
	got := make([][]int, 3)
	done := make(chan struct{})
	for i := range got {
		go func() { got[i] = gen(uint64(i + 1)); done <- struct{}{} }()
	}
	for range got {
		<-done
	}
	for i := range got {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("session %d: parallel %v, alone %v", i, got[i], want[i])
		}
	}
}

// Stop tokens and stop strings end generation before the token that hits
// them.
func TestStops(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiny.bwm")
	if err := WriteSynthetic(path, SyntheticMMFreeTiny, SyntheticOptions{Seed: 9}); err != nil {
		t.Fatal(err)
	}
	m, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, _ := m.NewSession()
	ctx := context.Background()
	sampled := GenerateOptions{MaxTokens: 40, Temperature: 1, Seed: 5}
	gen := func(o GenerateOptions) (ids []int) {
		s.Reset()
		for tok, err := range s.Generate(ctx, []int{256, 'a'}, o) {
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, tok.ID)
		}
		return ids
	}
	all := gen(sampled)
	if len(all) != 40 {
		t.Fatalf("%d tokens, want 40", len(all))
	}
	// Stop at the first occurrence of the 10th token's id.
	o := sampled
	o.StopTokens = []int{all[10]}
	got := gen(o)
	first := slices.Index(all, all[10])
	if !slices.Equal(got, all[:first]) {
		t.Fatalf("stop token %d: got %v, want %v", all[10], got, all[:first])
	}
	// A stop string made of two byte tokens generated in a row.
	var at = -1
	for i := 5; i+1 < len(all); i++ {
		if all[i] < 256 && all[i+1] < 256 {
			at = i
			break
		}
	}
	if at < 0 {
		t.Skip("no two byte tokens in a row")
	}
	o = sampled
	stop := string([]byte{byte(all[at]), byte(all[at+1])})
	o.StopStrings = []string{stop}
	got = gen(o)
	// Expected: everything before the first token whose text completes
	// the stop string in the generated text.
	k := 0
	for !strings.Contains(m.Tokenizer().Decode(all[:k+1]), stop) {
		k++
	}
	if k > at+1 || !slices.Equal(got, all[:k]) {
		t.Fatalf("stop string %q: got %v, want the %d tokens before it", stop, got, k)
	}
}

func TestF16ToF32(t *testing.T) {
	for _, c := range []struct {
		h uint16
		f float32
	}{{0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0001, 1.0 / (1 << 24)}, {0x8000, 0}, {0x3555, 0.333251953125}, {0x0400, 1.0 / (1 << 14)}} {
		if got := simd.F16ToF32(c.h); got != c.f {
			t.Errorf("f16 %#04x = %v, want %v", c.h, got, c.f)
		}
	}
	if !math.IsInf(float64(simd.F16ToF32(0x7c00)), 1) || !math.IsNaN(float64(simd.F16ToF32(0x7e00))) {
		t.Error("Inf or NaN")
	}
}

// toF16 rounds v to a value binary16 holds exactly (normal range, or 0)
// and returns it with its bits.
func toF16(v float64) (float64, uint16) {
	if math.Abs(v) < 1.0/(1<<14) {
		return 0, 0
	}
	frac, exp := math.Frexp(v)                        // v = frac·2^exp, |frac| in [0.5, 1)
	m := math.RoundToEven(math.Abs(frac)*2048) / 1024 // 11 significant bits, in [1, 2]
	e := exp - 1
	if m == 2 {
		m, e = 1, e+1
	}
	bits := uint16(e+15)<<10 | uint16((m-1)*1024)
	if v < 0 {
		bits |= 0x8000
	}
	return math.Copysign(math.Ldexp(m, e), v), bits
}

// An f16 or bf16 output head, untied or tied to the embedding, gives
// exactly the logits of the same values stored as f32, on every tier: the
// matrix is read in place (no widened copy), and the float kernels sum
// every width in one order (simd.FloatLanes), so only the loads differ.
func TestHalfHead(t *testing.T) {
	for _, c := range []struct {
		dtype mmapmodel.DType
		tied  bool
		kind  linearKind
	}{{mmapmodel.F16, false, linF16}, {mmapmodel.BF16, false, linBF16}, {mmapmodel.F16, true, linF16}, {mmapmodel.BF16, true, linBF16}} {
		cfg, _ := reference.SmallBitNetConfig("1bitLLM")
		cfg.TiedOutput = c.tied
		ref, err := reference.RandomBitNet(cfg, 6)
		if err != nil {
			t.Fatal(err)
		}
		mat, name := ref.Output, lmHeadName+".weight"
		if c.tied {
			mat, name = &ref.Embed, bitnetEmbed+".weight"
		}
		bits := make([]byte, 2*len(mat.Data))
		for i, v := range mat.Data {
			r, b := toF16(v)
			if c.dtype == mmapmodel.BF16 {
				b = uint16(math.Float32bits(float32(v)) >> 16)
				r = float64(simd.BF16ToF32(b))
			}
			mat.Data[i] = r
			binary.LittleEndian.PutUint16(bits[2*i:], b)
		}
		p32 := writeRefBitNet(t, ref, false)
		p16 := rewriteTensor(t, p32, name, c.dtype, bits)
		for _, tier := range simd.Tiers() {
			impl, _ := simd.ImplFor(tier)
			var logits [][]float32
			for _, p := range []string{p32, p16} {
				m, err := Open(p, WithKernels(impl), WithThreads(3))
				if err != nil {
					t.Fatal(err)
				}
				if h := m.lm.head.lin; p == p16 && (h.kind != c.kind || h.wf != nil || len(h.wh) != cfg.Vocab*cfg.Dim || (h == m.lm.embed) != c.tied) {
					t.Fatalf("%s tied=%v: head kind %d, %d values in place, %d widened", c.dtype, c.tied, h.kind, len(h.wh), len(h.wf))
				}
				s, _ := m.NewSession()
				l, err := s.Forward(context.Background(), testPrompt(6, 64, 2))
				if err != nil {
					t.Fatal(err)
				}
				logits = append(logits, slices.Clone(l))
				if !raceEnabled && p == p16 {
					// Decoding with the head read in place allocates nothing.
					tok := []int{3}
					if a := testing.AllocsPerRun(5, func() { s.Forward(context.Background(), tok) }); a != 0 {
						t.Fatalf("%s %s: %v allocations per token", tier, c.dtype, a)
					}
				}
				m.Close()
			}
			if !slices.Equal(logits[0], logits[1]) {
				t.Fatalf("%s %s tied=%v: the f32 head and the head of equal values give different logits", tier, c.dtype, c.tied)
			}
		}
	}
}

// rewriteTensor copies the model file at path with tensor name replaced by
// data of dtype, and returns the copy's path.
func rewriteTensor(t *testing.T, path, name string, dtype mmapmodel.DType, data []byte) string {
	t.Helper()
	m0, err := mmapmodel.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m0.Close()
	out := filepath.Join(t.TempDir(), "rewritten.bwm")
	w := mmapmodel.NewWriter(out, ArchBitNet, m0.Params())
	found := false
	for _, c := range m0.Components() {
		w.BeginComponent(c.Slot)
		for _, tn := range c.Tensors {
			v, _ := mmapmodel.NewView[uint8](tn)
			spec := mmapmodel.TensorSpec{Name: tn.Name, DType: tn.DType, Shape: tn.Shape, Scale: tn.Scale, Data: bytesReader(slices.Clone(v.Data()))}
			v.Release()
			if tn.Name == name {
				spec.DType, spec.Data, found = dtype, bytesReader(data), true
			}
			w.Add(spec)
		}
	}
	if !found {
		t.Fatalf("no tensor %q in %s", name, path)
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Stop strings cost no allocation per token either.
func TestStopStringsNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	path := filepath.Join(t.TempDir(), "tiny.bwm")
	if err := WriteSynthetic(path, SyntheticMMFreeTiny, SyntheticOptions{Seed: 9}); err != nil {
		t.Fatal(err)
	}
	m, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, _ := m.NewSession()
	gen := func(n int) func() {
		return func() {
			s.Reset()
			o := GenerateOptions{MaxTokens: n, Temperature: 1, Seed: 2, StopStrings: []string{"\x00\x00\x00\x00", "never-generated-text", "", "a stop string longer than the 32 bytes a conversion keeps on the stack"}}
			for _, err := range s.Generate(context.Background(), []int{256}, o) {
				if err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	gen(50)() // first use allocates the decoder
	if a1, a50 := testing.AllocsPerRun(10, gen(1)), testing.AllocsPerRun(10, gen(50)); a1 != a50 {
		t.Fatalf("1 token: %v allocations, 50 tokens: %v", a1, a50)
	}
}

// f16Bits and bf16Bits round to nearest, ties to even: every value in
// [0, 1) maps to itself, and every midpoint to the even neighbour.
func TestHalfBits(t *testing.T) {
	for h := uint16(0); h < 0x3c00; h++ {
		v := float64(simd.F16ToF32(h))
		if got := f16Bits(v); got != h {
			t.Fatalf("f16Bits(%v) = %#04x, want %#04x", v, got, h)
		}
		if got := f16Bits(-v); got != h|0x8000 {
			t.Fatalf("f16Bits(%v) = %#04x, want %#04x", -v, got, h|0x8000)
		}
		mid := (v + float64(simd.F16ToF32(h+1))) / 2
		if want := h + h&1; f16Bits(mid) != want {
			t.Fatalf("f16Bits(%v) = %#04x, want %#04x (tie to even)", mid, f16Bits(mid), want)
		}
		if b := uint16(math.Float32bits(float32(v)) >> 16); bf16Bits(float64(simd.BF16ToF32(b))) != b {
			t.Fatalf("bf16Bits does not keep %#04x", b)
		}
	}
	if bf16Bits(1+0x1p-8) != 0x3f80 || bf16Bits(1+0x1p-8+0x1p-20) != 0x3f81 || bf16Bits(1+3*0x1p-8) != 0x3f82 {
		t.Fatal("bf16Bits rounding")
	}
}

// Synthetic models take f16 and bf16 heads (the tied embedding, for
// BitNet; the embedding, for the MatMul-free LM, whose head is ternary):
// read in place, half the bytes of f32, and the same random values
// rounded, so the logits stay close to the f32 model's (the rounding
// flips some int8 activations downstream: about 1.5% of the logit range
// for both, bounded here at 5%).
func TestSyntheticHalfHeads(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{SyntheticBitNetTiny, SyntheticMMFreeTiny} {
		var logits [][]float32
		var bytes []int64
		for _, head := range []string{"f32", "f16", "bf16"} {
			p, err := SyntheticPath(dir, name, SyntheticOptions{Head: head, Seed: 4})
			if err != nil {
				t.Fatal(err)
			}
			m, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.File().Verify(); err != nil {
				t.Fatal(err)
			}
			want := map[string]linearKind{"f32": linDense, "f16": linF16, "bf16": linBF16}[head]
			if k := m.lm.head.lin.kind; (k != want && name == SyntheticBitNetTiny) || m.lm.embed.kind != want {
				t.Fatalf("%s %s: head kind %d, embedding kind %d, want %d", name, head, k, m.lm.embed.kind, want)
			}
			bytes = append(bytes, m.WeightBytes())
			s, _ := m.NewSession()
			l, err := s.Forward(context.Background(), testPrompt(4, 256, 8))
			if err != nil {
				t.Fatal(err)
			}
			logits = append(logits, slices.Clone(l))
			m.Close()
		}
		head := int64(512 * 128) // vocab × dim of the tiny models
		if name == SyntheticMMFreeTiny {
			head = 0 // the embedding is looked up, not streamed
		}
		if bytes[0]-bytes[1] != 2*head || bytes[1] != bytes[2] {
			t.Fatalf("%s: weight bytes f32 %d, f16 %d, bf16 %d", name, bytes[0], bytes[1], bytes[2])
		}
		ref := make([]float64, len(logits[0]))
		for i, v := range logits[0] {
			ref[i] = float64(v)
		}
		for i, tol := range []float64{0, 0.05, 0.05} {
			if diff, span := maxAbsDiff(logits[i], ref); diff > tol*span || (i > 0 && diff == 0) {
				t.Fatalf("%s head %d: logits differ from f32's by %g (range %g)", name, i, diff, span)
			}
		}
	}
}
