// Command devicecheck checks the jetson backend on a machine with an NVIDIA
// GPU: it compares every GPU kernel with the CPU reference (package simd) on
// random data, exactly for the integer kernels; places a model file with
// each memory policy (the device's automatic choice, a device copy, and
// in-place registration forced even on a discrete GPU, which is the Jetson
// code path); and prints the weight bandwidth of the ternary matrix-vector
// kernel under each policy.
//
//	devicecheck [-rows N] [-k N] [-iters N] [-timeout D] [-json FILE]
//
// Exit status: 0 every check passed; 1 a check failed; 2 bad usage; 3 no
// usable GPU here (no driver, no device, or a build without cgo).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unsafe"

	"github.com/speakez/barewire/jetson"
	"github.com/speakez/barewire/jetson/cuda"
	"github.com/speakez/barewire/jetson/telemetry"
	"github.com/speakez/barewire/sdk"
	"github.com/speakez/barewire/simd"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
	exitNoGPU = 3
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, cuda.Open))
}

type config struct {
	rows, k, iters, ntok int
	timeout              time.Duration
	jsonPath, dir        string
	model                string
	decode               int
}

// Check is one line of the report.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Bandwidth is one row of the policy table.
type Bandwidth struct {
	Override   string  `json:"override"`
	Placement  string  `json:"placement"`
	Model      string  `json:"model"`
	Case       string  `json:"case"`
	Bytes      int     `json:"weight_bytes"`
	Millis     float64 `json:"ms_per_pass"`
	GBps       float64 `json:"gbps"`
	Exact      bool    `json:"exact"`
	Reason     string  `json:"reason"`
	PlaceError string  `json:"place_error,omitempty"`
}

// ModelRun is one row of the model table: a synthetic BitNet model through
// the SDK on this GPU with one weight placement.
type ModelRun struct {
	Override   string  `json:"override"`
	Model      string  `json:"model"`
	Policy     string  `json:"policy"`
	PrefillTPS float64 `json:"prefill_tokens_per_s"`
	DecodeTPS  float64 `json:"decode_tokens_per_s"`
	MaxRelDiff float64 `json:"max_rel_diff_vs_cpu"`
	// CPUTierDiff is the same measure between two CPU kernel tiers (the
	// active one and the generic Go one) on the same model and prompt:
	// how far float summation order alone moves these logits.
	CPUTierDiff float64 `json:"cpu_tier_diff"`
	Tolerance   float64 `json:"tolerance"`
	SameTokens  bool    `json:"same_greedy_tokens"`
	Error       string  `json:"error,omitempty"`
}

// Report is the JSON summary.
type Report struct {
	Device       jetson.Capabilities `json:"device"`
	Driver       string              `json:"driver"`
	Checks       []Check             `json:"checks"`
	Bandwidth    []Bandwidth         `json:"bandwidth"`
	Models       []ModelRun          `json:"models"`
	SplitGPUFrac float64             `json:"split_gpu_fraction"`
	Telemetry    *telemetry.Snapshot `json:"telemetry,omitempty"`
	Seconds      float64             `json:"seconds"`
	Passed       bool                `json:"passed"`
}

type checker struct {
	cfg      config
	out      io.Writer
	b        *jetson.Backend
	rep      Report
	deadline time.Time
	rng      *rand.Rand
	bufs     []jetson.Buffer
}

