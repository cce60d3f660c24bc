//go:build cgo

package emu_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/speakez/barewire/jetson"
	"github.com/speakez/barewire/jetson/cuda"
	"github.com/speakez/barewire/jetson/cuda/cudafake"
	"github.com/speakez/barewire/jetson/internal/emu"
	"github.com/speakez/barewire/simd"
)

// The CUDA C kernels, run on the host, against simd on shapes that cross
// every tile boundary: rows not a multiple of 4 warps, tokens not a multiple
// of the 4-token tile, rows longer than one pass of 256 threads, int8 rows
// with a tail, and quantization's special inputs.

type dev struct {
	t *testing.T
	f *cudafake.Driver
	b *jetson.Backend
}

func open(t *testing.T) *dev {
	f := cudafake.New(cudafake.Orin())
	f.Kernels = emu.Kernels
	b, err := jetson.Open(jetson.Options{Driver: f})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &dev{t, f, b}
}

func raw[T any](s []T) []byte {
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(z)))
}

func (d *dev) put(b []byte) cuda.DevicePtr {
	p, err := d.f.MemAlloc(max(len(b), 4))
	if err != nil {
		d.t.Fatal(err)
	}
	if err := d.f.MemcpyHtoD(p, b); err != nil {
		d.t.Fatal(err)
	}
	return p
}

func (d *dev) get(dst []byte, p cuda.DevicePtr) {
	if err := d.f.MemcpyDtoH(dst, p); err != nil {
		d.t.Fatal(err)
	}
}

func ternary(rng *rand.Rand, rows, k, stride int) []byte {
	w := make([]byte, rows*stride)
	row := make([]int8, k)
	for r := 0; r < rows; r++ {
		for i := range row {
			row[i] = int8(rng.IntN(3) - 1)
		}
		simd.PackI2B128(w[r*stride:], row)
	}
	return w
}

func TestTernaryShapes(t *testing.T) {
	d := open(t)
	rng := rand.New(rand.NewPCG(11, 12))
	for _, sh := range [][3]int{{1, 1, 1}, {5, 129, 2}, {13, 640, 9}, {4, 1000, 4}} {
		rows, k, ntok := sh[0], sh[1], sh[2]
		stride := simd.RowBytesI2B128(k) + 64
		ldx := simd.PaddedLen(k, 128)
		w := ternary(rng, rows, k, stride)
		x := make([]int8, ntok*ldx)
		xsum := make([]int32, ntok)
		for tk := 0; tk < ntok; tk++ {
			for i := 0; i < k; i++ {
				x[tk*ldx+i] = int8(rng.IntN(256) - 128)
			}
			x[tk*ldx] = -128
			xsum[tk] = simd.SumInt8(x[tk*ldx : (tk+1)*ldx])
		}
		dW, dX, dS := d.put(w), d.put(raw(x)), d.put(raw(xsum))
		ldd := rows + 1
		dD := d.put(make([]byte, 4*ntok*ldd))
		if err := d.b.TMatMul(dD, ldd, dW, stride, rows, dX, ldx, ldx/128, dS, ntok); err != nil {
			t.Fatal(err)
		}
		got := make([]int32, ntok*ldd)
		d.get(raw(got), dD)
		want := make([]int32, ntok*ldd)
		simd.GenericMatMulT2(want, ldd, w, stride, rows, x, ldx, ldx, xsum, ntok)
		if !slices.Equal(got, want) {
			t.Errorf("TMatMul %dx%d, %d tokens:\n got %v\nwant %v", rows, k, ntok, got, want)
		}
		last := ntok - 1
		dV := d.put(make([]byte, 4*rows))
		if err := d.b.TMatVec(dV, dW, stride, rows, dX.Add(last*ldx), ldx/128, xsum[last]); err != nil {
			t.Fatal(err)
		}
		gotV := make([]int32, rows)
		d.get(raw(gotV), dV)
		if !slices.Equal(gotV, want[last*ldd:last*ldd+rows]) {
			t.Errorf("TMatVec %dx%d: got %v want %v", rows, k, gotV, want[last*ldd:last*ldd+rows])
		}
	}
}

func TestInt8Tail(t *testing.T) {
	d := open(t)
	rng := rand.New(rand.NewPCG(13, 14))
	for _, k := range []int{1, 3, 4, 131, 263} {
		rows, stride := 6, (k+3)&^3
		w := make([]int8, rows*stride)
		x := make([]int8, k)
		for i := range w {
			w[i] = int8(rng.IntN(256) - 128)
		}
		for i := range x {
			x[i] = int8(rng.IntN(256) - 128)
		}
		dD := d.put(make([]byte, 4*rows))
		if err := d.b.I8MatVec(dD, d.put(raw(w)), stride, rows, d.put(raw(x)), k); err != nil {
			t.Fatal(err)
		}
		got, want := make([]int32, rows), make([]int32, rows)
		d.get(raw(got), dD)
		simd.GenericMatVecI8(want, w, stride, x)
		if !slices.Equal(got, want) {
			t.Errorf("k=%d: got %v want %v", k, got, want)
		}
	}
}

