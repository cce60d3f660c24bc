package ternary_test

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/speakez/barewire/mmapmodel/ternary"
)

func TestHalfConversions(t *testing.T) {
	cases := []struct {
		bits uint16
		f    float32
	}{
		{0x0000, 0}, {0x3c00, 1}, {0xbc00, -1}, {0x3555, 0.333251953125},
		{0x7bff, 65504}, {0x0001, 5.960464477539063e-08}, {0x0400, 6.103515625e-05},
		{0x2e66, 0.0999755859375},
	}
	for _, c := range cases {
		if got := ternary.F16ToF32(c.bits); got != c.f {
			t.Errorf("F16ToF32(%#04x) = %v, want %v", c.bits, got, c.f)
		}
		if got := ternary.F32ToF16(c.f); got != c.bits {
			t.Errorf("F32ToF16(%v) = %#04x, want %#04x", c.f, got, c.bits)
		}
	}
	if got := ternary.F32ToF16(0.1); got != 0x2e66 {
		t.Errorf("F32ToF16(0.1) = %#04x, want 0x2e66", got)
	}
	if !math.IsInf(float64(ternary.F16ToF32(0x7c00)), 1) || !math.IsNaN(float64(ternary.F16ToF32(0x7e00))) {
		t.Error("F16 inf/nan not preserved")
	}
	// Every f16 value survives a round trip through float32.
	for h := 0; h < 1<<16; h++ {
		f := ternary.F16ToF32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if back := ternary.F32ToF16(f); back != uint16(h) {
			t.Fatalf("f16 %#04x -> %v -> %#04x", h, f, back)
		}
	}
	if got := ternary.BF16ToF32(0x3f80); got != 1 {
		t.Errorf("BF16ToF32(0x3f80) = %v", got)
	}
	if got := ternary.F32ToBF16(1.00390625); got != 0x3f80 { // tie, rounds to even
		t.Errorf("F32ToBF16(1+2^-8) = %#04x, want 0x3f80", got)
	}
	if got := ternary.F32ToBF16(1.01171875); got != 0x3f82 { // 1+3·2^-8, tie, rounds up to even
		t.Errorf("F32ToBF16(1+3·2^-8) = %#04x, want 0x3f82", got)
	}
}

func TestI2SGoldenBytes(t *testing.T) {
	// Hand-built x86 block: weight 0 = +1 (code 2 at bits 7:6 of byte 0),
	// weight 33 = -1 (code 0 at bits 5:4 of byte 1), all others 0 (code 1).
	data := make([]byte, 32+32)
	for i := range 32 {
		data[i] = 0x55
	}
	data[0] = 0x95 // 10 01 01 01
	data[1] = 0x45 // 01 00 01 01
	binary.LittleEndian.PutUint32(data[32:], math.Float32bits(0.5))
	q, err := ternary.NewI2S(data, 1, 128, ternary.I2SX86)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]int8, 128)
	if err := q.Row(0, row); err != nil {
		t.Fatal(err)
	}
	want := make([]int8, 128)
	want[0], want[33] = 1, -1
	if !slices.Equal(row, want) {
		t.Fatalf("x86 row = %v", row)
	}
	if q.Scale() != 0.5 {
		t.Fatalf("scale = %v", q.Scale())
	}
	// The same bytes read as ARM: byte 1 bits 5:4 is weight 17 of block 0.
	a, err := ternary.NewI2S(data, 1, 128, ternary.I2SARM)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Row(0, row); err != nil {
		t.Fatal(err)
	}
	want = make([]int8, 128)
	want[0], want[17] = 1, -1
	if !slices.Equal(row, want) {
		t.Fatalf("arm row = %v", row)
	}
}