func run(args []string, stdout, stderr io.Writer, open func() (cuda.Driver, error)) int {
	var cfg config
	fs := flag.NewFlagSet("devicecheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.rows, "rows", 32768, "rows of the bandwidth matrix (default: 64 MiB of weights)")
	fs.IntVar(&cfg.k, "k", 8192, "weights per row of the bandwidth matrix (multiple of 128)")
	fs.IntVar(&cfg.iters, "iters", 50, "timed passes per policy")
	fs.IntVar(&cfg.ntok, "ntok", 8, "tokens in the prefill case")
	fs.DurationVar(&cfg.timeout, "timeout", 4*time.Minute, "give up after this long")
	fs.StringVar(&cfg.jsonPath, "json", "", "also write a JSON report to this file")
	fs.StringVar(&cfg.dir, "dir", os.TempDir(), "directory for the temporary model file")
	fs.StringVar(&cfg.model, "model", sdk.SyntheticBitNetLarge, "synthetic model of the tokens/s runs ("+strings.Join(sdk.SyntheticNames(), ", ")+"; a BitNet one)")
	fs.IntVar(&cfg.decode, "decode", 32, "tokens decoded per placement in the model runs")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if !slices.Contains(sdk.SyntheticNames(), cfg.model) || cfg.decode <= 0 {
		fmt.Fprintf(stderr, "devicecheck: -model must be one of %v and -decode positive (got %q, %d)\n", sdk.SyntheticNames(), cfg.model, cfg.decode)
		return exitUsage
	}
	if cfg.rows <= 0 || cfg.k <= 0 || cfg.k%128 != 0 || cfg.iters <= 0 || cfg.ntok <= 0 {
		fmt.Fprintf(stderr, "devicecheck: -rows, -iters, -ntok must be positive and -k a positive multiple of 128 (got rows=%d k=%d iters=%d ntok=%d)\n",
			cfg.rows, cfg.k, cfg.iters, cfg.ntok)
		return exitUsage
	}
	start := time.Now()
	drv, err := open()
	if err == nil {
		var b *jetson.Backend
		b, err = jetson.Open(jetson.Options{Driver: drv})
		if err != nil {
			drv.Close()
		} else {
			defer func() { b.Close(); drv.Close() }()
			c := &checker{cfg: cfg, out: stdout, b: b, deadline: start.Add(cfg.timeout), rng: rand.New(rand.NewPCG(2026, 11))}
			return c.all(start)
		}
	}
	if errors.Is(err, cuda.ErrUnavailable) {
		fmt.Fprintf(stdout, "devicecheck: NO GPU: %v\n", err)
		fmt.Fprintf(stdout, "devicecheck: nothing was checked (exit status %d means no GPU)\n", exitNoGPU)
		return exitNoGPU
	}
	fmt.Fprintf(stdout, "devicecheck: FAIL: opening the GPU: %v\n", err)
	return exitFail
}

func (c *checker) all(start time.Time) int {
	caps := c.b.Capabilities()
	c.rep.Device, c.rep.Driver = caps, c.b.Driver().Name()
	fmt.Fprintf(c.out, "device %d: %s, sm_%d%d, %d SMs, %.1f GiB, driver %d.%d (%s)\n", caps.Device, caps.Name,
		caps.CCMajor, caps.CCMinor, caps.Multiprocessors, float64(caps.TotalMem)/(1<<30),
		caps.DriverVersion/1000, caps.DriverVersion%1000/10, c.rep.Driver)
	fmt.Fprintf(c.out, "attributes: integrated=%v can_map_host=%v host_register=%v read_only_register=%v pageable_access=%v uses_host_page_tables=%v host_ptr_for_registered=%v\n",
		caps.Integrated, caps.CanMapHostMemory, caps.HostRegisterSupported, caps.ReadOnlyHostRegister,
		caps.PageableMemoryAccess, caps.PageableUsesHostPageTables, caps.HostPointerForRegisteredMem)
	if log := c.b.JITLog(); log != "" {
		fmt.Fprintf(c.out, "JIT log:\n%s", log)
	}
	steps := []struct {
		name string
		f    func() error
	}{
		{"ternary matvec", c.checkTMatVec},
		{"ternary prefill", c.checkTMatMul},
		{"int8 matvec", c.checkI8},
		{"quantize", c.checkQuantize},
		{"float ops", c.checkFloat},
		{"layer ops", c.checkLayer},
		{"fused ops", c.checkFused},
		{"memory policies", c.checkPolicies},
		{"models", c.checkModels},
	}
	for _, s := range steps {
		if time.Now().After(c.deadline) {
			c.add(s.name, false, fmt.Sprintf("not run: over the %v time limit", c.cfg.timeout))
			continue
		}
		if err := s.f(); err != nil {
			c.add(s.name, false, err.Error())
		}
		c.freeAll()
	}
	if t, err := telemetry.Open("/", caps.Device); err == nil {
		if s, err := t.Snapshot(); err == nil {
			c.rep.Telemetry = &s
			fmt.Fprintf(c.out, "telemetry (%s): load %.0f%%, clock %d MHz, power %.0f mW, missing %v\n",
				s.Source, s.GPULoadPercent, s.GPUFreqHz/1e6, s.PowerMilliWatts, s.Missing)
		}
		t.Close()
	} else {
		fmt.Fprintf(c.out, "%v\n", err)
	}
	c.printTable()
	c.rep.Passed = true
	for _, ch := range c.rep.Checks {
		c.rep.Passed = c.rep.Passed && ch.OK
	}
	c.rep.Seconds = time.Since(start).Seconds()
	if c.cfg.jsonPath != "" {
		if b, err := json.MarshalIndent(c.rep, "", "  "); err == nil {
			if err := os.WriteFile(c.cfg.jsonPath, b, 0o644); err != nil {
				fmt.Fprintf(c.out, "devicecheck: writing %s: %v\n", c.cfg.jsonPath, err)
			}
		}
	}
	if !c.rep.Passed {
		fmt.Fprintf(c.out, "devicecheck: FAIL (%.1fs)\n", c.rep.Seconds)
		return exitFail
	}
	fmt.Fprintf(c.out, "devicecheck: PASS (%.1fs)\n", c.rep.Seconds)
	return exitOK
}

func (c *checker) add(name string, ok bool, detail string) {
	c.rep.Checks = append(c.rep.Checks, Check{Name: name, OK: ok, Detail: detail})
	word := "ok  "
	if !ok {
		word = "FAIL"
	}
	fmt.Fprintf(c.out, "%s %-34s %s\n", word, name, detail)
}

// Device memory helpers.

func (c *checker) alloc(n int) (cuda.DevicePtr, error) {
	buf, err := c.b.Alloc(max(n, 4))
	if err != nil {
		return 0, err
	}
	c.bufs = append(c.bufs, buf)
	return buf.Ptr, nil
}

func (c *checker) upload(data []byte) (cuda.DevicePtr, error) {
	p, err := c.alloc(len(data))
	if err != nil {
		return 0, err
	}
	return p, c.b.Driver().MemcpyHtoD(p, data)
}

func (c *checker) download(dst []byte, p cuda.DevicePtr) error {
	if err := c.b.Synchronize(); err != nil {
		return err
	}
	return c.b.Driver().MemcpyDtoH(dst, p)
}

func (c *checker) freeAll() {
	for _, b := range c.bufs {
		c.b.Free(b)
	}
	c.bufs = c.bufs[:0]
}

func bytesOf[T any](s []T) []byte {
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(z)))
}

// Random data.

func (c *checker) ternary(rows, k, stride int) []byte {
	w := make([]byte, rows*stride)
	row := make([]int8, k)
	for r := 0; r < rows; r++ {
		for i := range row {
			row[i] = int8(c.rng.IntN(3) - 1)
		}
		simd.PackI2B128(w[r*stride:], row)
	}
	return w
}

// ternaryFast fills n bytes with random valid i2b128 codes (each 2-bit
// field 0, 1 or 2), four weights per random draw; only for k a multiple of
// 128, where no field is padding.
func (c *checker) ternaryFast(n int) []byte {
	var valid []byte
	for b := 0; b < 256; b++ {
		if b&3 != 3 && b>>2&3 != 3 && b>>4&3 != 3 && b>>6 != 3 {
			valid = append(valid, byte(b))
		}
	}
	w := make([]byte, n)
	for i := range w {
		w[i] = valid[c.rng.IntN(len(valid))]
	}
	return w
}

