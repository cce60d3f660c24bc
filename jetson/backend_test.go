package jetson

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/speakez/barewire/jetson/cuda"
	"github.com/speakez/barewire/jetson/cuda/cudafake"
	"github.com/speakez/barewire/jetson/internal/emu"
	"github.com/speakez/barewire/jetson/kernels"
	"github.com/speakez/barewire/simd"
)

type kernelSet struct {
	name string
	k    map[string]func(cuda.Memory, cuda.Dim3, cuda.Dim3, []cuda.Arg) error
	// exactFloat: float results equal simd's bit for bit (the Go reference
	// is simd itself; the emulated CUDA C sums in another order).
	exactFloat bool
}

// kernelSets are the kernel implementations the backend tests run on: the Go
// reference, and the CUDA C sources themselves compiled for the host when
// cgo is available.
func kernelSets(t *testing.T) []kernelSet {
	sets := []kernelSet{{"reference", kernels.Reference, true}}
	if emu.Available {
		sets = append(sets, kernelSet{"emulated-cuda", emu.Kernels, false})
	} else {
		t.Log("cgo disabled: the CUDA C kernels are not emulated")
	}
	return sets
}

func openSet(t *testing.T, dev cudafake.Device, ks kernelSet) *Backend {
	t.Helper()
	f := cudafake.New(dev)
	b := openFake(t, f, Auto)
	f.Kernels = ks.k
	return b
}

func closeEnough(got, want []float32, exact bool) (int, bool) {
	for i := range want {
		if exact && math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			return i, false
		}
		if d := math.Abs(float64(got[i]) - float64(want[i])); !exact && !(d <= 2e-5*math.Max(1, math.Abs(float64(want[i])))) {
			return i, false
		}
	}
	return 0, true
}

// ternaryMatrix returns rows×k random ternary weights packed in i2b128 at
// the given stride, and random int8 activations padded to whole blocks.
func ternaryMatrix(rng *rand.Rand, rows, k, stride int) (w []byte, x []int8, xsum int32) {
	w = make([]byte, rows*stride)
	row := make([]int8, k)
	for r := 0; r < rows; r++ {
		for i := range row {
			row[i] = int8(rng.IntN(3) - 1)
		}
		simd.PackI2B128(w[r*stride:], row)
	}
	x = make([]int8, simd.PaddedLen(k, 128))
	for i := 0; i < k; i++ {
		x[i] = int8(rng.IntN(256) - 128)
		xsum += int32(x[i])
	}
	return w, x, xsum
}

func i8bytes(x []int8) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), len(x))
}
func i32bytes(x []int32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 4*len(x))
}
func f32bytes(x []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 4*len(x))
}

func toDevice(t *testing.T, b *Backend, data []byte) cuda.DevicePtr {
	t.Helper()
	buf, err := b.Alloc(max(len(data), 4))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Driver().MemcpyHtoD(buf.Ptr, data); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Free(buf) })
	return buf.Ptr
}

func fromDevice(t *testing.T, b *Backend, dst []byte, p cuda.DevicePtr) {
	t.Helper()
	if err := b.Synchronize(); err != nil {
		t.Fatal(err)
	}
	if err := b.Driver().MemcpyDtoH(dst, p); err != nil {
		t.Fatal(err)
	}
}

// The launch wrappers pass pointers, pitches and grids such that the
// reference kernels reproduce simd's generic results: shapes chosen so that
// rows and tokens are not multiples of the tile sizes.
func TestBackendTernary(t *testing.T) {
	for _, ks := range kernelSets(t) {
		t.Run(ks.name, func(t *testing.T) { testBackendTernary(t, openSet(t, cudafake.Discrete(), ks)) })
	}
}

