package sdk

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/speakez/barewire/jetson"
	"github.com/speakez/barewire/jetson/cuda"
	"github.com/speakez/barewire/jetson/cuda/cudafake"
	"github.com/speakez/barewire/jetson/jetsontest"
	"github.com/speakez/barewire/sdk/internal/reference"
	"github.com/speakez/barewire/simd"
)

// The CUDA backend is tested on the fake driver of jetson/jetsontest, with
// the kernels run either by their Go reference (simd on the host) or by the
// CUDA C sources compiled for the host (the emulator; cgo only). With the
// reference kernels every float operation but the attention's order is the
// CPU's generic tier's, so the first position's logits (where attention is
// one weight of 1) must be the CPU's bits and the others agree to a few
// ulps: any wrong offset, pitch, position or buffer shows far above that.
// With the emulated kernels the float parts also differ in precision
// (ex2.approx, float32 sums: see gpu.go), so logits are compared within a
// looser bound. Greedy tokens must agree in both.

type gpuTestModel struct {
	name string
	path string
}

// gpuModels are small BitNet models covering the graph's variants: GQA and
// MHA, ReLU² and SiLU, with and without sub-norms, int8, f32 and f16 heads,
// tied and untied.
func gpuModels(t *testing.T) []gpuTestModel {
	t.Helper()
	ref := func(variant string, edit func(*reference.BitNetConfig), int8Head bool, seed uint64) string {
		c, err := reference.SmallBitNetConfig(variant)
		if err != nil {
			t.Fatal(err)
		}
		// head_dim 16 so that the attention sums have whole lane steps, an
		// FFN width that is not a multiple of 128 (padded blocks).
		c.Dim, c.HeadDim, c.FFN, c.Vocab = 64, 16, 160, 80
		if edit != nil {
			edit(&c)
		}
		m, err := reference.RandomBitNet(c, seed)
		if err != nil {
			t.Fatal(err)
		}
		return writeRefBitNet(t, m, int8Head)
	}
	f16 := filepath.Join(t.TempDir(), "tiny-f16.bwm")
	if err := WriteSynthetic(f16, SyntheticBitNetTiny, SyntheticOptions{Head: "f16", Seed: 5}); err != nil {
		t.Fatal(err)
	}
	return []gpuTestModel{
		{"2B4T-gqa-relu2-i8head", ref("2B4T", nil, true, 31)},
		{"1bitLLM-mha-silu-f32head", ref("1bitLLM", nil, false, 32)},
		{"no-sub-norms-gqa-silu-untied", ref("1bitLLM", func(c *reference.BitNetConfig) {
			c.KVHeads, c.SubNorms, c.TiedOutput, c.RopeTheta = 2, false, false, 500000
		}, false, 33)},
		{"tiny-f16head", f16},
	}
}

