package simd

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/klauspost/cpuid/v2"
)

// f16Value is binary16 bits decoded in float64 straight from IEEE 754
// §3.4, independently of F16ToF32: (-1)^s · 2^(e-15) · 1.f, or
// 2^-14 · 0.f for e = 0.
func f16Value(h uint16) float64 {
	e, f := int(h>>10&0x1f), float64(h&0x3ff)
	var v float64
	switch e {
	case 0x1f:
		if f != 0 {
			return math.NaN()
		}
		v = math.Inf(1)
	case 0:
		v = math.Ldexp(f, -24)
	default:
		v = math.Ldexp(1024+f, e-25)
	}
	if h&0x8000 != 0 {
		v = -v
	}
	return v
}

func TestF16ToF32AllValues(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		got, want := F16ToF32(h), f16Value(h)
		if math.IsNaN(want) {
			b := math.Float32bits(got)
			// Quiet NaN, same sign, payload in the top fraction bits.
			if !math.IsNaN(float64(got)) || b&0x00400000 == 0 || b>>31 != uint32(h>>15) || (b>>13)&0x1ff != uint32(h)&0x1ff {
				t.Fatalf("F16ToF32(%#04x) = %#08x, want a quiet NaN with its payload", h, b)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != (h&0x8000 != 0) {
			t.Fatalf("F16ToF32(%#04x) = %v, want %v", h, got, want)
		}
		if g := BF16ToF32(h); math.Float32bits(g) != uint32(h)<<16 {
			t.Fatalf("BF16ToF32(%#04x) = %#08x", h, math.Float32bits(g))
		}
	}
	src := []uint16{0x3c00, 0xc000, 0x0001, 0x7c00}
	dst := make([]float32, 3)
	F16ToF32s(dst, src)
	if dst[0] != 1 || dst[1] != -2 || dst[2] != 0x1p-24 {
		t.Fatalf("F16ToF32s = %v", dst)
	}
	BF16ToF32s(dst, []uint16{0x3f80, 0xc000, 0})
	if dst[0] != 1 || dst[1] != -2 || dst[2] != 0 {
		t.Fatalf("BF16ToF32s = %v", dst)
	}
}

// fma32 is a·b + c rounded once to float32 (what VFMADD231PS computes):
// the product is exact in float64; the sum is made round-to-odd in float64
// (its error from TwoSum, Knuth TAOCP vol. 2 §4.2.2), and round-to-odd to
// 53 bits followed by rounding to 24 is the correct rounding of the exact
// value (Boldo and Melquiond, "Emulation of FMA and correctly rounded sums:
// proved algorithms using rounding to odd", 2008).
func fma32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	s := p + float64(c)
	if math.IsInf(s, 0) || math.IsNaN(s) {
		return float32(s)
	}
	bb := s - p
	e := (p - (s - bb)) + (float64(c) - bb)
	if e != 0 && math.Float64bits(s)&1 == 0 {
		if (e > 0) == (s > 0) {
			s = math.Float64frombits(math.Float64bits(s) + 1)
		} else {
			s = math.Float64frombits(math.Float64bits(s) - 1)
		}
	}
	return float32(s)
}

// fma32 agrees with exact arithmetic (math/big) rounded once, on random
// inputs and on sums near cancellation and near ties.
func TestFMA32(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	exact := func(a, b, c float32) float32 {
		p := new(big.Float).SetPrec(1000).SetFloat64(float64(a))
		p.Mul(p, new(big.Float).SetPrec(1000).SetFloat64(float64(b)))
		p.Add(p, new(big.Float).SetPrec(1000).SetFloat64(float64(c)))
		f, _ := p.Float32()
		return f
	}
	for i := 0; i < 200000; i++ {
		a := float32(rng.NormFloat64() * math.Ldexp(1, rng.IntN(60)-30))
		b := float32(rng.NormFloat64() * math.Ldexp(1, rng.IntN(60)-30))
		var c float32
		switch i % 3 {
		case 0:
			c = float32(rng.NormFloat64() * math.Ldexp(1, rng.IntN(120)-60))
		case 1: // cancellation
			c = -float32(float64(a) * float64(b))
		case 2: // near a float32 tie of a large c
			c = float32(float64(a) * float64(b) * math.Ldexp(1, 24+rng.IntN(3)))
		}
		if got, want := fma32(a, b, c), exact(a, b, c); got != want {
			t.Fatalf("fma32(%g, %g, %g) = %g, want %g", a, b, c, got, want)
		}
	}
}

