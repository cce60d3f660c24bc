//go:build linux && gc && !purego && !noasm

package simd

import (
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/klauspost/cpuid/v2"
)

func amxImpl(t testing.TB) Impl {
	t.Helper()
	impl, ok := ImplFor(TierAMX)
	if !ok {
		t.Skipf("amx tier not usable: %v", AMXError())
	}
	return impl
}

func TestAMXAvailability(t *testing.T) {
	err := AMXError()
	t.Logf("cpuid AMX-TILE=%v AMX-INT8=%v; AMXError() = %v", cpuid.CPU.Supports(cpuid.AMXTILE), cpuid.CPU.Supports(cpuid.AMXINT8), err)
	var info TierInfo
	for _, ti := range AllTiers() {
		if ti.Tier == TierAMX {
			info = ti
		}
	}
	if info.Tier != TierAMX {
		t.Fatal("amx tier not registered")
	}
	if info.Available != (err == nil) {
		t.Fatalf("amx registered available=%v but AMXError() = %v", info.Available, err)
	}
	if !cpuid.CPU.Supports(cpuid.AMXTILE, cpuid.AMXINT8) && err == nil {
		t.Fatal("amx available on a CPU without AMX")
	}
}

// TestAMXArgsLayout checks the amxArgs offsets that amx_amd64.s hard-codes.
func TestAMXArgsLayout(t *testing.T) {
	src, err := os.ReadFile("amx_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	defs := map[string]uintptr{}
	for _, m := range regexp.MustCompile(`(?m)^#define amx(\w+) (\d+)$`).FindAllStringSubmatch(string(src), -1) {
		v, _ := strconv.Atoi(m[2])
		defs[m[1]] = uintptr(v)
	}
	typ := reflect.TypeOf(amxArgs{})
	if len(defs) != typ.NumField() {
		t.Fatalf("amx_amd64.s defines %d offsets, amxArgs has %d fields", len(defs), typ.NumField())
	}
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name := string(f.Name[0]-'a'+'A') + f.Name[1:]
		if off, ok := defs[name]; !ok || off != f.Offset {
			t.Errorf("amxArgs.%s: offset %d, amx_amd64.s has %d (defined %v)", f.Name, f.Offset, off, ok)
		}
	}
}

// mmCase is a prefill problem with unaligned, gapped operands.
type mmCase struct {
	c        ternaryCase
	x        []int8
	ldx, ldd int
	xsum     []int32
	ntok     int
}

func makeMMCase(rng *rand.Rand, p pattern, rows, blocks, ntok int) mmCase {
	k := blocks * 128
	m := mmCase{c: makeTernaryCase(rng, p, rows, k, 128, rows%2, 1+rows%3, PackI2B128), ldx: k + 3 + ntok%5, ntok: ntok}
	xb := make([]int8, 1+ntok*m.ldx)
	m.x = xb[1:]
	m.xsum = make([]int32, ntok)
	for tk := 0; tk < ntok; tk++ {
		xt := m.x[tk*m.ldx : tk*m.ldx+k]
		for i := range xt {
			xt[i] = p.act(rng)
		}
		m.xsum[tk] = SumInt8(xt)
	}
	m.ldd = rows + ntok%3
	return m
}

func (m mmCase) dstLen() int {
	if m.ntok == 0 {
		return 0
	}
	return (m.ntok-1)*m.ldd + m.c.rows
}

func (m mmCase) check(t *testing.T, what string, dst []int32) {
	t.Helper()
	want := make([]int32, len(dst))
	for i := range want {
		want[i] = sentinel
	}
	GenericMatMulT2(want, m.ldd, m.c.packed, m.c.stride, m.c.rows, m.x, m.ldx, m.c.k, m.xsum, m.ntok)
	for i := range dst {
		if dst[i] != want[i] {
			tk, r := i/m.ldd, i%m.ldd
			t.Fatalf("%s: token %d row %d = %d, want %d", what, tk, r, dst[i], want[i])
		}
	}
	// The generic result itself against the plain reference, for a few
	// entries.
	for _, tk := range []int{0, m.ntok - 1} {
		for _, r := range []int{0, m.c.rows - 1} {
			if w := m.c.want(r, m.x[tk*m.ldx:]); want[tk*m.ldd+r] != w {
				t.Fatalf("%s: generic token %d row %d = %d, want %d", what, tk, r, want[tk*m.ldd+r], w)
			}
		}
	}
}

