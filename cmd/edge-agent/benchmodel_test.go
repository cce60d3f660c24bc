package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/speakez/barewire/jetson"
	"github.com/speakez/barewire/jetson/cuda/cudafake"
	"github.com/speakez/barewire/jetson/kernels"
	"github.com/speakez/barewire/jetson/telemetry"
	"github.com/speakez/barewire/sdk"
)

// withTelemetry makes bench model and serve read GPU telemetry from open
// for the rest of the test.
func withTelemetry(t *testing.T, open func() (telemetry.Telemetry, error)) {
	saved := openTelemetry
	openTelemetry = open
	t.Cleanup(func() { openTelemetry = saved })
}

func noTelemetry() (telemetry.Telemetry, error) { return nil, telemetry.ErrNoSource }

// scriptedProbe is a bandwidth probe whose figures are given: best, then
// one of figures per Measure.
type scriptedProbe struct {
	best    float64
	figures []float64
}

func (p *scriptedProbe) Best() float64 { return p.best }

func (p *scriptedProbe) Measure(int) float64 {
	v := p.figures[0]
	p.figures = p.figures[1:]
	return v
}

func TestBenchModelSynthetic(t *testing.T) {
	withTelemetry(t, noTelemetry)
	// The bandwidth figures are scripted so that each round's neighbours
	// differ and the first measurement is the highest: 40 before the
	// first round, 10 between them, 25 after the second.
	saved := newBandwidthProbe
	t.Cleanup(func() { newBandwidthProbe = saved })
	newBandwidthProbe = func([]byte, int) bandwidthProbe { return &scriptedProbe{best: 50, figures: []float64{40, 10, 25}} }
	dir := t.TempDir()
	args := []string{"bench", "model", "--synthetic", "bitnet-tiny", "--cache-dir", dir, "--json", "--tokens", "4", "--prefill", "16", "--bw-mib", "4", "--threads", "2"}
	code, out, errs := runCmd(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "bitnet-tiny-*.bwm"))
	if len(files) != 1 {
		t.Fatalf("cache holds %v", files)
	}
	m, err := sdk.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := m.File().Verify(); err != nil {
		t.Fatalf("synthetic model does not verify: %v", err)
	}
	wb, kv := m.WeightBytes(), m.KVBytesPerPosition()
	m.Close()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), out)
	}
	for i, line := range lines {
		// A machine without telemetry gets no "gpu" object, and the CPU
		// backend no weight placement.
		if !strings.Contains(line, `"backend":"cpu"`) || strings.Contains(line, `"gpu"`) || strings.Contains(line, "gpu_policy") {
			t.Fatalf("line %d: want \"backend\":\"cpu\" and no gpu fields: %s", i, line)
		}
		var r modelResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		prefix := []string{"decode", "prefill"}[i]
		if !strings.HasPrefix(r.Case, prefix) || r.Threads != 2 || r.WeightBytes != wb || r.Tier == "" ||
			// KV at the timed tokens' mean position: two rounds (the
			// default, --tokens/2) of one untimed and two timed tokens
			// after 16: 17, 18, 20, 21.
			r.BytesPerToken != wb+kv*19 || r.DecodeTokensPerS <= 0 || r.PrefillTokensPerS <= 0 ||
			r.GBps <= 0 || r.ReadBWGBps <= 0 || r.Ratio <= 0 {
			t.Fatalf("line %d: %+v (weights %d, kv per position %d)", i, r, wb, kv)
		}
		if i == 0 {
			// Decode: one ratio per round, the median reported; a
			// bandwidth figure before each round and after the last, the
			// highest of the run (with the first measurement) reported.
			if len(r.RoundRatios) != 2 || r.Ratio != round3(median(r.RoundRatios)) ||
				!slices.Equal(r.RoundBWGBps, []float64{40, 10, 25}) || r.ReadBWGBps != 50 || r.OverallRatio != round3(r.GBps/50) {
				t.Fatalf("decode rounds %v, bandwidth %v (highest %v), ratio %v, overall %v",
					r.RoundRatios, r.RoundBWGBps, r.ReadBWGBps, r.Ratio, r.OverallRatio)
			}
			// Each round (two tokens) against the higher figure next to
			// it, 40 and 25: the rounds' GB/s, ratio × that figure, must
			// make up the whole decode's (its bytes over the rounds'
			// summed times).
			var secs float64
			for i, q := range r.RoundRatios {
				secs += 2 * float64(r.BytesPerToken) / (q * []float64{40, 25}[i] * 1e9)
			}
			if got := 4 * float64(r.BytesPerToken) / secs / 1e9; math.Abs(got/r.GBps-1) > 0.01 {
				t.Fatalf("rounds %v against %v make %.4g GB/s, the decode %v", r.RoundRatios, r.RoundBWGBps, got, r.GBps)
			}
		} else if r.RoundRatios != nil || r.OverallRatio != 0 {
			t.Fatalf("prefill with round ratios: %+v", r)
		}
	}
	// The second run reuses the cached file.
	st, _ := os.Stat(files[0])
	if code, _, errs := runCmd(t, args...); code != 0 {
		t.Fatal(errs)
	}
	st2, _ := os.Stat(files[0])
	if !st.ModTime().Equal(st2.ModTime()) {
		t.Fatal("synthetic model rewritten")
	}
	if code, _, errs := runCmd(t, "bench", "model", "--synthetic", "gpt-5", "--cache-dir", dir); code != 1 || !strings.Contains(errs, `synthetic model "gpt-5" unknown`) {
		t.Fatalf("unknown name: %d %q", code, errs)
	}
	if code, _, _ := runCmd(t, "bench", "model"); code != 2 {
		t.Fatalf("no model: exit %d, want 2 (a usage error)", code)
	}
}