// fusedDot is the float kernels' order with fused lane updates, as the
// amd64 tiers compute it.
func fusedDot(w, x []float32) float32 {
	var a [FloatLanes]float32
	main := len(x) &^ (FloatLanes - 1)
	for c := 0; c < main; c++ {
		a[c%FloatLanes] = fma32(w[c], x[c], a[c%FloatLanes])
	}
	return tailF32(reduceLanes(&a), w[main:len(x)], x[main:])
}

// floatCase is one float mat-vec input: the weights as bits (f16 or bf16)
// and widened.
type floatCase struct {
	kind         string // f16, bf16, f32
	rows, k, pad int
	off          int // weights and x start off elements into their buffers
	bits         []uint16
	wf           []float32
	x            []float32
}

func (c *floatCase) stride() int { return c.k + c.pad }

func (c *floatCase) run(impl Impl, dst []float32) {
	switch c.kind {
	case "f16":
		impl.MatVecF16(dst, c.bits[c.off:], c.stride(), c.x[c.off:])
	case "bf16":
		impl.MatVecBF16(dst, c.bits[c.off:], c.stride(), c.x[c.off:])
	default:
		impl.MatVecF32(dst, c.wf[c.off:], c.stride(), c.x[c.off:])
	}
}

func (c *floatCase) runPool(p *Pool, impl Impl, dst []float32) {
	switch c.kind {
	case "f16":
		p.MatVecF16(impl, dst, c.bits[c.off:], c.stride(), c.x[c.off:])
	case "bf16":
		p.MatVecBF16(impl, dst, c.bits[c.off:], c.stride(), c.x[c.off:])
	default:
		p.MatVecF32(impl, dst, c.wf[c.off:], c.stride(), c.x[c.off:])
	}
}

// row returns row r's widened weights.
func (c *floatCase) row(r int) []float32 {
	o := c.off + r*c.stride()
	return c.wf[o : o+c.k]
}

// Value generators: small integers (every product and sum exact), random
// f16 bit patterns over the whole finite range (subnormals included), and
// bf16 of random magnitude.
const (
	valSmallInt = iota
	valRandom
)

func newFloatCase(rng *rand.Rand, kind string, vals, rows, k, pad, off int) *floatCase {
	c := &floatCase{kind: kind, rows: rows, k: k, pad: pad, off: off}
	n := off + max(0, rows-1)*(k+pad) + k
	if rows == 0 {
		n = off
	}
	c.bits = make([]uint16, n)
	c.wf = make([]float32, n)
	c.x = make([]float32, off+k)
	for i := range c.bits {
		var h uint16
		switch {
		case vals == valSmallInt && kind == "bf16":
			h = uint16(math.Float32bits(float32(rng.IntN(17)-8)) >> 16)
		case vals == valSmallInt:
			h = f16Bits(float32(rng.IntN(17) - 8))
		case kind == "bf16":
			f := float32(rng.NormFloat64() * math.Ldexp(1, rng.IntN(40)-20))
			h = uint16(math.Float32bits(f) >> 16)
		default:
			h = uint16(rng.IntN(1 << 16))
			if h&0x7c00 == 0x7c00 {
				h &^= 0x4000 // no inf or NaN here
			}
		}
		c.bits[i] = h
		if kind == "bf16" {
			c.wf[i] = BF16ToF32(h)
		} else {
			c.wf[i] = F16ToF32(h)
		}
	}
	for i := range c.x {
		if vals == valSmallInt {
			c.x[i] = float32(rng.IntN(17) - 8)
		} else {
			c.x[i] = float32(rng.NormFloat64())
		}
	}
	return c
}

// f16Bits encodes a small integer (|v| < 2048) as binary16.
func f16Bits(v float32) uint16 {
	if v == 0 {
		return 0
	}
	var s uint16
	if v < 0 {
		s, v = 0x8000, -v
	}
	e := 0
	for float32(int(1)<<(e+1)) <= v {
		e++
	}
	return s | uint16(e+15)<<10 | uint16((v/float32(int(1)<<e)-1)*1024)
}

// fusedTier says whether impl's float kernels fuse the lane updates (the
// amd64 assembly) rather than round each product (generic).
func fusedTier(impl Impl) bool {
	return runtime.GOARCH == "amd64" && impl.Tier != TierGeneric && cpuid.CPU.Supports(cpuid.AVX2, cpuid.F16C, cpuid.FMA3)
}

// floatBound is the bound of the package comment, (k/16 + 20)·2⁻²⁴·Σ|w·x|,
// doubled for the difference of two tiers, with a floor for underflow.
func floatBound(w, x []float32) float64 {
	var s float64
	for i := range x {
		s += math.Abs(float64(w[i]) * float64(x[i]))
	}
	return 2*(float64(len(x))/16+20)*0x1p-24*s + 0x1p-120
}