// Shapes that reach the tile kernel: whole groups of 16 rows plus tails,
// token counts around the tile (16) and call (64) sizes.
func TestMatMulT2AMXShapes(t *testing.T) {
	impl := amxImpl(t)
	rng := rand.New(rand.NewPCG(11, 12))
	toks := []int{1, 2, 3, 4, 7, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 100, 129}
	rowsList := []int{16, 17, 24, 31, 32, 47, 48, 64, 81}
	blockList := []int{1, 2, 3, 5}
	if testing.Short() {
		toks = []int{2, 16, 17, 64, 65}
		rowsList = []int{16, 33}
		blockList = []int{1, 3}
	}
	for _, blocks := range blockList {
		for _, rows := range rowsList {
			for _, ntok := range toks {
				p := pattern((blocks + rows + ntok) % int(numPatterns))
				m := makeMMCase(rng, p, rows, blocks, ntok)
				dst, guard := dstWithGuard(m.dstLen(), 1+ntok%3)
				impl.MatMulT2(dst, m.ldd, m.c.packed, m.c.stride, rows, m.x, m.ldx, m.c.k, m.xsum, ntok)
				what := fmt.Sprintf("amx k=%d rows=%d ntok=%d pattern=%d", m.c.k, rows, ntok, p)
				guard(t, what)
				m.check(t, what, dst)
			}
		}
	}
}

// The int8 extremes at every pattern, with sums as large as a row allows.
func TestMatMulT2AMXExtremes(t *testing.T) {
	impl := amxImpl(t)
	rng := rand.New(rand.NewPCG(13, 14))
	for p := pattern(0); p < numPatterns; p++ {
		for _, ntok := range []int{5, 16, 40, 64} {
			m := makeMMCase(rng, p, 32, 33, ntok)
			dst, guard := dstWithGuard(m.dstLen(), 2)
			impl.MatMulT2(dst, m.ldd, m.c.packed, m.c.stride, 32, m.x, m.ldx, m.c.k, m.xsum, ntok)
			what := fmt.Sprintf("amx k=%d ntok=%d pattern=%d", m.c.k, ntok, p)
			guard(t, what)
			m.check(t, what, dst)
		}
	}
}