func testBackendTernary(t *testing.T, b *Backend) {
	rng := rand.New(rand.NewPCG(7, 7))
	const rows, k, ntok = 37, 300, 6
	stride := simd.RowBytesI2B128(k) + 32
	w, _, _ := ternaryMatrix(rng, rows, k, stride)
	ldx := simd.PaddedLen(k, 128)
	x := make([]int8, ntok*ldx)
	xsum := make([]int32, ntok)
	for t := 0; t < ntok; t++ {
		for i := 0; i < k; i++ {
			x[t*ldx+i] = int8(rng.IntN(256) - 128)
			xsum[t] += int32(x[t*ldx+i])
		}
	}
	dW, dX, dS := toDevice(t, b, w), toDevice(t, b, i8bytes(x)), toDevice(t, b, i32bytes(xsum))
	blocks := ldx / 128

	// Decode, token 2.
	dOut := toDevice(t, b, make([]byte, 4*rows))
	dX2 := dX.Add(2 * ldx)
	if err := b.TMatVec(dOut, dW, stride, rows, dX2, blocks, xsum[2]); err != nil {
		t.Fatal(err)
	}
	got := make([]int32, rows)
	fromDevice(t, b, i32bytes(got), dOut)
	want := make([]int32, rows)
	simd.GenericMatVecT2(want, w, stride, x[2*ldx:3*ldx], xsum[2])
	if !slices.Equal(got, want) {
		t.Fatalf("TMatVec:\n got %v\nwant %v", got, want)
	}

	// Prefill, ldd wider than rows.
	ldd := rows + 3
	dMM := toDevice(t, b, make([]byte, 4*ntok*ldd))
	if err := b.TMatMul(dMM, ldd, dW, stride, rows, dX, ldx, blocks, dS, ntok); err != nil {
		t.Fatal(err)
	}
	gotMM := make([]int32, ntok*ldd)
	fromDevice(t, b, i32bytes(gotMM), dMM)
	wantMM := make([]int32, ntok*ldd)
	simd.GenericMatMulT2(wantMM, ldd, w, stride, rows, x, ldx, ldx, xsum, ntok)
	if !slices.Equal(gotMM, wantMM) {
		t.Fatalf("TMatMul differs")
	}

	if err := b.TMatVec(dOut, dW, 100, rows, dX, blocks, 0); err == nil {
		t.Error("TMatVec accepted stride 100")
	}
	if err := b.TMatMul(dMM, rows-1, dW, stride, rows, dX, ldx, blocks, dS, ntok); err == nil {
		t.Error("TMatMul accepted ldd < rows")
	}
}

func TestBackendInt8AndQuantize(t *testing.T) {
	for _, ks := range kernelSets(t) {
		t.Run(ks.name, func(t *testing.T) { testBackendInt8AndQuantize(t, openSet(t, cudafake.Orin(), ks)) })
	}
}

func testBackendInt8AndQuantize(t *testing.T, b *Backend) {
	rng := rand.New(rand.NewPCG(3, 4))
	const rows, k, stride = 9, 70, 72
	w := make([]int8, rows*stride)
	x := make([]int8, k)
	for i := range w {
		w[i] = int8(rng.IntN(256) - 128)
	}
	for i := range x {
		x[i] = int8(rng.IntN(256) - 128)
	}
	dOut := toDevice(t, b, make([]byte, 4*rows))
	if err := b.I8MatVec(dOut, toDevice(t, b, i8bytes(w)), stride, rows, toDevice(t, b, i8bytes(x)), k); err != nil {
		t.Fatal(err)
	}
	got, want := make([]int32, rows), make([]int32, rows)
	fromDevice(t, b, i32bytes(got), dOut)
	simd.GenericMatVecI8(want, w, stride, x)
	if !slices.Equal(got, want) {
		t.Fatalf("I8MatVec: got %v want %v", got, want)
	}

	const n, ntok, ldq = 200, 3, 256
	xf := make([]float32, ntok*n)
	for i := range xf {
		xf[i] = float32(rng.NormFloat64() * 3)
	}
	dQ := toDevice(t, b, make([]byte, ntok*ldq))
	dScale, dSum := toDevice(t, b, make([]byte, 4*ntok)), toDevice(t, b, make([]byte, 4*ntok))
	if err := b.Quantize(dQ, ldq, dScale, dSum, toDevice(t, b, f32bytes(xf)), n, n, ntok); err != nil {
		t.Fatal(err)
	}
	q := make([]int8, ntok*ldq)
	scale, sum := make([]float32, ntok), make([]int32, ntok)
	fromDevice(t, b, i8bytes(q), dQ)
	fromDevice(t, b, f32bytes(scale), dScale)
	fromDevice(t, b, i32bytes(sum), dSum)
	for tk := 0; tk < ntok; tk++ {
		wq := make([]int8, ldq)
		ws, wsum := simd.QuantizeActivations(wq, xf[tk*n:(tk+1)*n])
		if !slices.Equal(q[tk*ldq:(tk+1)*ldq], wq) || scale[tk] != ws || sum[tk] != wsum {
			t.Fatalf("token %d quantized differently", tk)
		}
	}
}

func TestBackendFloatOps(t *testing.T) {
	for _, ks := range kernelSets(t) {
		t.Run(ks.name, func(t *testing.T) { testBackendFloatOps(t, openSet(t, cudafake.Orin(), ks), ks.exactFloat) })
	}
}