func sameFloat(a, b float32) bool {
	return a == b && math.Signbit(float64(a)) == math.Signbit(float64(b)) || math.IsNaN(float64(a)) && math.IsNaN(float64(b))
}

func TestFloatMatVecTiers(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	impls := tierImpls(t)
	for _, kind := range []string{"f16", "bf16", "f32"} {
		for _, vals := range []int{valSmallInt, valRandom} {
			for k := 0; k <= 80; k++ {
				rows := 1 + rng.IntN(11)
				if k%9 == 0 {
					rows = 0
				}
				c := newFloatCase(rng, kind, vals, rows, k, rng.IntN(3)*rng.IntN(17), rng.IntN(4))
				if kind == "f32" && vals == valRandom {
					for i := range c.wf {
						c.wf[i] = float32(rng.NormFloat64())
					}
				}
				want := make([]float32, rows)
				c.run(Generic, want)
				for r := 0; r < rows; r++ {
					w, x := c.row(r), c.x[c.off:]
					if vals == valSmallInt {
						var exact float64
						for i := range x {
							exact += float64(w[i]) * float64(x[i])
						}
						if float64(want[r]) != exact {
							t.Fatalf("%s generic k=%d row %d = %v, want exactly %v", kind, k, r, want[r], exact)
						}
					}
				}
				for _, impl := range impls {
					got := make([]float32, rows)
					for i := range got {
						got[i] = float32(math.NaN()) // every row must be written
					}
					c.run(impl, got)
					for r := 0; r < rows; r++ {
						w, x := c.row(r), c.x[c.off:]
						name := fmt.Sprintf("%s %s vals %d k=%d rows=%d stride=%d off=%d row %d", impl.Tier, kind, vals, k, rows, c.stride(), c.off, r)
						if vals == valSmallInt && got[r] != want[r] {
							t.Fatalf("%s: %v, want exactly %v", name, got[r], want[r])
						}
						if d := math.Abs(float64(got[r]) - float64(want[r])); !(d <= floatBound(w, x)) {
							t.Fatalf("%s: %v differs from generic %v by %g, over the bound %g", name, got[r], want[r], d, floatBound(w, x))
						}
						if fusedTier(impl) {
							if f := fusedDot(w, x); !sameFloat(got[r], f) {
								t.Fatalf("%s: %v, want the fused order's %v", name, got[r], f)
							}
						} else if !sameFloat(got[r], want[r]) {
							t.Fatalf("%s: %v, want generic's %v bit for bit", name, got[r], want[r])
						}
					}
				}
			}
		}
	}
}

// A matrix of f16 (or bf16) values gives the same results as the same
// values stored as f32, on every tier: one order, one widening.
func TestFloatMatVecWidthsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, impl := range tierImpls(t) {
		for _, kind := range []string{"f16", "bf16"} {
			for _, k := range []int{15, 16, 33, 160, 2560 + 7} {
				c := newFloatCase(rng, kind, valRandom, 19, k, 5, 3)
				got, want := make([]float32, 19), make([]float32, 19)
				c.run(impl, got)
				impl.MatVecF32(want, c.wf[c.off:], c.stride(), c.x[c.off:])
				for r := range got {
					if !sameFloat(got[r], want[r]) {
						t.Fatalf("%s %s k=%d row %d: %v, f32 of the same values %v", impl.Tier, kind, k, r, got[r], want[r])
					}
				}
			}
		}
	}
}

// Inf and NaN propagate from the weights (main part and column tail) and
// from x, as IEEE arithmetic says.
func TestFloatMatVecSpecials(t *testing.T) {
	const k = 37 // two steps of 16 and a tail of 5
	for _, impl := range tierImpls(t) {
		for _, col := range []int{0, 7, 16, 31, 32, 36} {
			for _, s := range []struct {
				name   string
				f16    uint16
				x      float32
				isNaN  bool
				posInf bool
			}{
				{"nan", 0x7e01, 1, true, false},
				{"inf", 0x7c00, 2, false, true},
				{"-inf·-x", 0xfc00, -2, false, true},
				{"inf·0", 0x7c00, 0, true, false},
			} {
				c := newFloatCase(rand.New(rand.NewPCG(uint64(col), 1)), "f16", valSmallInt, 3, k, 0, 0)
				c.bits[k+col] = s.f16 // row 1
				c.x[col] = s.x
				for i := range c.wf {
					c.wf[i] = F16ToF32(c.bits[i])
				}
				got := make([]float32, 3)
				c.run(impl, got)
				for r, v := range got {
					name := fmt.Sprintf("%s %s at column %d, row %d", impl.Tier, s.name, col, r)
					switch {
					case r != 1:
						if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
							t.Fatalf("%s: %v, want a finite sum", name, v)
						}
					case s.isNaN && !math.IsNaN(float64(v)), s.posInf && !math.IsInf(float64(v), 1):
						t.Fatalf("%s: %v", name, v)
					}
				}
				// The same through x: a NaN activation poisons every row.
				c.x[col] = float32(math.NaN())
				c.run(impl, got)
				for r, v := range got {
					if !math.IsNaN(float64(v)) {
						t.Fatalf("%s NaN x at column %d, row %d: %v", impl.Tier, col, r, v)
					}
				}
			}
		}
	}
}

