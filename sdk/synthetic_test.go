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
		if s.Pos() < 3 {
			t.Fatalf("%s: session at %d after generating", name, s.Pos())
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
		if got := f16ToF32(c.h); got != c.f {
			t.Errorf("f16 %#04x = %v, want %v", c.h, got, c.f)
		}
	}
	if !math.IsInf(float64(f16ToF32(0x7c00)), 1) || !math.IsNaN(float64(f16ToF32(0x7e00))) {
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

// An untied f16 output head gives exactly the logits of the same values
// stored as f32.
func TestF16Head(t *testing.T) {
	cfg, _ := reference.SmallBitNetConfig("1bitLLM")
	cfg.TiedOutput = false
	ref, err := reference.RandomBitNet(cfg, 6)
	if err != nil {
		t.Fatal(err)
	}
	bits := make([]byte, 2*len(ref.Output.Data))
	for i, v := range ref.Output.Data {
		r, b := toF16(v)
		ref.Output.Data[i] = r
		binary.LittleEndian.PutUint16(bits[2*i:], b)
	}
	p32 := writeRefBitNet(t, ref, false)
	// The same model with lm_head.weight in f16.
	m0, err := mmapmodel.Open(p32)
	if err != nil {
		t.Fatal(err)
	}
	p16 := filepath.Join(t.TempDir(), "f16.bwm")
	w := mmapmodel.NewWriter(p16, ArchBitNet, m0.Params())
	for _, c := range m0.Components() {
		w.BeginComponent(c.Slot)
		for _, tn := range c.Tensors {
			v, _ := mmapmodel.NewView[uint8](tn)
			spec := mmapmodel.TensorSpec{Name: tn.Name, DType: tn.DType, Shape: tn.Shape, Scale: tn.Scale, Data: bytesReader(slices.Clone(v.Data()))}
			v.Release()
			if tn.Name == lmHeadName+".weight" {
				spec.DType, spec.Data = mmapmodel.F16, bytesReader(bits)
			}
			w.Add(spec)
		}
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	m0.Close()
	var logits [][]float32
	for _, p := range []string{p32, p16} {
		m, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := m.NewSession()
		l, err := s.Forward(context.Background(), testPrompt(6, 64, 2))
		if err != nil {
			t.Fatal(err)
		}
		logits = append(logits, slices.Clone(l))
		m.Close()
	}
	if !slices.Equal(logits[0], logits[1]) {
		t.Fatal("f16 and f32 heads of equal values give different logits")
	}
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
			o := GenerateOptions{MaxTokens: n, Temperature: 1, Seed: 2, StopStrings: []string{"\x00\x00\x00\x00", "never-generated-text"}}
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
