//go:build gc && !purego && !noasm

package simd

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/klauspost/cpuid/v2"
)

// These tests drive the arm64 kernels directly against a reference written
// here from the unpacked weights (Σ w·x, independent of the generic tier), so
// that they say which kernel and which shape failed. The registry-wide tests
// of the package cover the same functions through Impl as well.

func TestArm64ArgsLayout(t *testing.T) {
	// Offsets hard-coded in the generated assembly (internal/arm64gen off*).
	var a armArgs
	got := []uintptr{
		unsafe.Offsetof(a.w), unsafe.Offsetof(a.stride), unsafe.Offsetof(a.x),
		unsafe.Offsetof(a.n), unsafe.Offsetof(a.dst), unsafe.Offsetof(a.rows),
		unsafe.Offsetof(a.xsum), unsafe.Offsetof(a.ldx), unsafe.Offsetof(a.ldd),
	}
	want := []uintptr{0, 8, 16, 24, 32, 40, 48, 64, 72}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("armArgs field %d at offset %d, assembly expects %d", i, got[i], want[i])
		}
	}
}

type arm64Tier struct {
	name string
	k    arm64Kernels
	ok   bool
}

func arm64Tiers() []arm64Tier {
	neon := cpuid.CPU.Supports(cpuid.ASIMD)
	return []arm64Tier{
		{string(TierNEON), neonKernels, neon},
		{string(TierDotProd), dotKernels, neon && cpuid.CPU.Supports(cpuid.ASIMDDP)},
	}
}

// arm64ForTiers runs f for each arm64 tier this CPU has, and skips the others
// (scripts/test-arm64.sh checks, through BAREWIRE_EXPECT_TIERS, that the
// emulated CPU has the tiers it should).
func arm64ForTiers(t *testing.T, f func(t *testing.T, impl Impl)) {
	for _, tier := range arm64Tiers() {
		t.Run(tier.name, func(t *testing.T) {
			if !tier.ok {
				t.Skipf("CPU lacks %s", tier.name)
			}
			f(t, tier.k.impl(Tier(tier.name)))
		})
	}
}

// arm64Matrix is rows packed ternary rows with their unpacked weights.
type arm64Matrix struct {
	w      []int8 // rows × k weights
	packed []byte // starts at offset off of buf, rows stride bytes apart
	stride int
}

// arm64NewTernary packs rows×k weights (k a multiple of block) with pack, each row
// stride = packed row + extra bytes apart (extra a multiple of 32, as the
// kernels require), starting off bytes into the buffer so that rows are not
// 16-byte aligned. gen gives each weight.
func arm64NewTernary(rows, k, block, extra, off int, pack func([]byte, []int8), gen func(r, c int) int8) arm64Matrix {
	rowBytes := k / block * 32
	stride := rowBytes + extra
	buf := make([]byte, off+rows*stride+7)
	for i := range buf {
		buf[i] = 0xAA // garbage between rows must not be read
	}
	m := arm64Matrix{w: make([]int8, rows*k), packed: buf[off:], stride: stride}
	for r := 0; r < rows; r++ {
		row := m.w[r*k : (r+1)*k]
		for c := range row {
			row[c] = gen(r, c)
		}
		pack(m.packed[r*stride:r*stride+rowBytes], row)
	}
	return m
}

// arm64RefDot is Σ w·x over row r.
func arm64RefDot(w []int8, k, r int, x []int8) int32 {
	var s int32
	for c := 0; c < k; c++ {
		s += int32(w[r*k+c]) * int32(x[c])
	}
	return s
}

func arm64RandTernary(rng *rand.Rand) func(r, c int) int8 {
	return func(r, c int) int8 { return int8(rng.IntN(3)) - 1 }
}

func arm64RandInt8s(rng *rand.Rand, n int) []int8 {
	x := make([]int8, n)
	for i := range x {
		x[i] = int8(rng.IntN(256) - 128)
	}
	return x
}

// arm64Guarded returns a dst of n elements inside a larger buffer whose
// other elements hold a marker, and a check that the marker survived.
func arm64Guarded(n int) ([]int32, func(t *testing.T)) {
	const mark = -0x5A5A5A5A
	buf := make([]int32, n+8)
	for i := range buf {
		buf[i] = mark
	}
	dst := buf[4 : 4+n : 4+n]
	return dst, func(t *testing.T) {
		t.Helper()
		for i := range 4 {
			if buf[i] != mark || buf[len(buf)-1-i] != mark {
				t.Fatalf("kernel wrote outside dst")
			}
		}
	}
}

