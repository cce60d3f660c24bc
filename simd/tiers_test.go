package simd

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// These tests run every usable tier (the registry's, on any architecture)
// against the generic reference, which is itself checked against a plain
// unpack-and-multiply reference.

// tierImpls returns the usable tiers' kernels, generic included.
func tierImpls(t testing.TB) []Impl {
	var out []Impl
	for _, tier := range Tiers() {
		impl, ok := ImplFor(tier)
		if !ok {
			t.Fatalf("ImplFor(%q) failed for a tier Tiers lists", tier)
		}
		out = append(out, impl)
	}
	return out
}

// Input patterns: random, and the extremes that expose int16 overflow and
// sign mistakes.
type pattern int

const (
	patRandom    pattern = iota
	patWorstNeg          // x = -128 everywhere, every weight +1 (code 2)
	patWorstPos          // x = 127 everywhere, every weight +1
	patMinusOnes         // x = -128, every weight -1
	patExtremes          // x in {-128, 127}, random weights
	numPatterns
)

func (p pattern) weight(rng *rand.Rand) int8 {
	switch p {
	case patWorstNeg, patWorstPos:
		return 1
	case patMinusOnes:
		return -1
	}
	return int8(rng.IntN(3)) - 1
}

func (p pattern) act(rng *rand.Rand) int8 {
	switch p {
	case patWorstNeg, patMinusOnes:
		return -128
	case patWorstPos:
		return 127
	case patExtremes:
		if rng.IntN(2) == 0 {
			return -128
		}
		return 127
	}
	return int8(rng.IntN(256) - 128)
}

// ternaryCase is a packed matrix inside a larger buffer (so starts are
// unaligned) plus its unpacked weights.
type ternaryCase struct {
	rows, k, padded, stride int
	w                       []int8 // rows × k
	packed                  []byte // starts at an odd offset of its buffer
	x                       []int8 // padded, unaligned
	xsum                    int32
}

func makeTernaryCase(rng *rand.Rand, p pattern, rows, k, block, extraStride, off int, pack func([]byte, []int8)) ternaryCase {
	c := ternaryCase{rows: rows, k: k, padded: PaddedLen(k, block)}
	c.stride = c.padded/block*32 + 32*extraStride
	c.w = make([]int8, rows*k)
	for i := range c.w {
		c.w[i] = p.weight(rng)
	}
	buf := make([]byte, off+rows*c.stride+7)
	for i := range buf {
		buf[i] = byte(rng.IntN(256)) // garbage between rows must be ignored
	}
	c.packed = buf[off : off+rows*c.stride]
	for r := 0; r < rows; r++ {
		pack(c.packed[r*c.stride:], c.w[r*k:(r+1)*k])
	}
	xb := make([]int8, off+c.padded)
	c.x = xb[off:]
	for i := 0; i < k; i++ {
		c.x[i] = p.act(rng)
	}
	c.xsum = SumInt8(c.x)
	return c
}

// want is the plain reference: Σ w·x over the real weights.
func (c ternaryCase) want(r int, x []int8) int32 {
	var s int32
	for i := 0; i < c.k; i++ {
		s += int32(c.w[r*c.k+i]) * int32(x[i])
	}
	return s
}

const sentinel = int32(-0x5a5a5a5a)

// dstWithGuard returns an unaligned dst of n slots between sentinels, and a
// check that the sentinels survived.
func dstWithGuard(n, off int) ([]int32, func(t *testing.T, what string)) {
	buf := make([]int32, n+off+4)
	for i := range buf {
		buf[i] = sentinel
	}
	return buf[off : off+n], func(t *testing.T, what string) {
		t.Helper()
		for i := 0; i < off; i++ {
			if buf[i] != sentinel {
				t.Fatalf("%s: wrote before dst", what)
			}
		}
		for i := off + n; i < len(buf); i++ {
			if buf[i] != sentinel {
				t.Fatalf("%s: wrote past dst", what)
			}
		}
	}
}

var testRows = []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17}

func TestMatVecT2AllTiers(t *testing.T) {
	testMatVec(t, BlockI2B128, PackI2B128, func(i Impl) func([]int32, []byte, int, []int8, int32) { return i.MatVecT2 })
}

func TestMatVecT16AllTiers(t *testing.T) {
	testMatVec(t, BlockT5B160, PackT5B160, func(i Impl) func([]int32, []byte, int, []int8, int32) { return i.MatVecT16 })
}