// Pool workers run the tile kernel on their own threads at the same time,
// and goroutines migrate between threads between calls: every call must
// set up and release its own tile state.
func TestMatMulT2AMXConcurrent(t *testing.T) {
	impl := amxImpl(t)
	rng := rand.New(rand.NewPCG(15, 16))
	m := makeMMCase(rng, patRandom, 96, 40, 24)
	want := make([]int32, m.dstLen())
	GenericMatMulT2(want, m.ldd, m.c.packed, m.c.stride, 96, m.x, m.ldx, m.c.k, m.xsum, m.ntok)
	pool := NewPool(3)
	defer pool.Close()
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	// Collections while the kernels run check that the kernel leaves the
	// collector nothing it cannot account for.
	stop := make(chan struct{})
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := make([]int32, len(want))
			for it := 0; it < 30; it++ {
				clear(dst)
				if g == 0 {
					pool.MatMulT2(impl, dst, m.ldd, m.c.packed, m.c.stride, 96, m.x, m.ldx, m.c.k, m.xsum, m.ntok)
				} else {
					impl.MatMulT2(dst, m.ldd, m.c.packed, m.c.stride, 96, m.x, m.ldx, m.c.k, m.xsum, m.ntok)
				}
				for i := range dst {
					if i%m.ldd < 96 && dst[i] != want[i] {
						errs <- fmt.Sprintf("goroutine %d iteration %d: dst[%d] = %d, want %d", g, it, i, dst[i], want[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-gcDone
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestMatMulT2AMXNoAllocs(t *testing.T) {
	impl := amxImpl(t)
	rng := rand.New(rand.NewPCG(17, 18))
	m := makeMMCase(rng, patRandom, 64, 4, 20)
	dst := make([]int32, m.dstLen())
	allocs := testing.AllocsPerRun(20, func() {
		impl.MatMulT2(dst, m.ldd, m.c.packed, m.c.stride, 64, m.x, m.ldx, m.c.k, m.xsum, m.ntok)
	})
	if allocs != 0 {
		t.Fatalf("warm MatMulT2 allocates %v times per call", allocs)
	}
}

// BenchmarkAMXPrefill compares the amx and avx512vnni tiers through a Pool
// at 1 and DefaultThreads threads: decode of one token (MatVecT2), then
// prefill of n tokens (MatMulT2), 4096×4096 weights. Gweights/s counts
// weight×token products, so prefill over decode is the per-token gain of
// batching; tokens/s is prefill tokens through this one matrix.
func BenchmarkAMXPrefill(b *testing.B) {
	rows, k := 4096, 4096
	stride := RowBytesI2B128(k)
	w := make([]byte, rows*stride)
	if err := FillRandom(w, LayoutI2B128, 3); err != nil {
		b.Fatal(err)
	}
	x := make([]int8, 64*k)
	for i := range x {
		x[i] = int8(i*13 - 7)
	}
	xs := make([]int32, 64)
	for t := range xs {
		xs[t] = SumInt8(x[t*k : (t+1)*k])
	}
	dst := make([]int32, 64*rows)
	for _, tier := range []Tier{TierAVX512VNNI, TierAMX} {
		impl, ok := ImplFor(tier)
		if !ok {
			continue
		}
		for _, th := range benchThreads() {
			p := NewPool(th)
			b.Run(fmt.Sprintf("%s/decode/t%d", tier, th), func(b *testing.B) {
				b.SetBytes(int64(len(w)))
				for b.Loop() {
					p.MatVecT2(impl, dst[:rows], w, stride, x[:k], xs[0])
				}
				b.ReportMetric(float64(rows*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gweights/s")
			})
			for _, ntok := range []int{4, 5, 8, 16, 32, 64} {
				b.Run(fmt.Sprintf("%s/tok%d/t%d", tier, ntok, th), func(b *testing.B) {
					b.SetBytes(int64(len(w)))
					for b.Loop() {
						p.MatMulT2(impl, dst, rows, w, stride, rows, x, k, k, xs, ntok)
					}
					sec := b.Elapsed().Seconds()
					b.ReportMetric(float64(rows*k*ntok)*float64(b.N)/sec/1e9, "Gweights/s")
					b.ReportMetric(float64(ntok*b.N)/sec, "tokens/s")
				})
			}
			p.Close()
		}
	}
}

// Rows at the length limit of the tile path, and just past it (AVX-512).
func TestMatMulT2AMXLongRows(t *testing.T) {
	impl := amxImpl(t)
	if testing.Short() {
		t.Skip("long rows")
	}
	rng := rand.New(rand.NewPCG(19, 20))
	for _, blocks := range []int{amxMaxLen / 128, amxMaxLen/128 + 1} {
		m := makeMMCase(rng, patExtremes, 17, blocks, 6)
		dst, guard := dstWithGuard(m.dstLen(), 1)
		impl.MatMulT2(dst, m.ldd, m.c.packed, m.c.stride, 17, m.x, m.ldx, m.c.k, m.xsum, m.ntok)
		what := fmt.Sprintf("amx k=%d", m.c.k)
		guard(t, what)
		m.check(t, what, dst)
	}
}

// FuzzMatMulT2AMX compares the tile path with the generic kernel on
// fuzzer-chosen weights, activations and shapes large enough to reach it
// (FuzzTiers keeps to a few rows). Bounded in CI like FuzzTiers:
// go test -run XXX -fuzz FuzzMatMulT2AMX -fuzztime=200x.
func FuzzMatMulT2AMX(f *testing.F) {
	f.Add([]byte{0x80, 0x7f, 0xaa, 0x55}, uint8(0), uint8(0), uint8(0), uint8(0))
	f.Add([]byte{0x80}, uint8(1), uint8(2), uint8(11), uint8(2))
	f.Add([]byte{0x7f, 0x00, 0x01}, uint8(31), uint8(4), uint8(59), uint8(7))
	f.Add([]byte{}, uint8(16), uint8(5), uint8(75), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, rowsB, blocksB, ntokB, gapB uint8) {
		impl := amxImpl(t)
		rows, blocks, ntok, gap := 16+int(rowsB%48), 1+int(blocksB%6), amxMinTokens+int(ntokB%76), int(gapB%8)
		byteAt := func(i int) byte {
			if len(data) == 0 {
				return byte(i * 41)
			}
			return data[i%len(data)] ^ byte(i/len(data)*37)
		}
		var ok []byte
		for b := 0; b < 256; b++ {
			if b&3 != 3 && b>>2&3 != 3 && b>>4&3 != 3 && b>>6 != 3 {
				ok = append(ok, byte(b))
			}
		}
		k := blocks * 128
		stride := blocks*32 + 32*(gap%2)
		w := make([]byte, rows*stride)
		for i := range w {
			w[i] = ok[int(byteAt(i))%len(ok)]
		}
		ldx, ldd := k+gap, rows+gap
		x := make([]int8, ntok*ldx)
		for i := range x {
			x[i] = int8(byteAt(3*i + 1))
		}
		xs := make([]int32, ntok)
		for tk := range xs {
			xs[tk] = SumInt8(x[tk*ldx : tk*ldx+k])
		}
		n := (ntok-1)*ldd + rows
		got, want := make([]int32, n), make([]int32, n)
		impl.MatMulT2(got, ldd, w, stride, rows, x, ldx, k, xs, ntok)
		GenericMatMulT2(want, ldd, w, stride, rows, x, ldx, k, xs, ntok)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("rows=%d blocks=%d ntok=%d gap=%d: dst[%d] = %d, want %d", rows, blocks, ntok, gap, i, got[i], want[i])
			}
		}
	})
}