// activations: k random int8 values padded to whole 128-blocks, extremes
// included.
func (c *checker) activations(k int) ([]int8, int32) {
	x := make([]int8, simd.PaddedLen(k, 128))
	for i := 0; i < k; i++ {
		switch c.rng.IntN(16) {
		case 0:
			x[i] = -128
		case 1:
			x[i] = 127
		default:
			x[i] = int8(c.rng.IntN(256) - 128)
		}
	}
	return x, simd.SumInt8(x)
}

// Shapes that are not multiples of the kernels' tiles, then model sizes.
var matvecShapes = [][2]int{{1, 128}, {3, 100}, {37, 300}, {129, 1000}, {2560, 2560}, {6912, 2560}, {2560, 6912}}

func (c *checker) checkTMatVec() error {
	for _, sh := range matvecShapes {
		rows, k := sh[0], sh[1]
		stride := simd.RowBytesI2B128(k)
		w := c.ternary(rows, k, stride)
		x, xsum := c.activations(k)
		want := make([]int32, rows)
		simd.GenericMatVecT2(want, w, stride, x, xsum)
		dW, err := c.upload(w)
		if err != nil {
			return err
		}
		dX, err := c.upload(bytesOf(x))
		if err != nil {
			return err
		}
		dD, err := c.alloc(4 * rows)
		if err != nil {
			return err
		}
		if err := c.b.TMatVec(dD, dW, stride, rows, dX, len(x)/128, xsum); err != nil {
			return err
		}
		got := make([]int32, rows)
		if err := c.download(bytesOf(got), dD); err != nil {
			return err
		}
		c.add(fmt.Sprintf("TMatVec %dx%d", rows, k), slices.Equal(got, want), firstDiff(got, want))
	}
	return nil
}

func (c *checker) checkTMatMul() error {
	for _, sh := range [][3]int{{37, 300, 1}, {37, 300, 3}, {129, 1000, 4}, {2560, 2560, 9}} {
		rows, k, ntok := sh[0], sh[1], sh[2]
		stride := simd.RowBytesI2B128(k)
		ldx := simd.PaddedLen(k, 128)
		ldd := rows + 5
		w := c.ternary(rows, k, stride)
		x := make([]int8, ntok*ldx)
		xsum := make([]int32, ntok)
		for t := 0; t < ntok; t++ {
			xt, s := c.activations(k)
			copy(x[t*ldx:], xt)
			xsum[t] = s
		}
		want := make([]int32, ntok*ldd)
		simd.GenericMatMulT2(want, ldd, w, stride, rows, x, ldx, ldx, xsum, ntok)
		dW, err1 := c.upload(w)
		dX, err2 := c.upload(bytesOf(x))
		dS, err3 := c.upload(bytesOf(xsum))
		dD, err4 := c.upload(make([]byte, 4*len(want)))
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return err
		}
		if err := c.b.TMatMul(dD, ldd, dW, stride, rows, dX, ldx, ldx/128, dS, ntok); err != nil {
			return err
		}
		got := make([]int32, len(want))
		if err := c.download(bytesOf(got), dD); err != nil {
			return err
		}
		c.add(fmt.Sprintf("TMatMul %dx%d, %d tokens", rows, k, ntok), slices.Equal(got, want), firstDiff(got, want))
	}
	return nil
}

func (c *checker) checkI8() error {
	for _, sh := range [][2]int{{1, 4}, {9, 70}, {1000, 2560}} {
		rows, k := sh[0], sh[1]
		stride := (k + 3) &^ 3
		w := make([]int8, rows*stride)
		for i := range w {
			w[i] = int8(c.rng.IntN(256) - 128)
		}
		x, _ := c.activations(k)
		x = x[:k]
		want := make([]int32, rows)
		simd.GenericMatVecI8(want, w, stride, x)
		dW, err1 := c.upload(bytesOf(w))
		dX, err2 := c.upload(bytesOf(x))
		dD, err3 := c.alloc(4 * rows)
		if err := errors.Join(err1, err2, err3); err != nil {
			return err
		}
		if err := c.b.I8MatVec(dD, dW, stride, rows, dX, k); err != nil {
			return err
		}
		got := make([]int32, rows)
		if err := c.download(bytesOf(got), dD); err != nil {
			return err
		}
		c.add(fmt.Sprintf("I8MatVec %dx%d", rows, k), slices.Equal(got, want), firstDiff(got, want))
	}
	return nil
}