func TestQuantizeSpecialValues(t *testing.T) {
	d := open(t)
	const n, ntok = 700, 4
	ldq := simd.PaddedLen(n, 128)
	rng := rand.New(rand.NewPCG(15, 16))
	x := make([]float32, ntok*n)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 5)
	}
	clear(x[n : 2*n])                // all zero: scale 1
	x[2*n+3] = float32(math.NaN())   // NaN: 0
	x[2*n+4] = float32(math.Inf(-1)) // ignored for the maximum, clamps to -128
	x[3*n+10] = 2.5 / (127.0 / 4)    // ties after scaling by 127/max
	x[3*n+11] = 4                    // the maximum
	dQ, dS, dSum := d.put(make([]byte, ntok*ldq)), d.put(make([]byte, 4*ntok)), d.put(make([]byte, 4*ntok))
	if err := d.b.Quantize(dQ, ldq, dS, dSum, d.put(raw(x)), n, n, ntok); err != nil {
		t.Fatal(err)
	}
	q := make([]int8, ntok*ldq)
	s := make([]float32, ntok)
	sum := make([]int32, ntok)
	d.get(raw(q), dQ)
	d.get(raw(s), dS)
	d.get(raw(sum), dSum)
	for tk := 0; tk < ntok; tk++ {
		wq := make([]int8, ldq)
		ws, wsum := simd.QuantizeActivations(wq, x[tk*n:(tk+1)*n])
		if !slices.Equal(q[tk*ldq:(tk+1)*ldq], wq) || math.Float32bits(s[tk]) != math.Float32bits(ws) || sum[tk] != wsum {
			t.Errorf("token %d: scale %v/%v sum %d/%d", tk, s[tk], ws, sum[tk], wsum)
		}
	}
}

func near(t *testing.T, name string, got, want []float32) {
	t.Helper()
	for i := range want {
		if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= 2e-5*math.Max(1, math.Abs(float64(want[i])))) {
			t.Fatalf("%s[%d] = %v, want %v", name, i, got[i], want[i])
		}
	}
}

func TestFloatRowsLongerThanABlock(t *testing.T) {
	d := open(t)
	const heads, hd, ntok = 5, 128, 3
	const n, ld = heads * hd, heads*hd + 8
	rng := rand.New(rand.NewPCG(17, 18))
	x := make([]float32, ntok*ld)
	g := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 4)
	}
	for i := range g {
		g[i] = float32(rng.Float64() + 0.5)
	}
	get := func(p cuda.DevicePtr) []float32 {
		out := make([]float32, len(x))
		d.get(raw(out), p)
		return out
	}
	rows := func(v []float32, f func(row []float32, t int)) []float32 {
		v = slices.Clone(v)
		for tk := 0; tk < ntok; tk++ {
			f(v[tk*ld:tk*ld+n], tk)
		}
		return v
	}
	dX := d.put(raw(x))
	dY := d.put(make([]byte, 4*len(x)))
	if err := d.b.RMSNorm(dY, dX, d.put(raw(g)), n, ld, ntok, 1e-6); err != nil {
		t.Fatal(err)
	}
	y := get(dY)
	near(t, "rmsnorm", y, rows(make([]float32, len(x)), func(r []float32, tk int) {
		simd.RMSNorm(r, x[tk*ld:tk*ld+n], g, 1e-6)
	}))

	cs, sn := make([]float32, ntok*hd/2), make([]float32, ntok*hd/2)
	for tk := 0; tk < ntok; tk++ {
		simd.RoPETable(cs[tk*hd/2:(tk+1)*hd/2], sn[tk*hd/2:(tk+1)*hd/2], 4093*tk+1, 10000)
	}
	if err := d.b.RoPE(dY, ld, heads, hd, d.put(raw(cs)), d.put(raw(sn)), hd/2, ntok); err != nil {
		t.Fatal(err)
	}
	near(t, "rope", get(dY), rows(y, func(r []float32, tk int) {
		for h := 0; h < heads; h++ {
			simd.RoPERotateHalf(r[h*hd:(h+1)*hd], cs[tk*hd/2:(tk+1)*hd/2], sn[tk*hd/2:(tk+1)*hd/2])
		}
	}))

	if err := d.b.Softmax(dX, n, ld, ntok); err != nil {
		t.Fatal(err)
	}
	near(t, "softmax", get(dX), rows(x, func(r []float32, _ int) { simd.Softmax(r) }))
}