func arm64TestMatVec(t *testing.T, block int, pack func([]byte, []int8), get func(Impl) func([]int32, []byte, int, []int8, int32)) {
	rng := rand.New(rand.NewPCG(1, uint64(block)))
	arm64ForTiers(t, func(t *testing.T, impl Impl) {
		f := get(impl)
		// Row counts cover the 4-row groups and 1..3 remainder rows; block
		// counts include 0; extra stride and offsets make unaligned rows.
		for rows := 0; rows <= 9; rows++ {
			for blocks := 0; blocks <= 4; blocks++ {
				k := blocks * block
				extra, off := rng.IntN(3)*32, rng.IntN(16)
				m := arm64NewTernary(rows, k, block, extra, off, pack, arm64RandTernary(rng))
				xbuf := arm64RandInt8s(rng, k+1)
				x := xbuf[1:] // odd address
				delta := int32(rng.IntN(1000) - 500)
				xsum := SumInt8(x) + delta
				dst, check := arm64Guarded(rows)
				f(dst, m.packed, m.stride, x, xsum)
				check(t)
				for r := 0; r < rows; r++ {
					if want := arm64RefDot(m.w, k, r, x) - delta; dst[r] != want {
						t.Fatalf("rows=%d k=%d stride=%d off=%d: row %d = %d, want %d", rows, k, m.stride, off, r, dst[r], want)
					}
				}
			}
		}
	})
}

func TestArm64MatVecT2(t *testing.T) {
	arm64TestMatVec(t, 128, PackI2B128, func(i Impl) func([]int32, []byte, int, []int8, int32) { return i.MatVecT2 })
}

func TestArm64MatVecT16(t *testing.T) {
	arm64TestMatVec(t, 160, PackT5B160, func(i Impl) func([]int32, []byte, int, []int8, int32) { return i.MatVecT16 })
}

// TestArm64T5AllBytes feeds every byte value (not only the 243 that packing
// writes) through the t5b160 kernels, one byte value per block position,
// against DecodeT5: the digit extraction must agree on all 256.
func TestArm64T5AllBytes(t *testing.T) {
	arm64ForTiers(t, func(t *testing.T, impl Impl) {
		const rows, blocks = 5, 8 // 256 bytes per row
		k := blocks * 160
		w := make([]byte, rows*blocks*32)
		for i := range w {
			w[i] = byte(i*7 + i/256) // each row a permutation of 0..255
		}
		rng := rand.New(rand.NewPCG(3, 4))
		x := arm64RandInt8s(rng, k)
		dst := make([]int32, rows)
		impl.MatVecT16(dst, w, blocks*32, x, 0)
		for r := 0; r < rows; r++ {
			var want int32
			for c := 0; c < k; c++ {
				blk, i := c/160, c%160
				want += int32(DecodeT5(w[r*blocks*32+blk*32+i%32], i/32)) * int32(x[c])
			}
			if dst[r] != want {
				t.Fatalf("row %d: %d, want %d", r, dst[r], want)
			}
		}
	})
}

// TestArm64WorstCase is the overflow test of the NEON tier's int16 stage:
// every code 2 (w = +1) or 0 (w = -1) against activations all -128 or all
// 127, over rows long enough that any missed widening would wrap.
func TestArm64WorstCase(t *testing.T) {
	type tc struct {
		w int8
		x int8
	}
	cases := []tc{{1, -128}, {1, 127}, {-1, -128}, {-1, 127}}
	arm64ForTiers(t, func(t *testing.T, impl Impl) {
		for _, c := range cases {
			for _, lay := range []struct {
				block int
				pack  func([]byte, []int8)
				f     func([]int32, []byte, int, []int8, int32)
			}{{128, PackI2B128, impl.MatVecT2}, {160, PackT5B160, impl.MatVecT16}} {
				const rows = 5
				k := 64 * lay.block // 64 blocks: far past 32767/(2·128) products per lane
				m := arm64NewTernary(rows, k, lay.block, 0, 0, lay.pack, func(r, i int) int8 { return c.w })
				x := make([]int8, k)
				for i := range x {
					x[i] = c.x
				}
				dst := make([]int32, rows)
				lay.f(dst, m.packed, m.stride, x, SumInt8(x))
				want := int32(k) * int32(c.w) * int32(c.x)
				for r, got := range dst {
					if got != want {
						t.Fatalf("block %d w=%d x=%d: row %d = %d, want %d", lay.block, c.w, c.x, r, got, want)
					}
				}
			}
			// MatMul: four tokens of the same extreme activations.
			const rows, ntok = 3, 5
			k := 64 * 128
			m := arm64NewTernary(rows, k, 128, 0, 0, PackI2B128, func(r, i int) int8 { return c.w })
			x := make([]int8, ntok*k)
			for i := range x {
				x[i] = c.x
			}
			xsum := make([]int32, ntok)
			for i := range xsum {
				xsum[i] = SumInt8(x[:k])
			}
			dst := make([]int32, ntok*rows)
			impl.MatMulT2(dst, rows, m.packed, m.stride, rows, x, k, k, xsum, ntok)
			want := int32(k) * int32(c.w) * int32(c.x)
			for i, got := range dst {
				if got != want {
					t.Fatalf("matmul w=%d x=%d: dst[%d] = %d, want %d", c.w, c.x, i, got, want)
				}
			}
		}
		// Int8: every product (-128)·(-128) = 16384; two in an int16 lane
		// would already wrap.
		const rows = 6
		k := 4096 + 31
		w := make([]int8, rows*k)
		x := make([]int8, k)
		for i := range w {
			w[i] = -128
		}
		for i := range x {
			x[i] = -128
		}
		dst := make([]int32, rows)
		impl.MatVecI8(dst, w, k, x)
		for r, got := range dst {
			if want := int32(k) * 16384; got != want {
				t.Fatalf("int8: row %d = %d, want %d", r, got, want)
			}
		}
	})
}