// checkFused compares each fused kernel with the launches it replaces, bit
// for bit: TMatVecDequant (per-tensor and per-row scales, stored and added
// to a residual) with TMatVec then Dequantize, and RMSNormQuantize with
// RMSNorm then Quantize (rows longer than one pass of the block, several
// tokens, zero padding).
func (c *checker) checkFused() error {
	const rows, k = 2563, 2560
	stride := simd.RowBytesI2B128(k)
	w := c.ternary(rows, k, stride)
	x, xsum := c.activations(k)
	scales := make([]float32, rows)
	for i := range scales {
		scales[i] = float32(0.5 + c.rng.Float64())
	}
	h := make([]float32, rows)
	for i := range h {
		h[i] = float32(c.rng.NormFloat64())
	}
	xscale := []float32{127 / 2.7}
	dW, err1 := c.upload(w)
	dX, err2 := c.upload(bytesOf(x))
	dSc, err3 := c.upload(bytesOf(scales))
	dXS, err4 := c.upload(bytesOf(xscale))
	dSum, err5 := c.upload(bytesOf([]int32{xsum}))
	dAcc, err6 := c.alloc(4 * rows)
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		return err
	}
	for _, v := range []struct {
		nscale     int
		accumulate bool
	}{{1, false}, {rows, true}} {
		dA, err1 := c.upload(bytesOf(h))
		dB, err2 := c.upload(bytesOf(h))
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		if err := errors.Join(
			c.b.TMatVecDequant(dA, dW, stride, rows, dX, len(x)/128, dSc, v.nscale, dXS, dSum, v.accumulate),
			c.b.TMatVec(dAcc, dW, stride, rows, dX, len(x)/128, 0),
			c.b.Dequantize(dB, rows, dAcc, rows, dSc, v.nscale, dXS, dSum, true, rows, 1, v.accumulate)); err != nil {
			return err
		}
		got, want := make([]float32, rows), make([]float32, rows)
		if err := errors.Join(c.download(bytesOf(got), dA), c.download(bytesOf(want), dB)); err != nil {
			return err
		}
		c.add(fmt.Sprintf("TMatVecDequant %dx%d, %d scales, accumulate %v", rows, k, v.nscale, v.accumulate),
			slices.EqualFunc(got, want, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }),
			"bit for bit with TMatVec + Dequantize")
	}

	const ntok, n = 3, 6912
	ldq := simd.PaddedLen(n, 128) + 128
	xf := make([]float32, ntok*n)
	for i := range xf {
		xf[i] = float32(c.rng.NormFloat64() * 3)
	}
	g := make([]float32, n)
	for i := range g {
		g[i] = float32(0.5 + c.rng.Float64())
	}
	dXF, err1 := c.upload(bytesOf(xf))
	dG, err2 := c.upload(bytesOf(g))
	var d [2]struct{ y, q, scale, sum cuda.DevicePtr }
	errs := []error{err1, err2}
	for i := range d {
		var e1, e2, e3, e4 error
		d[i].y, e1 = c.alloc(4 * ntok * n)
		d[i].q, e2 = c.alloc(ntok * ldq)
		d[i].scale, e3 = c.alloc(4 * ntok)
		d[i].sum, e4 = c.alloc(4 * ntok)
		errs = append(errs, e1, e2, e3, e4)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	const eps = 1e-5
	if err := errors.Join(
		c.b.RMSNormQuantize(d[0].q, ldq, d[0].scale, d[0].sum, d[0].y, dXF, dG, n, n, ntok, eps),
		c.b.RMSNorm(d[1].y, dXF, dG, n, n, ntok, eps),
		c.b.Quantize(d[1].q, ldq, d[1].scale, d[1].sum, d[1].y, n, n, ntok)); err != nil {
		return err
	}
	var out [2][]byte
	for i := range d {
		y, q := make([]byte, 4*ntok*n), make([]byte, ntok*ldq)
		sc, sum := make([]byte, 4*ntok), make([]byte, 4*ntok)
		if err := errors.Join(c.download(y, d[i].y), c.download(q, d[i].q), c.download(sc, d[i].scale), c.download(sum, d[i].sum)); err != nil {
			return err
		}
		out[i] = slices.Concat(y, q, sc, sum)
	}
	c.add(fmt.Sprintf("RMSNormQuantize %d tokens of %d", ntok, n), slices.Equal(out[0], out[1]), "bit for bit with RMSNorm + Quantize")
	return nil
}

func (c *checker) checkQuantize() error {
	const ntok, n = 5, 2560
	ldq := simd.PaddedLen(n, 128) + 128
	x := make([]float32, ntok*n)
	for i := range x {
		x[i] = float32(c.rng.NormFloat64() * 2)
	}
	clear(x[3*n : 4*n]) // an all-zero token: scale 1
	x[4*n+7] = float32(math.NaN())
	x[4*n+8] = float32(math.Inf(1))
	dX, err1 := c.upload(bytesOf(x))
	dQ, err2 := c.alloc(ntok * ldq)
	dScale, err3 := c.alloc(4 * ntok)
	dSum, err4 := c.alloc(4 * ntok)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return err
	}
	if err := c.b.Quantize(dQ, ldq, dScale, dSum, dX, n, n, ntok); err != nil {
		return err
	}
	q := make([]int8, ntok*ldq)
	scale := make([]float32, ntok)
	sum := make([]int32, ntok)
	if err := errors.Join(c.download(bytesOf(q), dQ), c.download(bytesOf(scale), dScale), c.download(bytesOf(sum), dSum)); err != nil {
		return err
	}
	ok, detail := true, "exact"
	for t := 0; t < ntok && ok; t++ {
		wq := make([]int8, ldq)
		ws, wsum := simd.QuantizeActivations(wq, x[t*n:(t+1)*n])
		if !slices.Equal(q[t*ldq:(t+1)*ldq], wq) || math.Float32bits(scale[t]) != math.Float32bits(ws) || sum[t] != wsum {
			ok, detail = false, fmt.Sprintf("token %d: scale %v/%v sum %d/%d", t, scale[t], ws, sum[t], wsum)
		}
	}
	c.add("Quantize (bit-exact vs simd)", ok, detail)
	return nil
}

// maxRelErr is max |a-b| / max(1, |b|).
func maxRelErr(got, want []float32) float64 {
	var m float64
	for i := range want {
		d := math.Abs(float64(got[i])-float64(want[i])) / math.Max(1, math.Abs(float64(want[i])))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		m = math.Max(m, d)
	}
	return m
}

// Float kernels use float32 sums in a different order and ex2.approx
// (relative error 2^-22), so they are compared within a tolerance.
const floatTol = 2e-5

