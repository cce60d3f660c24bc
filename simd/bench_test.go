package simd

import (
	"fmt"
	"testing"
)

// Benchmarks: per tier × shape × threads, b.SetBytes = weight bytes streamed
// per call. Compare with benchstat. The 4096×4096 shapes fit in L2/L3; the
// 16384×16384 t2 matrix is 64 MiB.

type benchShape struct {
	rows, k int
}

var benchShapes = []benchShape{{4096, 4096}, {16384, 16384}}

func benchThreads() []int {
	n := DefaultThreads()
	if n == 1 {
		return []int{1}
	}
	return []int{1, n}
}

func BenchmarkMatVecT2(b *testing.B) {
	benchMatVec(b, LayoutI2B128, BlockI2B128, RowBytesI2B128, func(p *Pool, i Impl) func([]int32, []byte, int, []int8, int32) {
		return func(d []int32, w []byte, s int, x []int8, xs int32) { p.MatVecT2(i, d, w, s, x, xs) }
	})
}

func BenchmarkMatVecT16(b *testing.B) {
	benchMatVec(b, LayoutT5B160, BlockT5B160, RowBytesT5B160, func(p *Pool, i Impl) func([]int32, []byte, int, []int8, int32) {
		return func(d []int32, w []byte, s int, x []int8, xs int32) { p.MatVecT16(i, d, w, s, x, xs) }
	})
}