func TestI2SRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		layout     ternary.I2SLayout
		qk         int
		rows, cols int
	}{
		{ternary.I2SX86, 128, 3, 256}, {ternary.I2SX86, 128, 5, 384}, {ternary.I2SX86, 128, 2, 64},
		{ternary.I2SARM, 64, 3, 256}, {ternary.I2SARM, 64, 3, 64}, {ternary.I2SARM, 64, 1, 192},
	} {
		vals := randomTrits(rng, tc.rows*tc.cols)
		data := encodeI2S(vals, tc.qk, 0.0625)
		q, err := ternary.NewI2S(data, tc.rows, tc.cols, tc.layout)
		if err != nil {
			t.Fatalf("%v %d×%d: %v", tc.layout, tc.rows, tc.cols, err)
		}
		got, err := decodeAll(q, tc.rows, tc.cols)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, vals) {
			t.Fatalf("%v %d×%d: decoded values differ", tc.layout, tc.rows, tc.cols)
		}
		if q.Scale() != 0.0625 {
			t.Fatalf("scale %v", q.Scale())
		}
	}
}

func TestI2SBadInput(t *testing.T) {
	good := encodeI2S(make([]int8, 256), 128, 1)
	cases := []struct {
		name   string
		data   []byte
		rows   int
		cols   int
		layout ternary.I2SLayout
		want   error
	}{
		{"short", good[:len(good)-1], 2, 128, ternary.I2SX86, ternary.ErrFormat},
		{"long", append(slices.Clone(good), 0), 2, 128, ternary.I2SX86, ternary.ErrFormat},
		{"zero rows", good, 0, 128, ternary.I2SX86, ternary.ErrFormat},
		{"not 64 multiple", make([]byte, 32/4+32), 1, 32, ternary.I2SARM, ternary.ErrFormat},
		{"x86 needs 128", make([]byte, 64/4+32), 1, 64, ternary.I2SX86, ternary.ErrFormat},
		{"overflow", good, math.MaxInt / 2, 128, ternary.I2SX86, ternary.ErrFormat},
		{"no layout", good, 2, 128, ternary.I2SLayoutUnknown, ternary.ErrAmbiguousLayout},
	}
	for _, c := range cases {
		if _, err := ternary.NewI2S(c.data, c.rows, c.cols, c.layout); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	nan := slices.Clone(good)
	binary.LittleEndian.PutUint32(nan[64:], math.Float32bits(float32(math.NaN())))
	if _, err := ternary.NewI2S(nan, 2, 128, ternary.I2SX86); !errors.Is(err, ternary.ErrFormat) {
		t.Errorf("NaN scale: %v", err)
	}
	neg := slices.Clone(good)
	binary.LittleEndian.PutUint32(neg[64:], math.Float32bits(-1))
	if _, err := ternary.NewI2S(neg, 2, 128, ternary.I2SX86); !errors.Is(err, ternary.ErrFormat) {
		t.Errorf("negative scale: %v", err)
	}
	bad := slices.Clone(good)
	bad[40] = 0xff
	q, err := ternary.NewI2S(bad, 2, 128, ternary.I2SX86)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]int8, 128)
	if err := q.Row(1, row); !errors.Is(err, ternary.ErrFormat) {
		t.Errorf("code 3: %v", err)
	}
	if err := q.Row(2, row); err == nil {
		t.Error("row out of range accepted")
	}
	if err := q.Row(0, row[:5]); err == nil {
		t.Error("short row buffer accepted")
	}
}