func (c *checker) checkFloat() error {
	const heads, hd, ntok = 20, 128, 3
	const n = heads * hd
	x := make([]float32, ntok*n)
	g := make([]float32, n)
	for i := range x {
		x[i] = float32(c.rng.NormFloat64() * 3)
	}
	for i := range g {
		g[i] = float32(c.rng.Float64() + 0.5)
	}
	cs, sn := make([]float32, ntok*hd/2), make([]float32, ntok*hd/2)
	for t := 0; t < ntok; t++ {
		simd.RoPETable(cs[t*hd/2:(t+1)*hd/2], sn[t*hd/2:(t+1)*hd/2], 1000*t+17, 500000)
	}
	dX, err1 := c.upload(bytesOf(x))
	dG, err2 := c.upload(bytesOf(g))
	dC, err3 := c.upload(bytesOf(cs))
	dS, err4 := c.upload(bytesOf(sn))
	dY, err5 := c.alloc(4 * len(x))
	dZ, err6 := c.alloc(4 * len(x))
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		return err
	}
	got := make([]float32, len(x))
	want := make([]float32, len(x))
	check := func(name string, dev cuda.DevicePtr, ref func()) error {
		if err := c.download(bytesOf(got), dev); err != nil {
			return err
		}
		ref()
		e := maxRelErr(got, want)
		c.add(name, e <= floatTol, fmt.Sprintf("max relative error %.2g (limit %.0g)", e, floatTol))
		return nil
	}
	if err := c.b.RMSNorm(dY, dX, dG, n, n, ntok, 1e-6); err != nil {
		return err
	}
	if err := check("RMSNorm", dY, func() {
		for t := 0; t < ntok; t++ {
			simd.RMSNorm(want[t*n:(t+1)*n], x[t*n:(t+1)*n], g, 1e-6)
		}
	}); err != nil {
		return err
	}
	ref := slices.Clone(got) // continue from the GPU's own output so errors do not compound
	dRef, err := c.upload(bytesOf(ref))
	if err != nil {
		return err
	}
	if err := c.b.RoPE(dRef, n, heads, hd, dC, dS, hd/2, ntok); err != nil {
		return err
	}
	if err := check("RoPE rotate-half", dRef, func() {
		copy(want, ref)
		for t := 0; t < ntok; t++ {
			for h := 0; h < heads; h++ {
				o := t*n + h*hd
				simd.RoPERotateHalf(want[o:o+hd], cs[t*hd/2:(t+1)*hd/2], sn[t*hd/2:(t+1)*hd/2])
			}
		}
	}); err != nil {
		return err
	}
	if err := c.b.Driver().MemcpyHtoD(dZ, bytesOf(x)); err != nil {
		return err
	}
	if err := c.b.Softmax(dZ, n, n, ntok); err != nil {
		return err
	}
	if err := check("Softmax", dZ, func() {
		copy(want, x)
		for t := 0; t < ntok; t++ {
			simd.Softmax(want[t*n : (t+1)*n])
		}
	}); err != nil {
		return err
	}
	rot := make([]float32, len(x)) // the GPU's rotated values, input of the gate product
	if err := c.download(bytesOf(rot), dRef); err != nil {
		return err
	}
	for _, op := range []struct {
		name string
		gpu  func() error
		cpu  func()
	}{
		{"SiLU", func() error { return c.b.SiLU(dY, dX, len(x)) }, func() { simd.SiLU(want, x) }},
		{"ReLU²", func() error { return c.b.ReLU2(dY, dX, len(x)) }, func() { simd.ReLUSquared(want, x) }},
		{"Mul (gate)", func() error { return c.b.Mul(dY, dX, dRef, len(x)) }, func() { simd.Mul(want, x, rot) }},
	} {
		if err := op.gpu(); err != nil {
			return err
		}
		if err := check(op.name, dY, op.cpu); err != nil {
			return err
		}
	}
	return nil
}