func testMatVec(t *testing.T, block int, pack func([]byte, []int8), get func(Impl) func([]int32, []byte, int, []int8, int32)) {
	rng := rand.New(rand.NewPCG(1, uint64(block)))
	maxBlocks := 9
	if testing.Short() {
		maxBlocks = 4
	}
	for _, impl := range tierImpls(t) {
		f := get(impl)
		for blocks := 0; blocks <= maxBlocks; blocks++ {
			for _, k := range []int{blocks * block, blocks*block - 1, blocks*block - block/2 - 3} {
				if k < 0 || (blocks > 0 && k <= (blocks-1)*block) {
					continue
				}
				for _, rows := range testRows {
					for p := pattern(0); p < numPatterns; p++ {
						off := 1 + (rows+blocks+int(p))%3
						c := makeTernaryCase(rng, p, rows, k, block, (rows+int(p))%2, off, pack)
						dst, guard := dstWithGuard(rows, off)
						f(dst, c.packed, c.stride, c.x, c.xsum)
						what := fmt.Sprintf("%s k=%d rows=%d pattern=%d", impl.Tier, k, rows, p)
						guard(t, what)
						for r := 0; r < rows; r++ {
							if w := c.want(r, c.x); dst[r] != w {
								t.Fatalf("%s: row %d = %d, want %d", what, r, dst[r], w)
							}
						}
					}
				}
			}
		}
	}
}

// A long row exercises many loop iterations and large sums.
func TestMatVecLongRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, impl := range tierImpls(t) {
		for p := pattern(0); p < numPatterns; p++ {
			for _, v := range []struct {
				block int
				pack  func([]byte, []int8)
				f     func([]int32, []byte, int, []int8, int32)
			}{{BlockI2B128, PackI2B128, impl.MatVecT2}, {BlockT5B160, PackT5B160, impl.MatVecT16}} {
				c := makeTernaryCase(rng, p, 11, 8192+v.block, v.block, 0, 3, v.pack)
				dst := make([]int32, 11)
				v.f(dst, c.packed, c.stride, c.x, c.xsum)
				for r := range dst {
					if w := c.want(r, c.x); dst[r] != w {
						t.Fatalf("%s block %d pattern %d row %d = %d, want %d", impl.Tier, v.block, p, r, dst[r], w)
					}
				}
			}
		}
	}
}