// The pool gives each row to one worker: results do not depend on the
// number of threads and equal one call of the kernel.
func TestPoolFloatMatVec(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, impl := range tierImpls(t) {
		for _, kind := range []string{"f16", "bf16", "f32"} {
			c := newFloatCase(rng, kind, valRandom, 101, 203, 3, 1)
			want := make([]float32, c.rows)
			c.run(impl, want)
			for _, threads := range []int{1, 2, 3, 7} {
				p := NewPool(threads)
				got := make([]float32, c.rows)
				c.runPool(p, impl, got)
				p.Close()
				for r := range got {
					if math.Float32bits(got[r]) != math.Float32bits(want[r]) {
						t.Fatalf("%s %s %d threads row %d: %v, want %v", impl.Tier, kind, threads, r, got[r], want[r])
					}
				}
			}
		}
	}
}

func TestFloatMatVecBadArgs(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	for name, f := range map[string]func(){
		"short stride": func() { GenericMatVecF16(make([]float32, 1), make([]uint16, 8), 3, make([]float32, 4)) },
		"short w":      func() { Active().MatVecBF16(make([]float32, 2), make([]uint16, 7), 4, make([]float32, 4)) },
		"pool short w": func() { p.MatVecF16(Active(), make([]float32, 3), make([]uint16, 40), 16, make([]float32, 16)) },
		"pool f32":     func() { p.MatVecF32(Active(), make([]float32, 2), make([]float32, 31), 16, make([]float32, 16)) },
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

// FuzzFloatMatVec feeds arbitrary bits (infinities, NaNs and subnormals
// included) as f16 and bf16 weights and activations to every tier and
// checks each against its reference, bit for bit: the fused order for the
// amd64 assembly, the generic kernel for the rest.
func FuzzFloatMatVec(f *testing.F) {
	f.Add([]byte{0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00})
	f.Add(make([]byte, 66))
	seed := make([]byte, 2*53)
	for i := range seed {
		seed[i] = byte(i*37 + 11)
	}
	f.Add(seed)
	impls := tierImpls(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		k := min(len(data)/2, 300)
		bits := make([]uint16, 2*k) // two rows: the bits, then their byte swap
		x := make([]float32, k)
		for c := 0; c < k; c++ {
			bits[c] = uint16(data[2*c]) | uint16(data[2*c+1])<<8
			bits[k+c] = bits[c]>>8 | bits[c]<<8
			x[c] = F16ToF32(bits[k+c] ^ 0x1234)
		}
		for _, kind := range []string{"f16", "bf16"} {
			c := &floatCase{kind: kind, rows: 2, k: k, bits: bits, wf: make([]float32, 2*k), x: x}
			for i, h := range bits {
				c.wf[i] = F16ToF32(h)
				if kind == "bf16" {
					c.wf[i] = BF16ToF32(h)
				}
			}
			want := make([]float32, 2)
			c.run(Generic, want)
			for _, impl := range impls {
				got := make([]float32, 2)
				c.run(impl, got)
				for r := range got {
					ref := want[r]
					if fusedTier(impl) {
						ref = fusedDot(c.row(r), x)
					}
					if !sameFloat(got[r], ref) {
						t.Fatalf("%s %s k=%d row %d: %v, want %v", impl.Tier, kind, k, r, got[r], ref)
					}
				}
			}
		}
	})
}

// BenchmarkMatVecF16 streams an f16 head (BitNet 2B4T's tied embedding has
// 128256 rows of 2560); b.SetBytes is the weight bytes per call.
func BenchmarkMatVecF16(b *testing.B) {
	const rows, k = 16384, 2560
	w := make([]uint16, rows*k)
	for i := range w {
		w[i] = 0x3c00 ^ uint16(i&0x83ff)
	}
	x := make([]float32, k)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	dst := make([]float32, rows)
	for _, impl := range tierImpls(b) {
		for _, th := range benchThreads() {
			b.Run(fmt.Sprintf("%s/%dx%d/threads=%d", impl.Tier, rows, k, th), func(b *testing.B) {
				p := NewPool(th)
				defer p.Close()
				b.SetBytes(int64(2 * len(w)))
				for b.Loop() {
					p.MatVecF16(impl, dst, w, k, x)
				}
			})
		}
	}
}

// TestMatVecF32x4 checks that four inputs at once give, on every tier, the
// bits of four MatVecF32 calls of that tier: row counts around the kernels'
// groups of four, column counts around the steps of 16, inputs and outputs
// at distances longer than a row.
func TestMatVecF32x4(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, impl := range tierImpls(t) {
		if impl.Tier == TierAVX512VNNI && impl.MatVecF32x4 == nil {
			t.Errorf("%s: no MatVecF32x4 kernel", impl.Tier)
		}
		for _, rows := range []int{0, 1, 3, 4, 5, 8, 17, 64, 130} {
			for _, k := range []int{0, 1, 15, 16, 17, 128, 200} {
				stride, ldd, ldx := k+rows%3, rows+rows%5, k+7
				w := make([]float32, max(rows*stride, 1))
				x := make([]float32, 3*ldx+k)
				for i := range w {
					w[i] = float32(rng.NormFloat64())
				}
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				got := make([]float32, 3*ldd+rows)
				for i := range got {
					got[i] = float32(math.NaN()) // must be overwritten
				}
				MatVecF32x4(impl, got, ldd, rows, w, stride, x, ldx, k)
				for q := 0; q < 4; q++ {
					want := make([]float32, rows)
					impl.MatVecF32(want, w, stride, x[q*ldx:q*ldx+k])
					for r := range want {
						if math.Float32bits(got[q*ldd+r]) != math.Float32bits(want[r]) {
							t.Fatalf("%s rows=%d k=%d: input %d row %d = %g, MatVecF32 gives %g", impl.Tier, rows, k, q, r, got[q*ldd+r], want[r])
						}
					}
				}
			}
		}
	}
}

// TestF32ToF16 checks the narrowing against the widening: every binary16
// value comes back to itself, every midpoint between neighbours rounds to
// the even one and the floats just beside it to the nearer one, and
// overflow, underflow and NaN behave as documented.
func TestF32ToF16(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := F16ToF32(uint16(h))
		if f != f {
			if g := F32ToF16(f); g&0x7c00 != 0x7c00 || g&0x3ff == 0 || g&0x8000 != uint16(h)&0x8000 {
				t.Fatalf("NaN %#04x narrows to %#04x", h, g)
			}
			continue
		}
		if g := F32ToF16(f); g != uint16(h) {
			t.Fatalf("%#04x (%g) narrows to %#04x", h, f, g)
		}
	}
	// Neighbours a < b of either sign (b = a+1 in bits, up to the largest
	// finite), their midpoint and the floats beside it.
	for h := 0; h < 0x7bff; h++ {
		for _, sign := range []uint16{0, 0x8000} {
			a, b := uint16(h)|sign, uint16(h+1)|sign
			fa, fb := F16ToF32(a), F16ToF32(b)
			mid := float32((float64(fa) + float64(fb)) / 2)
			even := a
			if a&1 == 1 {
				even = b
			}
			if g := F32ToF16(mid); g != even {
				t.Fatalf("midpoint of %#04x and %#04x (%g) narrows to %#04x, want %#04x", a, b, mid, g, even)
			}
			toward := func(x, y float32) float32 { return math.Nextafter32(x, y) }
			if g := F32ToF16(toward(mid, fa)); g != a {
				t.Fatalf("just below the midpoint of %#04x and %#04x: %#04x", a, b, g)
			}
			if g := F32ToF16(toward(mid, fb)); g != b {
				t.Fatalf("just above the midpoint of %#04x and %#04x: %#04x", a, b, g)
			}
		}
	}
	for _, c := range []struct {
		f    float32
		want uint16
	}{{65519.998, 0x7bff}, {65520, 0x7c00}, {1e9, 0x7c00}, {float32(math.Inf(-1)), 0xfc00},
		{0x1p-25, 0}, {math.Nextafter32(0x1p-25, 1), 1}, {-0x1p-26, 0x8000}, {float32(math.Copysign(0, -1)), 0x8000}} {
		if g := F32ToF16(c.f); g != c.want {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x", c.f, g, c.want)
		}
	}
}