// checkLayer checks the kernels a whole BitNet layer adds (sdk's CUDA
// backend): dequantization with the residual add and the f16 head are exact,
// the gated FFN and attention within tolerances.
func (c *checker) checkLayer() error {
	const rows, ntok = 2560, 3
	acc := make([]int32, ntok*rows)
	for i := range acc {
		acc[i] = int32(c.rng.IntN(1<<20) - 1<<19)
	}
	xscale, xsum, scale := []float32{127 / 3.1, 127 / 0.2, 9}, []int32{-400, 7, 0}, []float32{0.0123}
	h := make([]float32, ntok*rows)
	for i := range h {
		h[i] = float32(c.rng.NormFloat64())
	}
	dAcc, err1 := c.upload(bytesOf(acc))
	dXS, err2 := c.upload(bytesOf(xscale))
	dSum, err3 := c.upload(bytesOf(xsum))
	dSc, err4 := c.upload(bytesOf(scale))
	dH, err5 := c.upload(bytesOf(h))
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return err
	}
	if err := c.b.Dequantize(dH, rows, dAcc, rows, dSc, 1, dXS, dSum, true, rows, ntok, true); err != nil {
		return err
	}
	got := make([]float32, ntok*rows)
	if err := c.download(bytesOf(got), dH); err != nil {
		return err
	}
	want, tmp, dots := slices.Clone(h), make([]float32, rows), make([]int32, rows)
	exact := true
	for t := 0; t < ntok; t++ {
		for r := range dots {
			dots[r] = acc[t*rows+r] - xsum[t]
		}
		simd.Dequantize(tmp, dots, scale, xscale[t])
		for r := range tmp {
			want[t*rows+r] += tmp[r]
			exact = exact && math.Float32bits(got[t*rows+r]) == math.Float32bits(want[t*rows+r])
		}
	}
	c.add("Dequantize + residual", exact, "bit for bit with simd.Dequantize")

	const n = 6912
	g, u := make([]float32, n), make([]float32, n)
	for i := range g {
		g[i], u[i] = float32(c.rng.NormFloat64()*2), float32(c.rng.NormFloat64())
	}
	dG, err1 := c.upload(bytesOf(g))
	dU, err2 := c.upload(bytesOf(u))
	dY, err3 := c.alloc(4 * n)
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	gy, wy := make([]float32, n), make([]float32, n)
	for _, silu := range []bool{false, true} {
		if err := c.b.GLU(dY, dG, dU, n, silu); err != nil {
			return err
		}
		if err := c.download(bytesOf(gy), dY); err != nil {
			return err
		}
		if silu {
			simd.SiLUGate(wy, g, u)
			e := maxRelErr(gy, wy)
			c.add("GLU SiLU", e <= floatTol, fmt.Sprintf("max relative error %.2g (limit %.0g)", e, floatTol))
		} else {
			simd.ReLUSquaredGate(wy, g, u)
			c.add("GLU ReLU²", slices.Equal(gy, wy), "bit for bit with simd.ReLUSquaredGate")
		}
	}

	// An f16 head of 4096 rows × 2560, summed in simd's generic order.
	const hr, hk = 4096, 2560
	wh := make([]uint16, hr*hk)
	for i := range wh {
		// Finite values of either sign, magnitudes 2^-7 .. 1.
		wh[i] = uint16(c.rng.IntN(2))<<15 | uint16(8+c.rng.IntN(7))<<10 | uint16(c.rng.IntN(1024))
	}
	x := make([]float32, hk)
	for i := range x {
		x[i] = float32(c.rng.NormFloat64())
	}
	dW, err1 := c.upload(bytesOf(wh))
	dX, err2 := c.upload(bytesOf(x))
	dL, err3 := c.alloc(4 * hr)
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	if err := c.b.FMatVec(dL, dW, jetson.F16, hk, hr, dX, hk); err != nil {
		return err
	}
	gl, wl := make([]float32, hr), make([]float32, hr)
	if err := c.download(bytesOf(gl), dL); err != nil {
		return err
	}
	simd.GenericMatVecF16(wl, wh, hk, x)
	c.add("f16 head (FMatVec)", slices.Equal(gl, wl), "bit for bit with simd.GenericMatVecF16")

	// Attention: 2B4T's heads (20 on 5 KV heads of 128) over 300 cached
	// positions, a chunk of 3 tokens, against float64.
	const heads, kvh, hd, pos0, nt = 20, 5, 128, 300, 3
	const qd, kvd, npos = heads * hd, kvh * hd, pos0 + nt
	q := make([]float32, nt*qd)
	k, v := make([]float32, npos*kvd), make([]float32, npos*kvd)
	for _, a := range [][]float32{q, k, v} {
		for i := range a {
			a[i] = float32(c.rng.NormFloat64())
		}
	}
	dQ, err1 := c.upload(bytesOf(q))
	dK, err2 := c.upload(bytesOf(k))
	dV, err3 := c.upload(bytesOf(v))
	dO, err4 := c.alloc(4 * nt * qd)
	dS, err5 := c.alloc(4 * nt * heads * npos)
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return err
	}
	sc := float32(1 / math.Sqrt(hd))
	if err := c.b.Attention(dO, qd, dQ, qd, dK, dV, kvd, heads, kvh, hd, pos0, nt, sc, dS, npos); err != nil {
		return err
	}
	ga := make([]float32, nt*qd)
	if err := c.download(bytesOf(ga), dO); err != nil {
		return err
	}
	wa := make([]float32, nt*qd)
	for t := 0; t < nt; t++ {
		np := pos0 + t + 1
		for hh := 0; hh < heads; hh++ {
			kv := hh / (heads / kvh)
			w := make([]float64, np)
			mx, sum := math.Inf(-1), 0.0
			for p := range w {
				for i := 0; i < hd; i++ {
					w[p] += float64(q[t*qd+hh*hd+i]) * float64(k[p*kvd+kv*hd+i])
				}
				w[p] *= float64(sc)
				mx = math.Max(mx, w[p])
			}
			for p := range w {
				w[p] = math.Exp(w[p] - mx)
				sum += w[p]
			}
			for i := 0; i < hd; i++ {
				var o float64
				for p := range w {
					o += w[p] / sum * float64(v[p*kvd+kv*hd+i])
				}
				wa[t*qd+hh*hd+i] = float32(o)
			}
		}
	}
	e := maxRelErr(ga, wa)
	c.add("attention (GQA, 303 positions)", e <= 1e-4, fmt.Sprintf("max error %.2g (limit 1e-4)", e))
	return nil
}

func firstDiff(got, want []int32) string {
	for i := range want {
		if got[i] != want[i] {
			return fmt.Sprintf("first difference at %d: got %d want %d", i, got[i], want[i])
		}
	}
	return "exact"
}