func testBackendFloatOps(t *testing.T, b *Backend, exact bool) {
	rng := rand.New(rand.NewPCG(5, 6))
	const heads, hd, ntok = 3, 8, 2
	const n, ld = heads * hd, heads*hd + 4
	x := make([]float32, ntok*ld)
	g := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for i := range g {
		g[i] = float32(rng.Float64() + 0.5)
	}
	cs, sn := make([]float32, ntok*hd/2), make([]float32, ntok*hd/2)
	for tk := 0; tk < ntok; tk++ {
		simd.RoPETable(cs[tk*hd/2:(tk+1)*hd/2], sn[tk*hd/2:(tk+1)*hd/2], 5+tk, 10000)
	}
	dX := toDevice(t, b, f32bytes(x))
	dY := toDevice(t, b, make([]byte, 4*len(x)))
	steps := []error{
		b.RMSNorm(dY, dX, toDevice(t, b, f32bytes(g)), n, ld, ntok, 1e-5),
		b.RoPE(dY, ld, heads, hd, toDevice(t, b, f32bytes(cs)), toDevice(t, b, f32bytes(sn)), hd/2, ntok),
		b.Softmax(dY, n, ld, ntok),
		b.SiLU(dX, dY, len(x)),
		b.ReLU2(dY, dX, len(x)),
		b.Mul(dY, dY, dX, len(x)),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	want := slices.Clone(x)
	y := make([]float32, len(x))
	for tk := 0; tk < ntok; tk++ {
		r := y[tk*ld : tk*ld+n]
		simd.RMSNorm(r, want[tk*ld:tk*ld+n], g, 1e-5)
		for h := 0; h < heads; h++ {
			simd.RoPERotateHalf(r[h*hd:(h+1)*hd], cs[tk*hd/2:(tk+1)*hd/2], sn[tk*hd/2:(tk+1)*hd/2])
		}
		simd.Softmax(r)
	}
	simd.SiLU(want, y)
	simd.ReLUSquared(y, want)
	simd.Mul(y, y, want)
	got := make([]float32, len(x))
	fromDevice(t, b, f32bytes(got), dY)
	if i, ok := closeEnough(got, y, exact); !ok {
		t.Fatalf("float pipeline differs at %d: got %v want %v (exact=%v)", i, got[i], y[i], exact)
	}
	if err := b.RoPE(dY, ld, heads, 7, 0, 0, 3, ntok); err == nil {
		t.Error("RoPE accepted an odd head size")
	}
}

func TestBackendDequantizeAndGLU(t *testing.T) {
	for _, ks := range kernelSets(t) {
		t.Run(ks.name, func(t *testing.T) { testBackendDequantizeAndGLU(t, openSet(t, cudafake.Orin(), ks), ks.exactFloat) })
	}
}

// Dequantization is exact in both kernel sets (one IEEE operation per step,
// the order of simd.Dequantize), with and without subtracting the sums,
// accumulating, per-row and per-tensor scales.
func testBackendDequantizeAndGLU(t *testing.T, b *Backend, exact bool) {
	rng := rand.New(rand.NewPCG(21, 22))
	const rows, ntok, lda, ldy = 300, 3, 304, 310
	acc := make([]int32, ntok*lda)
	for i := range acc {
		acc[i] = int32(rng.IntN(1<<20) - 1<<19)
	}
	rowScales := make([]float32, rows)
	for i := range rowScales {
		rowScales[i] = float32(rng.Float64()/100 + 1e-4)
	}
	xscale := []float32{127 / 3.7, 127 / 0.01, 1}
	xsum := []int32{-517, 12, 99}
	y0 := make([]float32, ntok*ldy)
	for i := range y0 {
		y0[i] = float32(rng.NormFloat64())
	}
	dAcc, dRS, dOne := toDevice(t, b, i32bytes(acc)), toDevice(t, b, f32bytes(rowScales)), toDevice(t, b, f32bytes([]float32{0.0371}))
	dXS, dSum := toDevice(t, b, f32bytes(xscale)), toDevice(t, b, i32bytes(xsum))
	for _, c := range []struct {
		perRow, sub, accumulate bool
	}{{true, false, false}, {false, true, false}, {true, true, true}, {false, false, true}} {
		dY := toDevice(t, b, f32bytes(y0))
		scales, dS, ns := []float32{0.0371}, dOne, 1
		if c.perRow {
			scales, dS, ns = rowScales, dRS, rows
		}
		if err := b.Dequantize(dY, ldy, dAcc, lda, dS, ns, dXS, dSum, c.sub, rows, ntok, c.accumulate); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, ntok*ldy)
		fromDevice(t, b, f32bytes(got), dY)
		want := slices.Clone(y0)
		tmp, dots := make([]float32, rows), make([]int32, rows)
		for tk := 0; tk < ntok; tk++ {
			copy(dots, acc[tk*lda:tk*lda+rows])
			for r := range dots {
				if c.sub {
					dots[r] -= xsum[tk]
				}
			}
			simd.Dequantize(tmp, dots, scales, xscale[tk])
			for r := range tmp {
				if c.accumulate {
					want[tk*ldy+r] += tmp[r]
				} else {
					want[tk*ldy+r] = tmp[r]
				}
			}
		}
		if i, ok := closeEnough(got, want, true); !ok {
			t.Fatalf("%+v: element %d = %v, want %v", c, i, got[i], want[i])
		}
	}
	if err := b.Dequantize(dAcc, ldy, dAcc, lda, dRS, 7, dXS, dSum, false, rows, ntok, false); err == nil {
		t.Error("Dequantize accepted 7 scales for 300 rows")
	}
	if err := b.TMatVecDequant(dAcc, dAcc, 32, rows, dAcc, 1, dRS, 7, dXS, dSum, false); err == nil || !strings.Contains(err.Error(), "7 scales for 300 rows") {
		t.Errorf("TMatVecDequant with 7 scales for 300 rows: %v", err)
	}
	if err := b.TMatVecDequant(dAcc, dAcc, 48, rows, dAcc, 1, dRS, 1, dXS, dSum, false); err == nil || !strings.Contains(err.Error(), "stride 48") {
		t.Errorf("TMatVecDequant with stride 48: %v", err)
	}
	if err := b.RMSNormQuantize(dAcc, 100, dXS, dSum, dAcc, dAcc, dRS, 128, 128, 1, 1e-6); err == nil || !strings.Contains(err.Error(), "ldq 100") {
		t.Errorf("RMSNormQuantize with ldq 100 < n 128: %v", err)
	}

	const n = 1000
	g, u := make([]float32, n), make([]float32, n)
	for i := range g {
		g[i], u[i] = float32(rng.NormFloat64()*3), float32(rng.NormFloat64())
	}
	dG, dU := toDevice(t, b, f32bytes(g)), toDevice(t, b, f32bytes(u))
	for _, silu := range []bool{false, true} {
		dY := toDevice(t, b, make([]byte, 4*n))
		if err := b.GLU(dY, dG, dU, n, silu); err != nil {
			t.Fatal(err)
		}
		got, want := make([]float32, n), make([]float32, n)
		fromDevice(t, b, f32bytes(got), dY)
		if silu {
			simd.SiLUGate(want, g, u)
		} else {
			simd.ReLUSquaredGate(want, g, u)
		}
		// ReLU² is exact everywhere; SiLU's exp is ex2.approx on the GPU.
		if i, ok := closeEnough(got, want, exact || !silu); !ok {
			t.Fatalf("GLU silu=%v: element %d = %v, want %v", silu, i, got[i], want[i])
		}
	}
}