func TestArm64MatMulT2(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	arm64ForTiers(t, func(t *testing.T, impl Impl) {
		for _, rows := range []int{0, 1, 3, 4, 7} {
			for _, blocks := range []int{0, 1, 3} {
				for ntok := 0; ntok <= 9; ntok++ {
					k := blocks * 128
					m := arm64NewTernary(rows, k, 128, rng.IntN(2)*32, rng.IntN(16), PackI2B128, arm64RandTernary(rng))
					ldx := k + rng.IntN(3)*16 + rng.IntN(2)
					ldd := rows + rng.IntN(3)
					xbuf := arm64RandInt8s(rng, max(0, (ntok-1)*ldx+k)+1)
					x := xbuf[1:]
					xsum := make([]int32, ntok)
					deltas := make([]int32, ntok)
					for tk := range xsum {
						deltas[tk] = int32(rng.IntN(100) - 50)
						xsum[tk] = SumInt8(x[tk*ldx:tk*ldx+k]) + deltas[tk]
					}
					n := max(0, (ntok-1)*ldd+rows)
					dst, check := arm64Guarded(n)
					for i := range dst {
						dst[i] = 77 // gaps between tokens must keep it
					}
					impl.MatMulT2(dst, ldd, m.packed, m.stride, rows, x, ldx, k, xsum, ntok)
					check(t)
					for tk := 0; tk < ntok; tk++ {
						for r := 0; r < ldd && tk*ldd+r < n; r++ {
							got := dst[tk*ldd+r]
							want := int32(77)
							if r < rows {
								want = arm64RefDot(m.w, k, r, x[tk*ldx:]) - deltas[tk]
							}
							if got != want {
								t.Fatalf("rows=%d k=%d ntok=%d ldx=%d ldd=%d: token %d row %d = %d, want %d", rows, k, ntok, ldx, ldd, tk, r, got, want)
							}
						}
					}
				}
			}
		}
	})
}

func TestArm64MatVecI8(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	arm64ForTiers(t, func(t *testing.T, impl Impl) {
		for rows := 0; rows <= 9; rows++ {
			for _, k := range []int{0, 1, 15, 16, 31, 32, 33, 64, 100, 255} {
				stride := k + rng.IntN(3)*7
				off := rng.IntN(16)
				wbuf := arm64RandInt8s(rng, off+max(0, (rows-1)*stride+k))
				w := wbuf[off:]
				x := arm64RandInt8s(rng, k)
				dst, check := arm64Guarded(rows)
				impl.MatVecI8(dst, w, stride, x)
				check(t)
				for r := 0; r < rows; r++ {
					var want int32
					for c := 0; c < k; c++ {
						want += int32(w[r*stride+c]) * int32(x[c])
					}
					if dst[r] != want {
						t.Fatalf("rows=%d k=%d stride=%d: row %d = %d, want %d", rows, k, stride, r, dst[r], want)
					}
				}
			}
		}
	})
}

// TestArm64ShortOperands checks that the wrappers refuse slices the kernels
// would read past, instead of reading outside them.
func TestArm64ShortOperands(t *testing.T) {
	arm64ForTiers(t, func(t *testing.T, impl Impl) {
		x := make([]int8, 512)
		mustPanic := func(name string, f func()) {
			t.Helper()
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}
		mustPanic("MatVecT2", func() { impl.MatVecT2(make([]int32, 2), make([]byte, 127), 64, x[:256], 0) })
		mustPanic("MatVecT16", func() { impl.MatVecT16(make([]int32, 1), make([]byte, 63), 64, x[:320], 0) })
		mustPanic("MatVecI8", func() { impl.MatVecI8(make([]int32, 2), make([]int8, 300), 256, x[:256]) })
		mustPanic("MatMulT2 x", func() {
			impl.MatMulT2(make([]int32, 8), 2, make([]byte, 128), 64, 2, x[:511], 128, 128, make([]int32, 4), 4)
		})
		mustPanic("MatMulT2 dst", func() {
			impl.MatMulT2(make([]int32, 7), 2, make([]byte, 128), 64, 2, x, 128, 128, make([]int32, 4), 4)
		})
	})
}