func TestMatMulT2AllTiers(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, impl := range tierImpls(t) {
		for _, blocks := range []int{0, 1, 2, 3, 5} {
			k := blocks * 128
			for _, rows := range []int{0, 1, 2, 3, 4, 5, 6, 7, 9} {
				for _, ntok := range []int{0, 1, 3, 4, 5, 8, 9} {
					for p := pattern(0); p < numPatterns; p++ {
						c := makeTernaryCase(rng, p, rows, k, 128, rows%2, 1+rows%3, PackI2B128)
						ldx := k + 5
						xb := make([]int8, 3+ntok*ldx)
						x := xb[3:]
						xsum := make([]int32, ntok)
						for tk := 0; tk < ntok; tk++ {
							xt := x[tk*ldx : tk*ldx+k]
							for i := range xt {
								xt[i] = p.act(rng)
							}
							xsum[tk] = SumInt8(xt)
						}
						ldd := rows + 3
						n := 0
						if ntok > 0 {
							n = (ntok-1)*ldd + rows
						}
						dst, guard := dstWithGuard(n, 2)
						impl.MatMulT2(dst, ldd, c.packed, c.stride, rows, x, ldx, k, xsum, ntok)
						what := fmt.Sprintf("%s k=%d rows=%d ntok=%d pattern=%d", impl.Tier, k, rows, ntok, p)
						guard(t, what)
						for tk := 0; tk < ntok; tk++ {
							for r := 0; r < rows; r++ {
								if w := c.want(r, x[tk*ldx:]); dst[tk*ldd+r] != w {
									t.Fatalf("%s: token %d row %d = %d, want %d", what, tk, r, dst[tk*ldd+r], w)
								}
							}
							for r := rows; r < ldd && tk*ldd+r < len(dst); r++ {
								if dst[tk*ldd+r] != sentinel {
									t.Fatalf("%s: wrote the gap after token %d", what, tk)
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestT2Code3Extremes feeds every tier i2b128 bytes holding the code 3
// (bits 11), which no packer writes but a corrupt or hostile file may hold
// and which the generic kernel counts as 3·x, with x = -128 or 127 over long
// rows: the largest sums any int16 stage of a kernel can see. Block counts
// cover every remainder of the AVX2 kernels' four-block groups.
func TestT2Code3Extremes(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 3))
	for _, blocks := range []int{1, 2, 3, 4, 5, 7, 8, 9, 66, 129} {
		k := blocks * BlockI2B128
		for _, v := range []struct {
			name string
			w    func() byte
			x    func() int8
		}{
			{"0xff/-128", func() byte { return 0xff }, func() int8 { return -128 }},
			{"0xff/127", func() byte { return 0xff }, func() int8 { return 127 }},
			{"0xcc/-128", func() byte { return 0xcc }, func() int8 { return -128 }}, // codes 3 at scale 4 only
			{"random/extremes", func() byte { return byte(rng.IntN(256)) }, func() int8 { return int8(127 + rng.IntN(2)) }},
		} {
			const rows, ntok = 9, 5
			stride := k/4 + 32
			w := make([]byte, rows*stride)
			for i := range w {
				w[i] = v.w()
			}
			x := make([]int8, ntok*k)
			for i := range x {
				x[i] = v.x()
			}
			xsum := make([]int32, ntok)
			for tk := range xsum {
				xsum[tk] = SumInt8(x[tk*k : (tk+1)*k])
			}
			want := make([]int32, rows)
			GenericMatVecT2(want, w, stride, x[:k], xsum[0])
			if v.name == "0xff/-128" || v.name == "0xff/127" {
				// Σ 3·x - Σ x = 2·x·k.
				if e := 2 * int32(x[0]) * int32(k); want[0] != e {
					t.Fatalf("generic %s blocks=%d: %d, want %d", v.name, blocks, want[0], e)
				}
			}
			wantMM := make([]int32, ntok*rows)
			GenericMatMulT2(wantMM, rows, w, stride, rows, x, k, k, xsum, ntok)
			for _, impl := range tierImpls(t) {
				got := make([]int32, rows)
				impl.MatVecT2(got, w, stride, x[:k], xsum[0])
				if !slices.Equal(got, want) {
					t.Fatalf("%s MatVecT2 %s blocks=%d: got %v, want %v", impl.Tier, v.name, blocks, got, want)
				}
				gotMM := make([]int32, ntok*rows)
				impl.MatMulT2(gotMM, rows, w, stride, rows, x, k, k, xsum, ntok)
				if !slices.Equal(gotMM, wantMM) {
					t.Fatalf("%s MatMulT2 %s blocks=%d: got %v, want %v", impl.Tier, v.name, blocks, gotMM, wantMM)
				}
			}
		}
	}
}

func TestMatVecI8AllTiers(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, impl := range tierImpls(t) {
		for _, k := range []int{0, 1, 15, 31, 32, 33, 63, 64, 65, 127, 128, 200, 1000} {
			for _, rows := range testRows {
				for p := pattern(0); p < numPatterns; p++ {
					stride := k + rows%3
					wb := make([]int8, 1+rows*stride)
					w := wb[1:]
					for i := range w {
						switch p {
						case patWorstNeg, patMinusOnes:
							w[i] = -128
						case patWorstPos:
							w[i] = 127
						default:
							w[i] = int8(rng.IntN(256) - 128)
						}
					}
					xb := make([]int8, 2+k)
					x := xb[2:]
					for i := range x {
						x[i] = p.act(rng)
					}
					dst, guard := dstWithGuard(rows, 3)
					impl.MatVecI8(dst, w, stride, x)
					what := fmt.Sprintf("%s k=%d rows=%d pattern=%d", impl.Tier, k, rows, p)
					guard(t, what)
					for r := 0; r < rows; r++ {
						var want int32
						for c := 0; c < k; c++ {
							want += int32(w[r*stride+c]) * int32(x[c])
						}
						if dst[r] != want {
							t.Fatalf("%s: row %d = %d, want %d", what, r, dst[r], want)
						}
					}
				}
			}
		}
	}
}

// Shapes that would make an assembly kernel read out of bounds must panic
// in every tier, before any kernel runs.
func TestBadShapesPanic(t *testing.T) {
	for _, impl := range tierImpls(t) {
		for name, f := range map[string]func(){
			"x not whole blocks": func() { impl.MatVecT2(make([]int32, 1), make([]byte, 32), 32, make([]int8, 100), 0) },
			"stride too short":   func() { impl.MatVecT2(make([]int32, 2), make([]byte, 128), 32, make([]int8, 256), 0) },
			"w too short":        func() { impl.MatVecT16(make([]int32, 3), make([]byte, 64), 32, make([]int8, 160), 0) },
			"i8 w too short":     func() { impl.MatVecI8(make([]int32, 2), make([]int8, 10), 8, make([]int8, 8)) },
			"i8 too long":        func() { impl.MatVecI8(nil, nil, 1<<17, make([]int8, 1<<17)) },
			"ternary too long":   func() { impl.MatVecT2(nil, nil, 1<<21+32, make([]int8, 1<<23+128), 0) },
			"mm xsum short": func() {
				impl.MatMulT2(make([]int32, 8), 2, make([]byte, 64), 32, 2, make([]int8, 512), 128, 128, make([]int32, 1), 4)
			},
		} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s: %s: no panic", impl.Tier, name)
					}
				}()
				f()
			}()
		}
	}
}