func TestBackendFMatVec(t *testing.T) {
	for _, ks := range kernelSets(t) {
		t.Run(ks.name, func(t *testing.T) { testBackendFMatVec(t, openSet(t, cudafake.Discrete(), ks)) })
	}
}

// The float head kernel sums in simd's generic order: bit-identical to
// simd.GenericMatVec{F32,F16,BF16} in both kernel sets, for k with and
// without a tail of k%16 columns, f16 subnormals and specials included.
func testBackendFMatVec(t *testing.T, b *Backend) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, k := range []int{16, 37, 130} {
		const rows = 11
		stride := k + 5
		x := make([]float32, k)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		wf := make([]float32, rows*stride)
		wh := make([]uint16, rows*stride)
		for i := range wf {
			wf[i] = float32(rng.NormFloat64())
			wh[i] = uint16(rng.Uint32())
			if wh[i]&0x7c00 == 0x7c00 {
				wh[i] &^= 0x4000 // no infinities or NaNs: their sums say nothing
			}
		}
		wh[3] = 0x0001 // smallest f16 subnormal (a large bf16)
		dX := toDevice(t, b, f32bytes(x))
		for _, dt := range []FloatType{F32, F16, BF16} {
			var dW cuda.DevicePtr
			want := make([]float32, rows)
			switch dt {
			case F32:
				dW = toDevice(t, b, f32bytes(wf))
				simd.GenericMatVecF32(want, wf, stride, x)
			case F16:
				dW = toDevice(t, b, unsafe.Slice((*byte)(unsafe.Pointer(&wh[0])), 2*len(wh)))
				simd.GenericMatVecF16(want, wh, stride, x)
			case BF16:
				dW = toDevice(t, b, unsafe.Slice((*byte)(unsafe.Pointer(&wh[0])), 2*len(wh)))
				simd.GenericMatVecBF16(want, wh, stride, x)
			}
			dY := toDevice(t, b, make([]byte, 4*rows))
			if err := b.FMatVec(dY, dW, dt, stride, rows, dX, k); err != nil {
				t.Fatal(err)
			}
			got := make([]float32, rows)
			fromDevice(t, b, f32bytes(got), dY)
			if i, ok := closeEnough(got, want, true); !ok {
				t.Fatalf("k=%d dtype %d: row %d = %v, want %v", k, dt, i, got[i], want[i])
			}
		}
	}
	if err := b.FMatVec(0, 0, F16, 3, 1, 0, 4); err == nil {
		t.Error("FMatVec accepted stride < k")
	}
}