// The fused kernels give the bits of the launches they replace: rows not a
// multiple of the 4 warps of a block, per-tensor and per-row scales, a
// residual add; rows of the norm longer than one pass of the block, several
// tokens and zero padding of the quantized rows.
func TestFusedKernels(t *testing.T) {
	d := open(t)
	rng := rand.New(rand.NewPCG(21, 22))
	bitsEqual := func(a, b []float32) bool {
		return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
	}
	for _, sh := range [][2]int{{1, 1}, {7, 300}, {13, 640}} {
		rows, k := sh[0], sh[1]
		stride := simd.RowBytesI2B128(k)
		ldx := simd.PaddedLen(k, 128)
		w := ternary(rng, rows, k, stride)
		x := make([]int8, ldx)
		for i := 0; i < k; i++ {
			x[i] = int8(rng.IntN(256) - 128)
		}
		xsum := simd.SumInt8(x)
		scales := make([]float32, rows)
		h := make([]float32, rows)
		for i := range scales {
			scales[i], h[i] = float32(0.5+rng.Float64()), float32(rng.NormFloat64())
		}
		dW, dX, dSc := d.put(w), d.put(raw(x)), d.put(raw(scales))
		dXS, dSum, dAcc := d.put(raw([]float32{127 / 1.7})), d.put(raw([]int32{xsum})), d.put(make([]byte, 4*rows))
		for _, nscale := range []int{1, rows} {
			for _, acc := range []bool{false, true} {
				dA, dB := d.put(raw(h)), d.put(raw(h))
				if err := d.b.TMatVecDequant(dA, dW, stride, rows, dX, ldx/128, dSc, nscale, dXS, dSum, acc); err != nil {
					t.Fatal(err)
				}
				if err := d.b.TMatVec(dAcc, dW, stride, rows, dX, ldx/128, 0); err != nil {
					t.Fatal(err)
				}
				if err := d.b.Dequantize(dB, rows, dAcc, rows, dSc, nscale, dXS, dSum, true, rows, 1, acc); err != nil {
					t.Fatal(err)
				}
				got, want := make([]float32, rows), make([]float32, rows)
				d.get(raw(got), dA)
				d.get(raw(want), dB)
				if !bitsEqual(got, want) {
					t.Errorf("TMatVecDequant %dx%d, %d scales, accumulate %v:\n got %v\nwant %v", rows, k, nscale, acc, got, want)
				}
				// And the integer part against simd.
				dots := make([]int32, rows)
				simd.GenericMatVecT2(dots, w, stride, x, xsum)
				tmp := make([]float32, rows)
				simd.Dequantize(tmp, dots, scales[:nscale], 127/1.7)
				for r := range tmp {
					if acc {
						tmp[r] += h[r]
					}
				}
				if !bitsEqual(got, tmp) {
					t.Errorf("TMatVecDequant %dx%d, %d scales, accumulate %v against simd:\n got %v\nwant %v", rows, k, nscale, acc, got, tmp)
				}
			}
		}
	}
	for _, sh := range [][2]int{{1, 1}, {300, 2}, {700, 3}} {
		n, ntok := sh[0], sh[1]
		ldq := simd.PaddedLen(n, 128) + 128
		x, g := make([]float32, ntok*n), make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 3)
		}
		for i := range g {
			g[i] = float32(0.5 + rng.Float64())
		}
		dX, dG := d.put(raw(x)), d.put(raw(g))
		var outs [2][]byte
		for i := range outs {
			dY, dQ := d.put(make([]byte, 4*ntok*n)), d.put(make([]byte, ntok*ldq))
			for j := 0; j < ntok*ldq; j++ { // the padding must be written as zeros
				if err := d.f.MemcpyHtoD(dQ.Add(j), []byte{0x55}); err != nil {
					t.Fatal(err)
				}
			}
			dS, dT := d.put(make([]byte, 4*ntok)), d.put(make([]byte, 4*ntok))
			var err error
			if i == 0 {
				err = d.b.RMSNormQuantize(dQ, ldq, dS, dT, dY, dX, dG, n, n, ntok, 1e-6)
			} else if err = d.b.RMSNorm(dY, dX, dG, n, n, ntok, 1e-6); err == nil {
				err = d.b.Quantize(dQ, ldq, dS, dT, dY, n, n, ntok)
			}
			if err != nil {
				t.Fatal(err)
			}
			y, q, s, sum := make([]byte, 4*ntok*n), make([]byte, ntok*ldq), make([]byte, 4*ntok), make([]byte, 4*ntok)
			d.get(y, dY)
			d.get(q, dQ)
			d.get(s, dS)
			d.get(sum, dT)
			outs[i] = slices.Concat(y, q, s, sum)
			for tk := 0; tk < ntok; tk++ {
				if pad := q[tk*ldq+n : (tk+1)*ldq]; slices.ContainsFunc(pad, func(b byte) bool { return b != 0 }) {
					t.Errorf("RMSNormQuantize n=%d: token %d padding not zeroed", n, tk)
				}
			}
		}
		if !slices.Equal(outs[0], outs[1]) {
			t.Errorf("RMSNormQuantize %d tokens of %d differs from RMSNorm + Quantize", ntok, n)
		}
	}
}