// openGPU opens path on a fake device with the given kernels; the
// Backend is closed after the model.
func openGPU(t *testing.T, path string, dev cudafake.Device, k jetsontest.Kernels, o jetson.Override, opts ...Option) (*Model, *cudafake.Driver) {
	t.Helper()
	b, f, err := jetsontest.Open(dev, k, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	m, err := Open(path, append(opts, WithCUDABackend(b))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, f
}

// gpuRun is what one session computes: the logits of every prompt
// position (prefill in chunks of 3), then those of greedy decoding.
type gpuRun struct {
	prefill [][]float32
	decode  [][]float32
	tokens  []int
}

func runSession(t *testing.T, m *Model, prompt []int, steps int) gpuRun {
	t.Helper()
	ctx := context.Background()
	s, err := m.NewSession(WithPrefillChunk(3), WithContextLength(64))
	if err != nil {
		t.Fatal(err)
	}
	var r gpuRun
	if err := s.ForwardEach(ctx, prompt, func(_ int, l []float32) { r.prefill = append(r.prefill, slices.Clone(l)) }); err != nil {
		t.Fatal(err)
	}
	tok := Argmax(r.prefill[len(r.prefill)-1])
	for range steps {
		r.tokens = append(r.tokens, tok)
		l, err := s.Forward(ctx, []int{tok})
		if err != nil {
			t.Fatal(err)
		}
		r.decode = append(r.decode, slices.Clone(l))
		tok = Argmax(l)
	}
	return r
}

func TestGPUMatchesCPUReferenceKernels(t *testing.T) {
	prompt := []int{1, 7, 3, 60, 12, 5, 0, 42}
	for _, tm := range gpuModels(t) {
		cpu, err := Open(tm.path, WithKernels(simd.Generic))
		if err != nil {
			t.Fatal(err)
		}
		defer cpu.Close()
		want := runSession(t, cpu, prompt, 16)
		for _, dev := range []cudafake.Device{cudafake.Orin(), cudafake.Discrete()} {
			t.Run(tm.name+"/"+dev.Name, func(t *testing.T) {
				m, f := openGPU(t, tm.path, dev, jetsontest.Reference, jetson.Auto)
				if m.Backend() != BackendCUDA {
					t.Fatalf("backend %q", m.Backend())
				}
				allocs := f.Count("cuMemAlloc_v2")
				got := runSession(t, m, prompt, 16)
				// One allocation: the session's; none per token.
				if n := f.Count("cuMemAlloc_v2") - allocs; n != 1 {
					t.Errorf("%d device allocations for a session and 24 tokens, want 1", n)
				}
				// The first position's attention is exact in any order (one
				// weight, 1): its logits must be the CPU's bits.
				if !slices.Equal(got.prefill[0], want.prefill[0]) {
					i := firstDiff(got.prefill[0], want.prefill[0])
					t.Fatalf("position 0: logit %d = %v, CPU %v", i, got.prefill[0][i], want.prefill[0][i])
				}
				compareLogits(t, got, want, 1e-5)
				if !slices.Equal(got.tokens, want.tokens) {
					t.Fatalf("greedy tokens %v, CPU %v", got.tokens, want.tokens)
				}
			})
		}
	}
}

// compareLogits checks that every position's logits are within tol of
// the range of the CPU's, and that greedy decoding chose the same tokens.
func compareLogits(t *testing.T, got, want gpuRun, tol float64) {
	t.Helper()
	worst := 0.0
	check := func(what string, p int, g, w []float32) {
		lo, hi := slices.Min(w), slices.Max(w)
		var d float64
		for i := range w {
			d = math.Max(d, math.Abs(float64(g[i]-w[i])))
		}
		if !(d <= tol*float64(hi-lo)) {
			t.Fatalf("%s %d: logits differ by %g (range %g)", what, p, d, hi-lo)
		}
		worst = math.Max(worst, d/float64(hi-lo))
	}
	for p := range want.prefill {
		check("prefill position", p, got.prefill[p], want.prefill[p])
	}
	for p := range want.decode {
		check("decode step", p, got.decode[p], want.decode[p])
	}
	if !slices.Equal(got.tokens, want.tokens) {
		t.Fatalf("greedy tokens %v, CPU %v", got.tokens, want.tokens)
	}
	t.Logf("largest difference: %.3g of the logits' range", worst)
}

func firstDiff(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return 0
}

// Decode token by token equals prefill, and Reset starts over: on the GPU
// both follow from per-token kernels whose arithmetic does not depend on
// the batch (bw_tmatmul and bw_tmatvec give the same integers).
func checkDecodeEqualsPrefill(t *testing.T, m *Model, prompt []int, rounds int) {
	t.Helper()
	ctx := context.Background()
	s, err := m.NewSession(WithPrefillChunk(4), WithContextLength(32))
	if err != nil {
		t.Fatal(err)
	}
	var prefill [][]float32
	if err := s.ForwardEach(ctx, prompt, func(_ int, l []float32) { prefill = append(prefill, slices.Clone(l)) }); err != nil {
		t.Fatal(err)
	}
	for round := range rounds {
		s.Reset()
		for p, tok := range prompt {
			l, err := s.Forward(ctx, []int{tok})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(l, prefill[p]) {
				t.Fatalf("round %d, position %d: decode logits differ from prefill", round, p)
			}
		}
	}
}

// The CUDA C kernels themselves (emulated on the host) against the CPU
// path. Kept to the smallest models and few tokens: the emulator runs
// every GPU thread as a fiber on one core.
func TestGPUEmulatedKernels(t *testing.T) {
	if !jetsontest.EmulatorAvailable {
		t.Skip("the CUDA kernel emulator needs cgo (CGO_ENABLED=0 build)")
	}
	// GQA, ReLU², sub-norms and an int8 head; SiLU, no sub-norms and an
	// untied f32 head. (The f16 head kernel is compared
	// with simd bit for bit in package jetson.)
	models := gpuModels(t)
	prompt := []int{1, 7, 3, 60, 12}
	for _, tm := range []gpuTestModel{models[0], models[2]} {
		t.Run(tm.name, func(t *testing.T) {
			cpu, err := Open(tm.path)
			if err != nil {
				t.Fatal(err)
			}
			defer cpu.Close()
			want := runSession(t, cpu, prompt, 16)
			m, _ := openGPU(t, tm.path, cudafake.Orin(), jetsontest.Emulated, jetson.Auto)
			got := runSession(t, m, prompt, 16)
			// Float order and exp precision: a few ulps (measured: below
			// 3e-7 of the range), unless a quantized activation lands one
			// step away, which would move logits by ~1e-4 of the range.
			compareLogits(t, got, want, 1e-3)
			checkDecodeEqualsPrefill(t, m, prompt, 1)
		})
	}
}

func TestGPUDecodeEqualsPrefill(t *testing.T) {
	for _, tm := range gpuModels(t) {
		t.Run(tm.name, func(t *testing.T) {
			m, _ := openGPU(t, tm.path, cudafake.Discrete(), jetsontest.Reference, jetson.Auto)
			checkDecodeEqualsPrefill(t, m, []int{9, 8, 7, 6, 5, 4, 3, 2, 1}, 2)
		})
	}
}

// Where the weights go on each kind of device, and that closing the model
// frees every device allocation and registration (the Backend stays open).
func TestGPUPlacements(t *testing.T) {
	path := gpuModels(t)[0].path
	for _, c := range []struct {
		name string
		dev  cudafake.Device
		o    jetson.Override
		want string
	}{
		{"orin", cudafake.Orin(), jetson.Auto, "registered on Fake Orin"},
		{"xavier", cudafake.Xavier(), jetson.Auto, "registered on Fake Xavier"},
		{"discrete", cudafake.Discrete(), jetson.Auto, "device-copy on Fake H100"},
		{"discrete-inplace", cudafake.Discrete(), jetson.ForceInPlace, "registered on Fake H100"},
		{"orin-copy", cudafake.Orin(), jetson.ForceDeviceCopy, "device-copy on Fake Orin"},
		// The same two, chosen per model (WithGPUWeights) on a backend left at Auto.
		{"discrete-inplace-option", cudafake.Discrete(), jetson.ForceInPlace, "registered on Fake H100"},
		{"orin-copy-option", cudafake.Orin(), jetson.ForceDeviceCopy, "device-copy on Fake Orin"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bo, opts := c.o, []Option(nil)
			if strings.HasSuffix(c.name, "-option") {
				bo, opts = jetson.Auto, []Option{WithGPUWeights(c.o)}
			}
			b, f, err := jetsontest.Open(c.dev, jetsontest.Reference, bo)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			m, err := Open(path, append(opts, WithCUDABackend(b))...)
			if err != nil {
				t.Fatal(err)
			}
			if p := m.GPUPolicy(); !strings.HasPrefix(p, c.want) || !strings.Contains(p, "sessions ") {
				t.Errorf("policy %q, want it to start with %q", p, c.want)
			}
			s, err := m.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Forward(context.Background(), []int{1, 2, 3}); err != nil {
				t.Fatal(err)
			}
			if a, r, h := f.Live(); a == 0 || (r == 0) != (c.want[:8] == "device-c") || h != 0 {
				t.Errorf("while open: %d allocations, %d registrations, %d host allocations", a, r, h)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if a, r, h := f.Live(); a+r+h != 0 {
				t.Errorf("after Close: %d allocations, %d registrations, %d host allocations left", a, r, h)
			}
			if _, err := s.Forward(context.Background(), []int{1}); !errors.Is(err, ErrClosed) {
				t.Errorf("Forward after Close: %v", err)
			}
		})
	}
}

// cancelAfter is a context whose Err reports cancellation from its n-th
// call on: the session checks it once per call and once per block.
type cancelAfter struct {
	context.Context
	n int
}

func (c *cancelAfter) Err() error {
	if c.n--; c.n < 0 {
		return context.Canceled
	}
	return nil
}

func TestGPUCancel(t *testing.T) {
	tm := gpuModels(t)[0]
	m, _ := openGPU(t, tm.path, cudafake.Orin(), jetsontest.Reference, jetson.Auto)
	s, err := m.NewSession(WithContextLength(32))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	var last error
	for _, err := range s.Generate(ctx, []int{1, 2, 3}, GenerateOptions{MaxTokens: 10, IgnoreEOS: true}) {
		if err != nil {
			last = err
			break
		}
		if n++; n == 2 {
			cancel()
		}
	}
	if n != 2 || !errors.Is(last, context.Canceled) {
		t.Fatalf("after cancel: %d tokens, error %v", n, last)
	}
	// Cancelled before the first block: nothing changed.
	s.Reset()
	if _, err := s.Forward(&cancelAfter{context.Background(), 1}, []int{5}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel before the first block: %v", err)
	}
	if s.Pos() != 0 {
		t.Fatalf("position %d after a call cancelled before any block", s.Pos())
	}
	// Cancelled between blocks: the session is broken until Reset.
	if _, err := s.Forward(&cancelAfter{context.Background(), 2}, []int{5}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel between blocks: %v", err)
	}
	if _, err := s.Forward(context.Background(), []int{5}); !errors.Is(err, ErrSessionInterrupted) {
		t.Fatalf("after an interrupted call: %v", err)
	}
	s.Reset()
	got, err := s.Forward(context.Background(), []int{5})
	if err != nil {
		t.Fatal(err)
	}
	cpu, err := Open(tm.path, WithKernels(simd.Generic))
	if err != nil {
		t.Fatal(err)
	}
	defer cpu.Close()
	cs, _ := cpu.NewSession()
	want, _ := cs.Forward(context.Background(), []int{5})
	if !slices.Equal(got, want) {
		t.Fatal("after Reset the logits differ from a fresh CPU session's")
	}
}

// Models the GPU path cannot run are refused with ErrBackendUnavailable,
// naming the reason; a machine without a driver gets the one-line error
// edge-agent prints.
func TestGPUUnavailable(t *testing.T) {
	b, _, err := jetsontest.Open(cudafake.Orin(), jetsontest.Reference, jetson.Auto)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	mm := writeRefMMFree(t, mustMMFree(t))
	if _, err := Open(mm, WithCUDABackend(b)); !errors.Is(err, ErrBackendUnavailable) || !strings.Contains(err.Error(), "hgrn-bit architecture runs only on the CPU") {
		t.Errorf("MatMul-free model on the GPU: %v", err)
	}
	c, _ := reference.SmallBitNetConfig("2B4T")
	ref, err := reference.RandomBitNet(c, 3)
	if err != nil {
		t.Fatal(err)
	}
	packT16 = true
	t16 := writeRefBitNet(t, ref, true)
	packT16 = false
	if _, err := Open(t16, WithCUDABackend(b)); !errors.Is(err, ErrBackendUnavailable) || !strings.Contains(err.Error(), "t1.6") {
		t.Errorf("t1.6 model on the GPU: %v", err)
	}
	if _, err := Open(gpuModels(t)[0].path, WithBackend(BackendCUDA)); err != nil {
		if !errors.Is(err, ErrBackendUnavailable) || !strings.HasPrefix(err.Error(), "backend cuda: not available") || strings.Contains(err.Error(), "\n") {
			t.Errorf("no driver: %q", err)
		}
	} else {
		t.Log("this machine has a CUDA driver and device: the model opened on the GPU")
	}
}

func mustMMFree(t *testing.T) *reference.MMFree {
	ref, err := reference.RandomMMFree(reference.SmallMMFreeConfig(), 11)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// Splitting each ternary matrix of a decoded token between the GPU and the
// CPU pool (WithGPUSplit) changes nothing in the results: both sides
// compute exact integer dot products, so every logit must be the unsplit
// GPU session's bit for bit, whatever the fraction, on integrated (mapped
// result, no copy) and discrete (CPU rows copied in) devices. The FFN width
// 161 gives odd row counts, so the CPU's share is odd.
func TestGPUSplitMatchesUnsplit(t *testing.T) {
	models := gpuModels(t)
	cases := []gpuTestModel{{"odd-ffn-161", oddFFNModel(t)}, models[1], models[3]}
	prompt := []int{1, 7, 3, 60, 12, 5, 0}
	const steps = 8
	for _, tm := range cases {
		for _, dev := range []cudafake.Device{cudafake.Orin(), cudafake.Discrete()} {
			t.Run(tm.name+"/"+dev.Name, func(t *testing.T) {
				m, _ := openGPU(t, tm.path, dev, jetsontest.Reference, jetson.Auto)
				if got := m.GPUSplit(); got != 1 {
					t.Errorf("unsplit model: GPUSplit %v, want 1", got)
				}
				want := runSession(t, m, prompt, steps)
				for _, frac := range []float64{0.5, 0.3, 1.0 / 3, 0.05, GPUSplitAuto} {
					m, f := openGPU(t, tm.path, dev, jetsontest.Reference, jetson.Auto, WithGPUSplit(frac))
					split := m.GPUSplit()
					if frac == GPUSplitAuto {
						t.Logf("measured: %s", m.GPUPolicy())
					}
					if frac != GPUSplitAuto && split != frac || !(split >= 0 && split <= 1) {
						t.Fatalf("WithGPUSplit(%v): GPUSplit %v", frac, split)
					}
					if p := m.GPUPolicy(); frac != GPUSplitAuto && !strings.Contains(p, "ternary rows split") ||
						frac == GPUSplitAuto && !strings.Contains(p, "calibrated on ") {
						t.Errorf("WithGPUSplit(%v): policy %q does not tell the split", frac, p)
					}
					allocs, host := f.Count("cuMemAlloc_v2"), f.Count("cuMemHostAlloc")
					dtoh, htod := f.Count("cuMemcpyDtoH_v2"), f.Count("cuMemcpyHtoD_v2")
					got := runSession(t, m, prompt, steps)
					// One device allocation, and on the integrated device
					// one mapped host vector: the session's; none per token.
					mapped := 0
					if m.gpu.split && dev.Attrs[cuda.AttrIntegrated] == 1 {
						mapped = 1
					}
					if n, h := f.Count("cuMemAlloc_v2")-allocs, f.Count("cuMemHostAlloc")-host; n != 1 || h != mapped {
						t.Errorf("fraction %v: %d device and %d mapped host allocations for a session and %d tokens, want 1 and %d", frac, n, h, len(prompt)+steps, mapped)
					}
					if m.gpu.split {
						// Each one-token call (decode, and the prompt's last
						// chunk of 1) copies its quantized activations out once
						// per input with a split matrix (up to 4 per layer); a
						// discrete device copies the CPU's rows in once per split
						// matrix (up to 7 per layer). A small matrix may have no
						// CPU rows at a small CPU share (auto on a loaded
						// machine): it is not split.
						oneToken := steps
						if len(prompt)%3 == 1 {
							oneToken++
						}
						inputs, matrices := 0, 0
						for i := range m.gpu.layers {
							L := &m.gpu.layers[i]
							for _, group := range [][]*gpuLinear{{&L.q, &L.k, &L.v}, {&L.o}, {&L.gate, &L.up}, {&L.down}} {
								split := 0
								for _, l := range group {
									if l.gpuRows < l.out {
										split++
									}
								}
								matrices += split
								if split > 0 {
									inputs++
								}
							}
						}
						if layers := len(m.gpu.layers); frac != GPUSplitAuto && (inputs != 4*layers || matrices != 7*layers) {
							t.Errorf("fraction %v: %d of %d inputs and %d of %d matrices split", frac, inputs, 4*layers, matrices, 7*layers)
						}
						wantDtoH := oneToken * inputs
						if n := f.Count("cuMemcpyDtoH_v2") - dtoh; n < wantDtoH {
							t.Errorf("fraction %v: %d copies to the host, want at least %d", frac, n, wantDtoH)
						}
						wantHtoD := 0
						if mapped == 0 {
							wantHtoD = oneToken * matrices
						}
						// Besides those, one copy of the embedding rows per call
						// and the RoPE tables.
						calls := steps + (len(prompt)+2)/3
						if n := f.Count("cuMemcpyHtoD_v2") - htod - calls - 2; n != wantHtoD {
							t.Errorf("fraction %v: %d copies of CPU rows to the device, want %d", frac, n, wantHtoD)
						}
					} else if frac != GPUSplitAuto {
						t.Fatalf("fraction %v split no matrix", frac)
					}
					for p := range want.prefill {
						if !slices.Equal(got.prefill[p], want.prefill[p]) {
							i := firstDiff(got.prefill[p], want.prefill[p])
							t.Fatalf("fraction %v, prefill position %d: logit %d = %v, unsplit %v", frac, p, i, got.prefill[p][i], want.prefill[p][i])
						}
					}
					for p := range want.decode {
						if !slices.Equal(got.decode[p], want.decode[p]) {
							i := firstDiff(got.decode[p], want.decode[p])
							t.Fatalf("fraction %v (GPU %v), decode step %d: logit %d = %v, unsplit %v", frac, split, p, i, got.decode[p][i], want.decode[p][i])
						}
					}
					if !slices.Equal(got.tokens, want.tokens) {
						t.Fatalf("fraction %v: greedy tokens %v, unsplit %v", frac, got.tokens, want.tokens)
					}
					if frac == 0.5 {
						checkDecodeEqualsPrefill(t, m, prompt, 1)
					}
					if err := m.Close(); err != nil {
						t.Fatal(err)
					}
					if a, r, h := f.Live(); a+r+h != 0 {
						t.Errorf("fraction %v, after Close: %d allocations, %d registrations, %d host allocations left", frac, a, r, h)
					}
				}
			})
		}
	}
}

// oddFFNModel is a small BitNet model whose gate and up projections have
// 161 rows.
func oddFFNModel(t *testing.T) string {
	t.Helper()
	c, err := reference.SmallBitNetConfig("2B4T")
	if err != nil {
		t.Fatal(err)
	}
	c.Dim, c.HeadDim, c.FFN, c.Vocab = 64, 16, 161, 80
	ref, err := reference.RandomBitNet(c, 41)
	if err != nil {
		t.Fatal(err)
	}
	return writeRefBitNet(t, ref, true)
}

// Fractions outside [0, 1] other than GPUSplitAuto are refused by Open;
// 0 and 1 split nothing, even with odd row counts.
func TestGPUSplitOption(t *testing.T) {
	path := oddFFNModel(t)
	b, _, err := jetsontest.Open(cudafake.Orin(), jetsontest.Reference, jetson.Auto)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, f := range []float64{-0.5, 1.5, -2, math.NaN(), math.Inf(1)} {
		if m, err := Open(path, WithGPUSplit(f), WithCUDABackend(b)); err == nil || !strings.Contains(err.Error(), "gpu split") {
			t.Errorf("WithGPUSplit(%v): %v", f, err)
			if m != nil {
				m.Close()
			}
		}
	}
	// 0 and 1 keep every row on the GPU.
	for _, f := range []float64{0, 1} {
		m, err := Open(path, WithGPUSplit(f), WithCUDABackend(b))
		if err != nil {
			t.Fatal(err)
		}
		if m.gpu.split || m.GPUSplit() != 1 || !strings.Contains(m.GPUPolicy(), "every row on the GPU") {
			t.Errorf("WithGPUSplit(%v): split %v, GPUSplit %v, policy %q", f, m.gpu.split, m.GPUSplit(), m.GPUPolicy())
		}
		m.Close()
	}
}

// The CUDA backend keeps its KV cache in f32: an f16 session is refused.
func TestGPUKVCacheF16Refused(t *testing.T) {
	m, _ := openGPU(t, gpuModels(t)[0].path, cudafake.Discrete(), jetsontest.Reference, jetson.Auto)
	if _, err := m.NewSession(WithKVCache(KVFloat16)); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "CUDA backend") {
		t.Fatalf("f16 KV cache on the CUDA backend: %v", err)
	}
	if _, err := m.NewSession(WithKVCache(KVFloat32)); err != nil {
		t.Fatal(err)
	}
}