func TestBackendAttention(t *testing.T) {
	for _, ks := range kernelSets(t) {
		t.Run(ks.name, func(t *testing.T) { testBackendAttention(t, openSet(t, cudafake.Orin(), ks), ks.exactFloat) })
	}
}

// Attention against a plain Go computation of the same equations (not the
// kernels' order): GQA with 6 query heads on 2 KV heads, a chunk of 3
// tokens after 17 cached positions (scores rows longer than one step of 16,
// with a tail), and the KV rows wider than the heads.
func testBackendAttention(t *testing.T, b *Backend, exact bool) {
	rng := rand.New(rand.NewPCG(25, 26))
	const heads, kvHeads, hd, pos0, ntok = 6, 2, 12, 17, 3
	const ldq, ldo, ldkv, ldsc = heads*hd + 3, heads * hd, kvHeads*hd + 2, 24
	npos := pos0 + ntok
	q := make([]float32, ntok*ldq)
	k, v := make([]float32, npos*ldkv), make([]float32, npos*ldkv)
	for _, s := range [][]float32{q, k, v} {
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
	}
	scale := float32(1 / math.Sqrt(hd))
	dOut := toDevice(t, b, make([]byte, 4*ntok*ldo))
	dSc := toDevice(t, b, make([]byte, 4*ntok*heads*ldsc))
	if err := b.Attention(dOut, ldo, toDevice(t, b, f32bytes(q)), ldq, toDevice(t, b, f32bytes(k)), toDevice(t, b, f32bytes(v)), ldkv,
		heads, kvHeads, hd, pos0, ntok, scale, dSc, ldsc); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, ntok*ldo)
	fromDevice(t, b, f32bytes(got), dOut)
	want := make([]float32, ntok*ldo)
	for tk := 0; tk < ntok; tk++ {
		n := pos0 + tk + 1
		for h := 0; h < heads; h++ {
			kvh := h / (heads / kvHeads)
			s := make([]float64, n)
			mx := math.Inf(-1)
			for p := range s {
				for i := 0; i < hd; i++ {
					s[p] += float64(q[tk*ldq+h*hd+i]) * float64(k[p*ldkv+kvh*hd+i])
				}
				s[p] *= float64(scale)
				mx = math.Max(mx, s[p])
			}
			var sum float64
			for p := range s {
				s[p] = math.Exp(s[p] - mx)
				sum += s[p]
			}
			for i := 0; i < hd; i++ {
				var o float64
				for p := range s {
					o += s[p] / sum * float64(v[p*ldkv+kvh*hd+i])
				}
				want[tk*ldo+h*hd+i] = float32(o)
			}
		}
	}
	// Both kernel sets sum in float32 in another order than this float64
	// computation.
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*math.Max(1, math.Abs(float64(want[i]))) {
			t.Fatalf("out[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if err := b.Attention(dOut, ldo, dOut, ldq, dOut, dOut, ldkv, heads, 4, hd, pos0, ntok, scale, dSc, ldsc); err == nil {
		t.Error("Attention accepted 6 heads on 4 KV heads")
	}
	if err := b.Attention(dOut, ldo, dOut, ldq, dOut, dOut, ldkv, heads, kvHeads, hd, pos0, ntok+5, scale, dSc, ldsc); err == nil {
		t.Error("Attention accepted score rows too short")
	}
}