func BenchmarkArm64MatVecT2(b *testing.B) {
	for _, tier := range arm64Tiers() {
		if !tier.ok {
			continue
		}
		impl := tier.k.impl(Tier(tier.name))
		const rows, k = 256, 2048
		w := make([]byte, rows*k/4)
		x := make([]int8, k)
		dst := make([]int32, rows)
		b.Run(fmt.Sprintf("%s/%dx%d", tier.name, rows, k), func(b *testing.B) {
			b.SetBytes(int64(len(w)))
			for b.Loop() {
				impl.MatVecT2(dst, w, k/4, x, 0)
			}
		})
	}
}

// TestArm64MatchesGeneric compares the registered arm64 tiers with the
// generic kernels on raw random weight bytes, which include the code 11 that
// packing never writes (both must read it as 3), through the registry as
// callers get them.
func TestArm64MatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, tier := range []Tier{TierNEON, TierDotProd} {
		t.Run(string(tier), func(t *testing.T) {
			impl, ok := ImplFor(tier)
			if !ok {
				t.Skipf("tier %s not usable here", tier)
			}
			for iter := 0; iter < 40; iter++ {
				rows, blocks := rng.IntN(11), rng.IntN(6)
				stride := (blocks + rng.IntN(2)) * 32
				w := make([]byte, rows*stride+rng.IntN(40))
				for i := range w {
					w[i] = byte(rng.Uint32())
				}
				for _, lay := range []struct {
					block     int
					got, want func([]int32, []byte, int, []int8, int32)
				}{{128, impl.MatVecT2, GenericMatVecT2}, {160, impl.MatVecT16, GenericMatVecT16}} {
					x := arm64RandInt8s(rng, blocks*lay.block)
					xsum := int32(rng.IntN(20000) - 10000)
					got, want := make([]int32, rows), make([]int32, rows)
					lay.got(got, w, stride, x, xsum)
					lay.want(want, w, stride, x, xsum)
					if !slices.Equal(got, want) {
						t.Fatalf("block %d rows=%d blocks=%d stride=%d: %v, generic %v", lay.block, rows, blocks, stride, got, want)
					}
				}
				ntok := rng.IntN(10)
				k := blocks * 128
				ldx, ldd := k+rng.IntN(5), rows+rng.IntN(3)
				x := arm64RandInt8s(rng, max(0, (ntok-1)*ldx+k))
				xsum := make([]int32, ntok)
				for i := range xsum {
					xsum[i] = int32(rng.IntN(20000) - 10000)
				}
				n := max(0, (ntok-1)*ldd+rows)
				got, want := make([]int32, n), make([]int32, n)
				impl.MatMulT2(got, ldd, w, stride, rows, x, ldx, k, xsum, ntok)
				GenericMatMulT2(want, ldd, w, stride, rows, x, ldx, k, xsum, ntok)
				if !slices.Equal(got, want) {
					t.Fatalf("MatMulT2 rows=%d k=%d ntok=%d ldx=%d ldd=%d: %v, generic %v", rows, k, ntok, ldx, ldd, got, want)
				}
			}
		})
	}
}

// TestArm64NoAllocs guards the per-token path: the argument block must stay
// on the stack (it escapes if a kernel is ever called through a func value).
func TestArm64NoAllocs(t *testing.T) {
	arm64ForTiers(t, func(t *testing.T, impl Impl) {
		const rows, k = 6, 320 * 4
		w := make([]byte, rows*k/4)
		wi := make([]int8, rows*k)
		x := make([]int8, 4*k)
		xsum := make([]int32, 4)
		dst := make([]int32, 4*rows)
		n := testing.AllocsPerRun(20, func() {
			impl.MatVecT2(dst[:rows], w, k/4, x[:k], 0)
			impl.MatVecT16(dst[:rows], w, k/5, x[:k], 0)
			impl.MatMulT2(dst, rows, w, k/4, rows, x, k, k, xsum, 4)
			impl.MatVecI8(dst[:rows], wi, k, x[:k])
		})
		if n != 0 {
			t.Fatalf("%v allocations per call", n)
		}
	})
}