func TestDetectI2SLayout(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rows, cols := 4, 256
	vals := randomTrits(rng, rows*cols)
	x86 := encodeI2S(vals, 128, 1)
	arm := encodeI2S(vals, 64, 1)

	// No evidence: ambiguous, never a guess.
	rep, err := ternary.DetectI2SLayout(x86, rows, cols, ternary.I2SEvidence{})
	if !errors.Is(err, ternary.ErrAmbiguousLayout) || rep.Layout != ternary.I2SLayoutUnknown {
		t.Fatalf("no evidence: %v %v", rep.Layout, err)
	}
	ref := map[int][]int8{2: vals[2*cols : 3*cols]}
	rep, err = ternary.DetectI2SLayout(x86, rows, cols, ternary.I2SEvidence{Reference: ref})
	if err != nil || rep.Layout != ternary.I2SX86 || rep.MismatchX86 != 0 || rep.MismatchARM == 0 {
		t.Fatalf("x86 with reference: %+v %v", rep, err)
	}
	rep, err = ternary.DetectI2SLayout(arm, rows, cols, ternary.I2SEvidence{Reference: ref})
	if err != nil || rep.Layout != ternary.I2SARM || rep.MismatchARM != 0 || rep.MismatchX86 == 0 {
		t.Fatalf("arm with reference: %+v %v", rep, err)
	}
	// A reference from other weights matches neither.
	other := map[int][]int8{0: randomTrits(rng, cols)}
	if _, err := ternary.DetectI2SLayout(x86, rows, cols, ternary.I2SEvidence{Reference: other}); !errors.Is(err, ternary.ErrAmbiguousLayout) {
		t.Fatalf("foreign reference: %v", err)
	}
	// Geometry: 3×64 = 192 weights is a whole number of ARM blocks only.
	v192 := randomTrits(rng, 192)
	rep, err = ternary.DetectI2SLayout(encodeI2S(v192, 64, 1), 3, 64, ternary.I2SEvidence{})
	if err != nil || rep.Layout != ternary.I2SARM {
		t.Fatalf("192 weights: %+v %v", rep, err)
	}
	// Invariance: all-zero weights decode the same either way.
	rep, err = ternary.DetectI2SLayout(encodeI2S(make([]int8, 512), 128, 1), 2, 256, ternary.I2SEvidence{})
	if err != nil || !rep.Indifferent || rep.Layout != ternary.I2SX86 {
		t.Fatalf("zeros: %+v %v", rep, err)
	}
	// Code 3 anywhere: not I2_S.
	bad := slices.Clone(x86)
	bad[7] |= 0x03
	if _, err := ternary.DetectI2SLayout(bad, rows, cols, ternary.I2SEvidence{Reference: ref}); !errors.Is(err, ternary.ErrFormat) {
		t.Fatalf("code 3: %v", err)
	}
	// Bad reference shape.
	if _, err := ternary.DetectI2SLayout(x86, rows, cols, ternary.I2SEvidence{Reference: map[int][]int8{9: vals[:cols]}}); err == nil {
		t.Fatal("reference row out of range accepted")
	}
	if _, err := ternary.DetectI2SLayout(x86[:10], rows, cols, ternary.I2SEvidence{}); !errors.Is(err, ternary.ErrFormat) {
		t.Fatalf("short: %v", err)
	}
}

func TestParseI2SLayout(t *testing.T) {
	for s, want := range map[string]ternary.I2SLayout{"x86": ternary.I2SX86, "arm": ternary.I2SARM} {
		got, err := ternary.ParseI2SLayout(s)
		if err != nil || got != want || got.String() != s {
			t.Errorf("ParseI2SLayout(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ternary.ParseI2SLayout("risc-v"); err == nil {
		t.Error("unknown layout accepted")
	}
}

func TestTQGolden(t *testing.T) {
	// TQ1_0: byte 205 is the trits (2,1,0,1,2): q = 2·81+1·27+0·9+1·3+2 =
	// 194, stored as ceil(194·256/243) = 205 (quantize_row_tq1_0_ref).
	blk := make([]byte, 54)
	for i := range 52 {
		blk[i] = 0x80 // 0x80 = ceil(121·256/243) = 128: trits 1,1,1,1,1 (all zero)
	}
	// qh bytes store 4 trits then a zero trit (×3): (1,1,1,1)·3 → q = 120, ceil(120·256/243) = 127.
	for i := 48; i < 52; i++ {
		blk[i] = 127
	}
	blk[0] = 205
	binary.LittleEndian.PutUint16(blk[52:], 0x3c00) // d = 1
	q, err := ternary.NewTQ(ternary.TQ1, blk, 1, 256)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]int8, 256)
	if err := q.Row(0, row); err != nil {
		t.Fatal(err)
	}
	want := make([]int8, 256)
	want[0], want[32], want[64], want[96], want[128] = 1, 0, -1, 0, 1
	if !slices.Equal(row, want) {
		t.Fatalf("TQ1 row: %v", row)
	}
	// TQ2_0: weight 160 lives in byte 32+0 at bits 3:2 (32·(160/128)+160%32 = 32, shift 2·(32/32)).
	b2 := make([]byte, 66)
	for i := range 64 {
		b2[i] = 0x55
	}
	b2[32] = 0x59                                  // 01 01 10 01: weight 160 → code 2 → +1
	binary.LittleEndian.PutUint16(b2[64:], 0x3800) // d = 0.5
	q2, err := ternary.NewTQ(ternary.TQ2, b2, 1, 256)
	if err != nil {
		t.Fatal(err)
	}
	if err := q2.Row(0, row); err != nil {
		t.Fatal(err)
	}
	want = make([]int8, 256)
	want[160] = 1
	if !slices.Equal(row, want) {
		t.Fatalf("TQ2 row: %v", row)
	}
	if g, err := q2.TensorScale(); err != nil || g != 0.5 {
		t.Fatalf("TQ2 scale %v %v", g, err)
	}
}

func TestTQRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, kind := range []ternary.TQKind{ternary.TQ1, ternary.TQ2} {
		rows, cols := 3, 512
		vals := randomTrits(rng, rows*cols)
		d := slices.Repeat([]float32{0.03125}, rows*cols/256)
		enc := encodeTQ2
		if kind == ternary.TQ1 {
			enc = encodeTQ1
		}
		q, err := ternary.NewTQ(kind, enc(vals, d), rows, cols)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeAll(q, rows, cols)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, vals) {
			t.Fatalf("%v: decoded values differ", kind)
		}
		g, err := q.TensorScale()
		if err != nil || g != 0.03125 {
			t.Fatalf("%v: scale %v %v", kind, g, err)
		}
		// Differing scales are reported, not merged.
		d[4] = 0.0625
		q, _ = ternary.NewTQ(kind, enc(vals, d), rows, cols)
		if _, err := q.TensorScale(); !errors.Is(err, ternary.ErrNonUniformScale) {
			t.Fatalf("%v: non-uniform scales: %v", kind, err)
		}
		if s := q.BlockScale(2, 0); s != 0.0625 {
			t.Fatalf("%v: BlockScale(2,0) = %v", kind, s)
		}
		// A zero-scale block holds zeros whatever its codes, and does not
		// break uniformity.
		d[4] = 0
		q, _ = ternary.NewTQ(kind, enc(vals, d), rows, cols)
		if g, err := q.TensorScale(); err != nil || g != 0.03125 {
			t.Fatalf("%v: zero block: %v %v", kind, g, err)
		}
		row := make([]int8, cols)
		if err := q.Row(2, row); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(row[:256], make([]int8, 256)) || !slices.Equal(row[256:], vals[2*cols+256:3*cols]) {
			t.Fatalf("%v: zero-scale block not zeroed", kind)
		}
	}
}

func TestTQBadInput(t *testing.T) {
	good := encodeTQ2(make([]int8, 256), []float32{1})
	if _, err := ternary.NewTQ(ternary.TQ2, good[:65], 1, 256); !errors.Is(err, ternary.ErrFormat) {
		t.Errorf("short: %v", err)
	}
	if _, err := ternary.NewTQ(ternary.TQ2, good, 1, 128); !errors.Is(err, ternary.ErrFormat) {
		t.Errorf("partial block: %v", err)
	}
	if _, err := ternary.NewTQ(ternary.TQ1, good, 1, 256); !errors.Is(err, ternary.ErrFormat) {
		t.Errorf("TQ2 bytes as TQ1: %v", err)
	}
	if _, err := ternary.NewTQ(ternary.TQ2, good, math.MaxInt/256, 256); !errors.Is(err, ternary.ErrFormat) {
		t.Errorf("overflow: %v", err)
	}
	bad := slices.Clone(good)
	bad[10] = 0x03
	q, _ := ternary.NewTQ(ternary.TQ2, bad, 1, 256)
	if err := q.Row(0, make([]int8, 256)); !errors.Is(err, ternary.ErrFormat) {
		t.Errorf("code 3: %v", err)
	}
	if _, err := q.TensorScale(); !errors.Is(err, ternary.ErrFormat) {
		t.Errorf("code 3 scale: %v", err)
	}
	inf := slices.Clone(good)
	binary.LittleEndian.PutUint16(inf[64:], 0x7c00)
	q, _ = ternary.NewTQ(ternary.TQ2, inf, 1, 256)
	if err := q.Row(0, make([]int8, 256)); !errors.Is(err, ternary.ErrFormat) {
		t.Errorf("inf scale: %v", err)
	}
}