// --head f16 builds a synthetic model whose head (the tied embedding)
// is read in place at 2 bytes per weight: 512 × 128 weights instead of the
// int8 head's 1 byte each plus a 4-byte scale per row.
func TestBenchModelHalfHead(t *testing.T) {
	dir := t.TempDir()
	wb := map[string]int64{}
	for _, head := range []string{"i8", "f16", "bf16"} {
		code, out, errs := runCmd(t, "bench", "model", "--synthetic", "bitnet-tiny", "--head", head, "--cache-dir", dir,
			"--json", "--tokens", "2", "--prefill", "4", "--bw-mib", "4", "--threads", "1")
		if code != 0 {
			t.Fatalf("--head %s: exit %d: %s", head, code, errs)
		}
		var r modelResult
		if err := json.Unmarshal([]byte(strings.Split(out, "\n")[0]), &r); err != nil {
			t.Fatal(err)
		}
		wb[head] = r.WeightBytes
		if files, _ := filepath.Glob(filepath.Join(dir, "bitnet-tiny-"+head+"-*.bwm")); len(files) != 1 {
			t.Fatalf("--head %s: cache holds %v", head, files)
		}
	}
	if wb["f16"]-wb["i8"] != 512*128-4*512 || wb["bf16"] != wb["f16"] {
		t.Fatalf("weight bytes per head dtype: %v", wb)
	}
	if code, _, errs := runCmd(t, "bench", "model", "--synthetic", "bitnet-tiny", "--head", "f8", "--cache-dir", dir); code != 1 || !strings.Contains(errs, "want i8, f32, f16 or bf16") {
		t.Fatalf("--head f8: %d %q", code, errs)
	}
}