func benchMatVec(b *testing.B, layout string, block int, rowBytes func(int) int, call func(*Pool, Impl) func([]int32, []byte, int, []int8, int32)) {
	for _, sh := range benchShapes {
		k := PaddedLen(sh.k, block)
		stride := rowBytes(k)
		w := make([]byte, sh.rows*stride)
		if err := FillRandom(w, layout, 1); err != nil {
			b.Fatal(err)
		}
		x := make([]int8, k)
		for i := range x {
			x[i] = int8(i*7 - 100)
		}
		xs := SumInt8(x)
		dst := make([]int32, sh.rows)
		for _, impl := range tierImpls(b) {
			if impl.Tier == TierGeneric && sh.rows > 4096 {
				continue
			}
			for _, th := range benchThreads() {
				p := NewPool(th)
				f := call(p, impl)
				b.Run(fmt.Sprintf("%s/%dx%d/t%d", impl.Tier, sh.rows, sh.k, th), func(b *testing.B) {
					b.SetBytes(int64(len(w)))
					for b.Loop() {
						f(dst, w, stride, x, xs)
					}
					b.ReportMetric(float64(sh.rows)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gweights/s")
				})
				p.Close()
			}
		}
	}
}

func BenchmarkMatMulT2(b *testing.B) {
	rows, k := 4096, 4096
	stride := RowBytesI2B128(k)
	w := make([]byte, rows*stride)
	FillRandom(w, LayoutI2B128, 2)
	for _, ntok := range []int{8, 64} {
		x := make([]int8, ntok*k)
		for i := range x {
			x[i] = int8(i*13 - 7)
		}
		xs := make([]int32, ntok)
		for t := range xs {
			xs[t] = SumInt8(x[t*k : (t+1)*k])
		}
		dst := make([]int32, ntok*rows)
		for _, impl := range tierImpls(b) {
			for _, th := range benchThreads() {
				p := NewPool(th)
				b.Run(fmt.Sprintf("%s/%dx%d/tok%d/t%d", impl.Tier, rows, k, ntok, th), func(b *testing.B) {
					b.SetBytes(int64(len(w)))
					for b.Loop() {
						p.MatMulT2(impl, dst, rows, w, stride, rows, x, k, k, xs, ntok)
					}
					b.ReportMetric(float64(rows*k*ntok)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gweights/s")
				})
				p.Close()
			}
		}
	}
}

func BenchmarkMatVecI8(b *testing.B) {
	rows, k := 4096, 4096
	w := make([]int8, rows*k)
	for i := range w {
		w[i] = int8(i * 31)
	}
	x := make([]int8, k)
	for i := range x {
		x[i] = int8(i * 5)
	}
	dst := make([]int32, rows)
	for _, impl := range tierImpls(b) {
		for _, th := range benchThreads() {
			p := NewPool(th)
			b.Run(fmt.Sprintf("%s/%dx%d/t%d", impl.Tier, rows, k, th), func(b *testing.B) {
				b.SetBytes(int64(len(w)))
				for b.Loop() {
					p.MatVecI8(impl, dst, w, k, x)
				}
			})
			p.Close()
		}
	}
}

func BenchmarkReadBandwidth(b *testing.B) {
	for _, th := range benchThreads() {
		b.Run(fmt.Sprintf("t%d", th), func(b *testing.B) {
			var gbps float64
			for b.Loop() {
				gbps = MeasureReadBandwidth(th, 256<<20)
			}
			b.ReportMetric(gbps, "GB/s")
		})
	}
}

// BenchmarkArgmax is greedy decoding's pick over a LLaMA-3 vocabulary's
// logits (in cache), with the vector loop (where the CPU has it) and the
// Go loop.
func BenchmarkArgmax(b *testing.B) {
	x := make([]float32, 128256)
	for i := range x {
		x[i] = float32((i*7919)%10007) / 10007
	}
	for _, vec := range []bool{normVec, false} {
		name := "go"
		if vec {
			name = "vector"
		}
		b.Run(name, func(b *testing.B) {
			old := normVec
			normVec = vec
			defer func() { normVec = old }()
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				Argmax(x)
			}
		})
	}
}

// BenchmarkTokenHelpers is the float work around the matrix products of
// one decoded BitNet b1.58 2B4T token (30 layers; d 2560, FFN 6912, 20
// query heads of 128 over 5 KV heads, attention over 257 positions): the
// norms, activation quantization, dequantization, RoPE, softmax, ReLU²·up
// and residual adds, once with the vector loops this CPU has and once with
// the Go loops. One op is one token; the calls run on one thread.
func BenchmarkTokenHelpers(b *testing.B) {
	const (
		layers, d, ffn, heads, kvHeads, hd, pos = 30, 2560, 6912, 20, 5, 128, 257
	)
	rng := func(n int, seed uint32) []float32 {
		x := make([]float32, n)
		s := seed*2654435761 + 1
		for i := range x {
			s = s*1664525 + 1013904223
			x[i] = float32(int32(s>>8)-1<<23) / float32(1<<21)
		}
		return x
	}
	x, w, up := rng(ffn, 1), rng(ffn, 2), rng(ffn, 3)
	scores := rng(heads*pos, 4)
	qk := rng((heads+kvHeads)*hd, 5)
	cos, sin := make([]float32, hd/2), make([]float32, hd/2)
	RoPETable(cos, sin, pos, 500000)
	y := make([]float32, 2*ffn)
	q := make([]int8, ffn)
	acc := make([]int32, 2*ffn)
	for i := range acc {
		acc[i] = int32(i*7919%20001) - 10000
	}
	rowScale := []float32{0.75}
	norm := func(n int) {
		RMSNorm(y[:n], x[:n], w[:n], 1e-5)
		QuantizeActivations(q[:n], y[:n])
	}
	dequant := func(n int) { Dequantize(y[:n], acc[:n], rowScale, 41.5) }
	layer := func() {
		norm(d) // pre-norm, q/k/v input
		dequant(d + 2*kvHeads*hd)
		for h := 0; h < heads+kvHeads; h++ {
			RoPERotateHalf(qk[h*hd:(h+1)*hd], cos, sin)
		}
		for h := 0; h < heads; h++ {
			SoftmaxScaled(scores[h*pos:(h+1)*pos], 0.088388346)
		}
		norm(d) // attention sub-norm, o input
		dequant(d)
		AddTo(x[:d], y[:d])
		norm(d) // FFN pre-norm, gate/up input
		dequant(2 * ffn)
		ReLUSquaredGate(y[:ffn], y[:ffn], up)
		norm(ffn) // FFN sub-norm, down input
		dequant(d)
		AddTo(x[:d], y[:d])
	}
	for _, vec := range []bool{true, false} {
		name := "go"
		if vec {
			name = "vector"
			if !normVec && quantVec.Load() == nil {
				continue
			}
		}
		b.Run(name, func(b *testing.B) {
			oldNorm, oldQuant := normVec, quantVec.Load()
			if !vec {
				normVec = false
				quantVec.Store(nil)
			}
			defer func() { normVec = oldNorm; quantVec.Store(oldQuant) }()
			for b.Loop() {
				for range layers {
					layer()
				}
			}
		})
	}
}