// checkPolicies writes a model file, places it with each override and
// measures the matrix-vector bandwidth from where it landed.
func (c *checker) checkPolicies() error {
	rows, k := c.cfg.rows, c.cfg.k
	stride := simd.RowBytesI2B128(k)
	w := c.ternaryFast(rows * stride)
	path := filepath.Join(c.cfg.dir, fmt.Sprintf("devicecheck-%d.bwm", os.Getpid()))
	if err := os.WriteFile(path, w, 0o600); err != nil {
		return err
	}
	defer os.Remove(path)
	m, err := jetson.MapFile(path)
	if err != nil {
		return err
	}
	defer m.Close()
	x, xsum := c.activations(k)
	want := make([]int32, rows)
	simd.GenericMatVecT2(want, w, stride, x, xsum)
	ntok := c.cfg.ntok
	xs := make([]int8, ntok*len(x))
	sums := make([]int32, ntok)
	for t := 0; t < ntok; t++ {
		xt, s := c.activations(k)
		copy(xs[t*len(x):], xt)
		sums[t] = s
	}
	wantMM := make([]int32, ntok*rows)
	simd.GenericMatMulT2(wantMM, rows, w, stride, rows, xs, len(x), len(x), sums, ntok)

	dX, err1 := c.upload(bytesOf(x))
	dXs, err2 := c.upload(bytesOf(xs))
	dS, err3 := c.upload(bytesOf(sums))
	dD, err4 := c.alloc(4 * rows)
	dMM, err5 := c.alloc(4 * ntok * rows)
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return err
	}
	got := make([]int32, rows)
	gotMM := make([]int32, ntok*rows)
	blocks := len(x) / 128
	for _, o := range []jetson.Override{jetson.Auto, jetson.ForceDeviceCopy, jetson.ForceInPlace} {
		if time.Now().After(c.deadline) {
			c.add("policy "+o.String(), false, "not run: over the time limit")
			continue
		}
		wt, err := c.b.PlaceWeightsWith(m, o)
		if err != nil {
			c.rep.Bandwidth = append(c.rep.Bandwidth, Bandwidth{Override: o.String(), PlaceError: err.Error()})
			c.add("policy "+o.String(), false, err.Error())
			continue
		}
		pol := wt.Policy
		decode := func() error { return c.b.TMatVec(dD, wt.Ptr, stride, rows, dX, blocks, xsum) }
		prefill := func() error {
			return c.b.TMatMul(dMM, rows, wt.Ptr, stride, rows, dXs, len(x), blocks, dS, ntok)
		}
		for _, cs := range []struct {
			name string
			f    func() error
			out  []int32
			want []int32
			dev  cuda.DevicePtr
		}{{"decode", decode, got, want, dD}, {fmt.Sprintf("prefill %d tok", ntok), prefill, gotMM, wantMM, dMM}} {
			ms, err := c.time(cs.f)
			if err == nil {
				err = c.download(bytesOf(cs.out), cs.dev)
			}
			row := Bandwidth{Override: o.String(), Placement: pol.Placement.String(), Model: pol.Model.String(),
				Case: cs.name, Bytes: len(w), Reason: pol.Reason}
			if err != nil {
				row.PlaceError = err.Error()
				c.add(fmt.Sprintf("policy %s %s", o, cs.name), false, err.Error())
			} else {
				row.Millis, row.GBps, row.Exact = ms, float64(len(w))/(ms*1e-3)/1e9, slices.Equal(cs.out, cs.want)
				c.add(fmt.Sprintf("policy %s %s (%s)", o, cs.name, pol.Placement), row.Exact, firstDiff(cs.out, cs.want))
			}
			c.rep.Bandwidth = append(c.rep.Bandwidth, row)
		}
		if o == jetson.Auto {
			c.checkSplit(wt, w, stride, rows, k, x, xsum, want)
		}
		if err := wt.Release(); err != nil {
			c.add("release "+o.String(), false, err.Error())
		}
	}
	return nil
}

// time runs f once to warm up, then iters times, and returns ms per pass.
func (c *checker) time(f func() error) (float64, error) {
	if err := f(); err != nil {
		return 0, err
	}
	if err := c.b.Synchronize(); err != nil {
		return 0, err
	}
	t0 := time.Now()
	for i := 0; i < c.cfg.iters; i++ {
		if err := f(); err != nil {
			return 0, err
		}
	}
	if err := c.b.Synchronize(); err != nil {
		return 0, err
	}
	return float64(time.Since(t0).Microseconds()) / 1e3 / float64(c.cfg.iters), nil
}

// checkSplit runs the TensorParallel split on placed weights; the CPU
// share reads the same bytes from host memory (w).
func (c *checker) checkSplit(wt *jetson.Weights, w []byte, stride, rows, k int, x []int8, xsum int32, want []int32) {
	pool := simd.NewPool(simd.DefaultThreads())
	defer pool.Close()
	impl := simd.Active()
	cpu := func(dst []int32, r0, r1 int, x []int8, xsum int32) {
		pool.MatVecT2(impl, dst, w[r0*stride:], stride, x, xsum)
	}
	tp, err := c.b.NewTensorParallel(wt, 0, stride, rows, k, cpu)
	if err != nil {
		c.add("TensorParallel", false, err.Error())
		return
	}
	defer tp.Close()
	cal, err := tp.Calibrate(x, xsum, 3)
	if err != nil {
		c.add("TensorParallel", false, err.Error())
		return
	}
	c.rep.SplitGPUFrac = cal.GPUFraction
	got, err := tp.MatVec(x, xsum)
	if err != nil {
		c.add("TensorParallel", false, err.Error())
		return
	}
	c.add(fmt.Sprintf("TensorParallel (%s, %s)", wt.Policy.Placement, impl.Tier), slices.Equal(got, want),
		fmt.Sprintf("GPU %v, CPU %v, split %v, GPU streamed %v per pass -> GPU share %.2f (%d rows, mapped result %v); %s",
			cal.GPU, cal.CPU, cal.Split, cal.Stream, cal.GPUFraction, tp.GPURows(), tp.Mapped(), firstDiff(got, want)))
	// The split itself, at the proportional share, whatever was chosen.
	tp.SetGPUFraction(float64(cal.CPU) / float64(cal.GPU+cal.CPU))
	if tp.GPURows() == rows {
		tp.SetGPUFraction(0.5)
	}
	got, err = tp.MatVec(x, xsum)
	if err != nil {
		c.add("TensorParallel split", false, err.Error())
		return
	}
	c.add("TensorParallel split", slices.Equal(got, want), fmt.Sprintf("%d of %d rows on the GPU; %s", tp.GPURows(), rows, firstDiff(got, want)))
}