func TestBenchModelBackendFlag(t *testing.T) {
	code, _, errs := runCmd(t, "bench", "model", "--synthetic", "bitnet-tiny", "--backend", "tpu")
	if code != 2 || !strings.Contains(errs, `--backend "tpu" (want auto, cpu or cuda)`) {
		t.Fatalf("--backend tpu: exit %d: %q", code, errs)
	}
	if !strings.Contains(benchModelUsage, "--backend auto|cpu|cuda") {
		t.Fatal("usage does not list --backend")
	}
	code, _, errs = runCmd(t, "bench", "model", "--synthetic", "bitnet-tiny", "--gpu-split", "2")
	if code != 2 || !strings.Contains(errs, `--gpu-split "2"`) {
		t.Fatalf("--gpu-split 2: exit %d: %q", code, errs)
	}
	code, _, errs = runCmd(t, "bench", "model", "--synthetic", "bitnet-tiny", "--backend", "cpu", "--gpu-split", "auto")
	if code != 2 || !strings.Contains(errs, "--gpu-split auto needs --backend cuda") {
		t.Fatalf("--gpu-split auto on the CPU: exit %d: %q", code, errs)
	}
	// Explicit cpu runs on the CPU and prints it in the text output.
	withTelemetry(t, noTelemetry)
	code, out, errs := runCmd(t, "bench", "model", "--synthetic", "bitnet-tiny", "--cache-dir", t.TempDir(), "--backend", "cpu",
		"--tokens", "2", "--prefill", "4", "--bw-mib", "4", "--threads", "1")
	if code != 0 {
		t.Fatalf("--backend cpu: exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "backend cpu, tier ") || strings.Contains(out, "gpu") {
		t.Fatalf("--backend cpu text output:\n%s", out)
	}
}

// --backend cuda refuses, with one line naming why, a model the GPU cannot
// run and (on a machine without CUDA) any model.
func TestBenchModelCUDARefused(t *testing.T) {
	code, out, errs := runCmd(t, "bench", "model", "--model", testModel, "--backend", "cuda")
	if code != 1 || out != "" || strings.Count(errs, "\n") != 1 ||
		!strings.Contains(errs, "backend cuda: not available") || !strings.Contains(errs, "mlp architecture") {
		t.Fatalf("mlp model on cuda: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if _, err := os.Stat("/dev/nvidiactl"); err == nil {
		t.Skip("an NVIDIA driver is present: --backend cuda may run")
	}
	code, out, errs = runCmd(t, "bench", "model", "--synthetic", "bitnet-tiny", "--cache-dir", t.TempDir(), "--backend", "cuda",
		"--tokens", "2", "--prefill", "4", "--bw-mib", "4", "--threads", "1")
	if code != 1 || out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "edge-agent bench: backend cuda: not available") {
		t.Fatalf("bitnet on cuda without a GPU: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// With a telemetry source (here the Orin fixture of jetson/telemetry) the
// JSON carries one reading and the text a line.
func TestBenchModelTelemetry(t *testing.T) {
	withTelemetry(t, func() (telemetry.Telemetry, error) {
		return telemetry.NewTegra(filepath.Join("..", "..", "jetson", "testdata", "sysfs", "orin-jp5"))
	})
	dir := t.TempDir()
	args := []string{"bench", "model", "--synthetic", "bitnet-tiny", "--cache-dir", dir, "--tokens", "2", "--prefill", "4", "--bw-mib", "4", "--threads", "1"}
	code, out, errs := runCmd(t, append(args, "--json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r modelResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		g := r.GPU
		if g == nil || g.Source != "tegra-sysfs" || g.Device != "ga10b" || g.LoadPercent == nil || *g.LoadPercent != 0 ||
			g.ClockHz != 306000000 || g.PowerW == nil || *g.PowerW != 18.016 || g.HottestZone != "CPU-therm" || g.HottestC == nil || *g.HottestC != 40.031 {
			t.Fatalf("line %d: gpu reading %s", i, line)
		}
	}
	code, out, errs = runCmd(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if want := "gpu after decode (ga10b, tegra-sysfs): load 0.0%, clock 306 MHz, power 18.02 W, hottest CPU-therm 40.0 °C\n"; !strings.Contains(out, want) {
		t.Fatalf("text output lacks %q:\n%s", want, out)
	}
}

// --cpuprofile writes a profile of the decode loop that go tool pprof reads
// (a gzipped protocol buffer: it starts with the gzip magic).
func TestBenchModelCPUProfile(t *testing.T) {
	withTelemetry(t, noTelemetry)
	dir := t.TempDir()
	prof := filepath.Join(dir, "decode.prof")
	code, _, errs := runCmd(t, "bench", "model", "--synthetic", "bitnet-tiny", "--cache-dir", dir, "--tokens", "8", "--prefill", "4",
		"--bw-mib", "4", "--threads", "1", "--cpuprofile", prof)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b, err := os.ReadFile(prof)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("profile of %d bytes does not start with the gzip magic", len(b))
	}
	code, _, errs = runCmd(t, "bench", "model", "--synthetic", "bitnet-tiny", "--cache-dir", dir, "--tokens", "2", "--prefill", "4",
		"--bw-mib", "4", "--threads", "1", "--cpuprofile", filepath.Join(dir, "missing", "x.prof"))
	if code == 0 || !strings.Contains(errs, "x.prof") {
		t.Fatalf("unwritable profile: exit %d: %s", code, errs)
	}
}

// A model on the GPU (here the fake driver with the reference kernels) is
// not held against the host's read bandwidth: no bandwidth, no ratio.
func TestBenchModelOnGPUReportsNoHostRatio(t *testing.T) {
	saved := openBenchModel
	defer func() { openBenchModel = saved }()
	openBenchModel = func(path string, opts ...sdk.Option) (*sdk.Model, error) {
		f := cudafake.New(cudafake.Discrete())
		f.Kernels = kernels.Reference
		b, err := jetson.Open(jetson.Options{Driver: f})
		if err != nil {
			return nil, err
		}
		return sdk.Open(path, append(opts, sdk.WithCUDABackend(b))...)
	}
	dir := t.TempDir()
	args := []string{"bench", "model", "--synthetic", "bitnet-tiny", "--cache-dir", dir, "--tokens", "4", "--prefill", "8", "--rounds", "2"}
	code, out, errs := runCmd(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "backend cuda") || !strings.Contains(out, "decode  4 tokens:") ||
		strings.Contains(out, "read bandwidth") {
		t.Fatalf("output:\n%s", out)
	}
	code, out, errs = runCmd(t, append(args, "--json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		if r["backend"] != "cuda" || r["decode_tokens_per_s"] == nil {
			t.Errorf("line %s", line)
		}
		for _, k := range []string{"ratio", "read_bw_gbps", "round_ratios", "round_bw_gbps", "overall_ratio"} {
			if _, ok := r[k]; ok {
				t.Errorf("a GPU run reports %q: %s", k, line)
			}
		}
	}
}