func TestHFPacked(t *testing.T) {
	// The example in HFT integrations/bitnet.py unpack_weights:
	// packed [[0b10100001, 0b00011000], [0b10010000, 0b00001010]] unpacks to
	// [[0,-1],[-1,1],[-1,1],[-1,1],[1,0],[0,-1],...]; rows 6 and 7 follow
	// from the top bit fields.
	packed := []byte{0b10100001, 0b00011000, 0b10010000, 0b00001010}
	h, err := ternary.NewHFPacked(packed, 2, 2, 0.5, ternary.HFScaleReciprocal)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeAll(h, 8, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []int8{0, -1, -1, 1, -1, 1, -1, 1, 1, 0, 0, -1, 1, -1, 1, -1}
	if !slices.Equal(got, want) {
		t.Fatalf("unpacked %v, want %v", got, want)
	}
	if h.Scale() != 2 {
		t.Fatalf("γ = %v, want 1/0.5 = 2", h.Scale())
	}
	d, _ := ternary.NewHFPacked(packed, 2, 2, 0.5, ternary.HFScaleDirect)
	if d.Scale() != 0.5 {
		t.Fatalf("direct γ = %v", d.Scale())
	}
	rng := rand.New(rand.NewPCG(7, 8))
	vals := randomTrits(rng, 12*40)
	h, err = ternary.NewHFPacked(packHF(vals, 12, 40), 3, 40, 4, ternary.HFScaleReciprocal)
	if err != nil {
		t.Fatal(err)
	}
	got, err = decodeAll(h, 12, 40)
	if err != nil || !slices.Equal(got, vals) {
		t.Fatalf("round trip: %v", err)
	}
	// Hostile input.
	if _, err := ternary.NewHFPacked(packed[:3], 2, 2, 1, ternary.HFScaleReciprocal); !errors.Is(err, ternary.ErrFormat) {
		t.Errorf("short: %v", err)
	}
	for _, ws := range []float32{0, -1, float32(math.Inf(1)), float32(math.NaN())} {
		if _, err := ternary.NewHFPacked(packed, 2, 2, ws, ternary.HFScaleReciprocal); !errors.Is(err, ternary.ErrFormat) {
			t.Errorf("weight_scale %v: %v", ws, err)
		}
	}
	h, _ = ternary.NewHFPacked([]byte{0xC0}, 1, 1, 1, ternary.HFScaleReciprocal)
	if err := h.Row(3, make([]int8, 1)); !errors.Is(err, ternary.ErrFormat) {
		t.Errorf("code 3: %v", err)
	}
	if err := h.Row(4, make([]int8, 1)); err == nil {
		t.Error("row 4 of 4 accepted")
	}
}

func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

func TestTernarizeAbsmean(t *testing.T) {
	// mean|W| = (0.5+1+0.25+2+0.25+0+1+3)/8 = 1 → γ = 1.
	w := []float32{0.5, -1, 0.25, 2, -0.25, 0, 1, -3}
	tz, err := ternary.Ternarize(f32Bytes(w), ternary.F32, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	if tz.AlreadyTernary() || tz.Scale() != 1 {
		t.Fatalf("already=%v γ=%v", tz.AlreadyTernary(), tz.Scale())
	}
	got, _ := decodeAll(tz, 2, 4)
	// 0.5 rounds half to even → 0 (torch.round); -0.25 → 0; 2 → 1; -3 → -1.
	want := []int8{0, -1, 0, 1, 0, 0, 1, -1}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// 1.5·γ rounds to 2 → clamped to 1; the tie -2.5 → -2 → -1.
	w = []float32{1.5, -2.5, 0, 0}
	tz, _ = ternary.Ternarize(f32Bytes(w), ternary.F32, 1, 4)
	if tz.Scale() != 1 {
		t.Fatalf("γ = %v", tz.Scale())
	}
	got, _ = decodeAll(tz, 1, 4)
	if !slices.Equal(got, []int8{1, -1, 0, 0}) {
		t.Fatalf("clamp: %v", got)
	}
	// Tiny weights: γ clamps to 1e-5.
	tz, _ = ternary.Ternarize(f32Bytes([]float32{1e-7, -2e-7}), ternary.F32, 1, 2)
	if tz.Scale() != ternary.AbsmeanEpsilon {
		t.Fatalf("clamped γ = %v", tz.Scale())
	}
}

func TestTernarizeKeepsTernary(t *testing.T) {
	// Already ternary×γ with a nonzero fraction of 1/2: absmean would give
	// γ/2 and shrink every weight; the detector keeps γ.
	g := float32(0.0421)
	w := []float32{g, 0, -g, 0, 0, g, 0, -g}
	for _, dt := range []ternary.DenseDType{ternary.F32, ternary.F16, ternary.BF16} {
		var b []byte
		switch dt {
		case ternary.F32:
			b = f32Bytes(w)
		default:
			for _, f := range w {
				h := ternary.F32ToBF16(f)
				if dt == ternary.F16 {
					h = ternary.F32ToF16(f)
				}
				b = binary.LittleEndian.AppendUint16(b, h)
			}
		}
		tz, err := ternary.Ternarize(b, dt, 2, 4)
		if err != nil {
			t.Fatal(err)
		}
		wantG := g
		if dt == ternary.F16 {
			wantG = ternary.F16ToF32(ternary.F32ToF16(g))
		} else if dt == ternary.BF16 {
			wantG = ternary.BF16ToF32(ternary.F32ToBF16(g))
		}
		if !tz.AlreadyTernary() || tz.Scale() != wantG {
			t.Fatalf("%v: already=%v γ=%v want %v", dt, tz.AlreadyTernary(), tz.Scale(), wantG)
		}
		got, _ := decodeAll(tz, 2, 4)
		if !slices.Equal(got, []int8{1, 0, -1, 0, 0, 1, 0, -1}) {
			t.Fatalf("%v: %v", dt, got)
		}
	}
	tz, _ := ternary.Ternarize(f32Bytes(make([]float32, 4)), ternary.F32, 2, 2)
	if !tz.AlreadyTernary() || tz.Scale() != 0 {
		t.Fatalf("zeros: %v %v", tz.AlreadyTernary(), tz.Scale())
	}
}

func TestTernarizeBadInput(t *testing.T) {
	if _, err := ternary.Ternarize(make([]byte, 7), ternary.F32, 1, 2); !errors.Is(err, ternary.ErrFormat) {
		t.Errorf("short: %v", err)
	}
	if _, err := ternary.Ternarize(f32Bytes([]float32{1, float32(math.NaN())}), ternary.F32, 1, 2); !errors.Is(err, ternary.ErrFormat) {
		t.Errorf("NaN: %v", err)
	}
	if _, err := ternary.Ternarize(nil, ternary.F16, math.MaxInt/2, 2); !errors.Is(err, ternary.ErrFormat) {
		t.Errorf("overflow: %v", err)
	}
	if _, err := ternary.Ternarize(nil, 0, 1, 1); err == nil {
		t.Error("unknown dtype accepted")
	}
}

func TestRowDoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	vals := randomTrits(rng, 4*256)
	i2s, _ := ternary.NewI2S(encodeI2S(vals, 128, 1), 4, 256, ternary.I2SX86)
	tq1, _ := ternary.NewTQ(ternary.TQ1, encodeTQ1(vals, []float32{1, 1, 1, 1}), 4, 256)
	hf, _ := ternary.NewHFPacked(packHF(vals, 4, 256), 1, 256, 1, ternary.HFScaleReciprocal)
	tz, _ := ternary.Ternarize(f32Bytes(make([]float32, 4*256)), ternary.F32, 4, 256)
	row := make([]int8, 256)
	for _, dec := range []interface{ Row(int, []int8) error }{i2s, tq1, hf, tz} {
		if n := testing.AllocsPerRun(10, func() { _ = dec.Row(2, row) }); n != 0 {
			t.Errorf("%T.Row allocates %v times", dec, n)
		}
	}
}