func (c *checker) printTable() {
	if len(c.rep.Bandwidth) == 0 {
		return
	}
	fmt.Fprintln(c.out)
	tw := tabwriter.NewWriter(c.out, 2, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "override\tplacement\tmodel\tcase\tweight MiB\tms/pass\tGB/s\texact")
	for _, r := range c.rep.Bandwidth {
		if r.PlaceError != "" && r.Millis == 0 {
			fmt.Fprintf(tw, "%s\t%s\t\t%s\t\t\t\tFAILED: %s\n", r.Override, r.Placement, r.Case, firstLine(r.PlaceError))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f\t%.3f\t%.1f\t%v\n", r.Override, r.Placement, r.Model, r.Case,
			float64(r.Bytes)/(1<<20), r.Millis, r.GBps, r.Exact)
	}
	tw.Flush()
	for _, r := range c.rep.Bandwidth {
		if r.Case == "decode" {
			fmt.Fprintf(c.out, "%s: %s\n", r.Override, r.Reason)
		}
	}
	fmt.Fprintln(c.out)
	if len(c.rep.Models) == 0 {
		return
	}
	tw = tabwriter.NewWriter(c.out, 2, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "override\tmodel\tprefill tokens/s\tdecode tokens/s\tvs CPU (CPU tiers)\tplacement")
	for _, r := range c.rep.Models {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t\t\tFAILED: %s\t\n", r.Override, r.Model, firstLine(r.Error))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%.1e (%.1e), tokens %v\t%s\n", r.Override, r.Model, r.PrefillTPS, r.DecodeTPS, r.MaxRelDiff, r.CPUTierDiff, r.SameTokens, firstLine(r.Policy))
	}
	tw.Flush()
	fmt.Fprintln(c.out)
}

// modelPrompt is the prompt of the model runs.
const modelPrompt = 16

// modelTolerance is the least tolerance of the model runs' logits.
const modelTolerance = 1e-3

// checkModels runs a synthetic BitNet model through the SDK on this GPU
// (sdk.WithCUDABackend) under each weight placement: its logits after the
// prompt against the CPU's, the greedy tokens of the decode against the
// CPU's, and prefill and decode tokens/s.
//
// The integer parts of every kernel are exact, but the float parts (norms,
// attention, dequantization) are summed in other orders, and in a model
// with random weights a difference in the last bit of an activation can
// move its int8 rounding at the next layer and grow from layer to layer:
// the CPU's own tiers disagree on bitnet-large's logits by more than 1 (in
// units of max(1, |logit|)). So the logits pass when they are within
// max(modelTolerance, 2 × that CPU disagreement) of the active tier's, the
// disagreement measured here on the same prompt between the active tier and
// the generic Go kernels; and the greedy tokens must equal one of the two
// CPU runs'.
func (c *checker) checkModels() error {
	path := filepath.Join(c.cfg.dir, fmt.Sprintf("devicecheck-%d-%s.bwm", os.Getpid(), c.cfg.model))
	if err := sdk.WriteSynthetic(path, c.cfg.model, sdk.SyntheticOptions{}); err != nil {
		return err
	}
	defer os.Remove(path)
	prompt := make([]int, modelPrompt)
	for i := range prompt {
		prompt[i] = 1 + i*7%200
	}
	ctx := context.Background()
	// greedy runs prompt, then decode tokens, on m: the logits after the
	// prompt, the tokens, and the two times.
	greedy := func(m *sdk.Model) (first []float32, toks []int, pre, dec time.Duration, err error) {
		s, err := m.NewSession(sdk.WithContextLength(modelPrompt + c.cfg.decode + 1))
		if err != nil {
			return nil, nil, 0, 0, err
		}
		t0 := time.Now()
		l, err := s.Forward(ctx, prompt)
		if err != nil {
			return nil, nil, 0, 0, err
		}
		pre = time.Since(t0)
		first = slices.Clone(l)
		tok := argmax(l)
		t0 = time.Now()
		for range c.cfg.decode {
			toks = append(toks, tok)
			if l, err = s.Forward(ctx, []int{tok}); err != nil {
				return nil, nil, 0, 0, err
			}
			tok = argmax(l)
		}
		return first, toks, pre, time.Since(t0), nil
	}
	cpu, err := sdk.Open(path, sdk.WithBackend(sdk.BackendCPU))
	if err != nil {
		return err
	}
	want, wantToks, _, _, err := greedy(cpu)
	cpu.Close()
	if err != nil {
		return err
	}
	altToks, spread := wantToks, 0.0
	if simd.Active().Tier != simd.TierGeneric {
		gen, err := sdk.Open(path, sdk.WithBackend(sdk.BackendCPU), sdk.WithKernels(simd.Generic))
		if err != nil {
			return err
		}
		var alt []float32
		alt, altToks, _, _, err = greedy(gen)
		gen.Close()
		if err != nil {
			return err
		}
		spread = maxRelErr(alt, want)
	}
	tol := max(modelTolerance, 2*spread)
	for _, o := range []jetson.Override{jetson.Auto, jetson.ForceDeviceCopy, jetson.ForceInPlace} {
		name := fmt.Sprintf("model %s %s", c.cfg.model, o)
		if time.Now().After(c.deadline) {
			c.add(name, false, "not run: over the time limit")
			continue
		}
		row := ModelRun{Override: o.String(), Model: c.cfg.model, CPUTierDiff: spread, Tolerance: tol}
		m, err := sdk.Open(path, sdk.WithCUDABackend(c.b), sdk.WithGPUWeights(o))
		if err == nil {
			row.Policy = m.GPUPolicy()
			var got []float32
			var toks []int
			var pre, dec time.Duration
			got, toks, pre, dec, err = greedy(m)
			m.Close()
			if err == nil {
				row.PrefillTPS = float64(modelPrompt) / pre.Seconds()
				row.DecodeTPS = float64(c.cfg.decode) / dec.Seconds()
				row.MaxRelDiff = maxRelErr(got, want)
				row.SameTokens = slices.Equal(toks, wantToks) || slices.Equal(toks, altToks)
			}
		}
		if err != nil {
			row.Error = err.Error()
			c.add(name, false, firstLine(row.Error))
		} else {
			c.add(name, row.MaxRelDiff <= tol && row.SameTokens, fmt.Sprintf("logits within %.2g of the CPU's (limit %.2g; CPU tiers differ by %.2g), same greedy tokens: %v",
				row.MaxRelDiff, tol, spread, row.SameTokens))
		}
		c.rep.Models = append(c.rep.Models, row)
	}
	return nil
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
