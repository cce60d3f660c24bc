package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/cpuid/v2"
	"github.com/speakez/barewire/jetson/telemetry"
	"github.com/speakez/barewire/sdk"
	"github.com/speakez/barewire/simd"
)

func init() { benchModel = runBenchModel }

const benchModelUsage = `usage: edge-agent bench model (--model MODEL | --synthetic NAME) [--threads N] [--json]
                          [--backend auto|cpu|cuda] [--tokens N] [--prefill N] [--head i8|f32|f16|bf16]
                          [--gpu-split 0|auto|FRACTION] [--cache-dir DIR] [--bw-mib N]
                          [--kv f32|f16] [--rounds N] [--cpuprofile FILE]

Measures a language model end to end: prefill of --prefill tokens (default
256) and greedy decode of --tokens tokens (default 32) after it. --synthetic
builds (once, cached under the user cache directory, barewire/synthetic) a
model with random ternary weights at a published model's exact shapes:
bitnet-2b4t, bitnet-large, mmfree-370m (and bitnet-tiny, mmfree-tiny).

The decode runs in --rounds rounds of equal numbers of tokens (default
--tokens/2: rounds of two tokens, the first of three when --tokens is
odd), each after one untimed token, and is
held against the machine's read bandwidth taken right next to it. First
simd.NewReadProbe times five passes of each of its read loops over a
buffer 4× the last-level cache (at most 1 GiB; --bw-mib sets it); then one
pass of each loop (the fastest counts) is timed right before each round
and after the last. A round's ratio is its decode
GB/s over the higher of the two figures next to it, and the ratio reported
is the median of the rounds' (the lowest and highest are printed, and all
are in the JSON). Rounds this short are compared with figures this close
because the bandwidth of a shared machine can move by a quarter from one
second to the next (see docs/PERFORMANCE.md). "overall" is the whole
decode's GB/s over the highest figure of the run, the first measurement's
included: the strictest reading.

--backend (default auto, today the CPU) picks where the model runs; with
cuda the output also says where the weights were placed, and --backend cuda
fails when the machine or the build has no CUDA. A model on the GPU reads
its weights from device memory, so the host's read bandwidth is neither
measured nor used: no ratio is reported, only tokens/s and the GB/s of
weights and KV cache that decode moves. When the machine has GPU
telemetry (Jetson sysfs or NVML), one reading taken right after the decode
run is reported: GPU load, clock, power and the hottest temperature.
--gpu-split (cuda) computes part of each ternary matrix's rows of a decoded
token on the CPU threads: FRACTION is the GPU's share (0, the default: all on
the GPU), auto measures it when the model is opened; the split in use is
printed with the weight placement.`

// modelResult is one line of `bench model --json`.
type modelResult struct {
	Case              string      `json:"case"` // "decode <model>" or "prefill <model>"
	Model             string      `json:"model"`
	Arch              string      `json:"arch"`
	Tier              string      `json:"tier"`
	Threads           int         `json:"threads"`
	Tokens            int         `json:"tokens"`
	Seconds           float64     `json:"seconds"`
	WeightBytes       int64       `json:"weight_bytes"`    // the weights one pass reads (blocks + output head)
	BytesPerToken     int64       `json:"bytes_per_token"` // decode: weights + KV cache read at the mean position
	GBps              float64     `json:"gbps"`
	ReadBWGBps        float64     `json:"read_bw_gbps,omitempty"`  // the host's; not measured for a model on the GPU
	Ratio             float64     `json:"ratio,omitempty"`         // decode: median of the rounds' ratios (CPU backend)
	RoundRatios       []float64   `json:"round_ratios,omitempty"`  // decode: each round's GB/s over the higher bandwidth next to it
	RoundBWGBps       []float64   `json:"round_bw_gbps,omitempty"` // decode: the bandwidth before each round and after the last
	OverallRatio      float64     `json:"overall_ratio,omitempty"` // decode: all rounds' GB/s over the highest bandwidth figure
	DecodeTokensPerS  float64     `json:"decode_tokens_per_s"`
	PrefillTokensPerS float64     `json:"prefill_tokens_per_s"`
	CPU               string      `json:"cpu"`
	Backend           string      `json:"backend"`              // "cpu" or "cuda"
	GPUPolicy         string      `json:"gpu_policy,omitempty"` // cuda: where the weights are and why
	GPU               *gpuReading `json:"gpu,omitempty"`        // telemetry after the decode run, when the machine has a source
}

// gpuReading is one telemetry snapshot in bench output. Readings the
// source could not take are left out.
type gpuReading struct {
	Source      string   `json:"source"`
	Device      string   `json:"device"`
	LoadPercent *float64 `json:"load_percent,omitempty"`
	ClockHz     int64    `json:"clock_hz,omitempty"`
	PowerW      *float64 `json:"power_w,omitempty"`
	HottestZone string   `json:"hottest_zone,omitempty"`
	HottestC    *float64 `json:"hottest_c,omitempty"`
}

func newGPUReading(s telemetry.Snapshot) *gpuReading {
	g := &gpuReading{Source: s.Source, Device: s.Device, ClockHz: s.GPUFreqHz}
	if s.GPULoadPercent >= 0 {
		v := round3(s.GPULoadPercent)
		g.LoadPercent = &v
	}
	if s.PowerMilliWatts >= 0 {
		v := round3(s.PowerMilliWatts / 1000)
		g.PowerW = &v
	}
	for i, z := range s.Temperatures {
		if i == 0 || z.Celsius > *g.HottestC {
			v := z.Celsius
			g.HottestZone, g.HottestC = z.Zone, &v
		}
	}
	return g
}

// String is the text line of bench model.
func (g *gpuReading) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "gpu after decode (%s, %s):", g.Device, g.Source)
	if g.LoadPercent != nil {
		fmt.Fprintf(&b, " load %.1f%%,", *g.LoadPercent)
	}
	if g.ClockHz > 0 {
		fmt.Fprintf(&b, " clock %d MHz,", g.ClockHz/1e6)
	}
	if g.PowerW != nil {
		fmt.Fprintf(&b, " power %.2f W,", *g.PowerW)
	}
	if g.HottestC != nil {
		fmt.Fprintf(&b, " hottest %s %.1f °C,", g.HottestZone, *g.HottestC)
	}
	return strings.TrimSuffix(b.String(), ",")
}

func runBenchModel(args []string, stdout, stderr io.Writer) (err error) {
	defer noPanic(&err)
	fs := flag.NewFlagSet("bench model", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, benchModelUsage) }
	model := fs.String("model", "", "model file (.bwm) or release directory")
	synth := fs.String("synthetic", "", "synthetic model name")
	threads := fs.Int("threads", 0, "worker threads (0: one per physical core)")
	asJSON := fs.Bool("json", false, "print one JSON object per case")
	decodeN := fs.Int("tokens", 32, "tokens to decode")
	prefillN := fs.Int("prefill", 256, "prompt tokens to prefill")
	head := fs.String("head", "i8", "synthetic output head (and tied embedding) dtype: i8, f32, f16 or bf16")
	cacheDir := fs.String("cache-dir", "", "directory of cached synthetic models (default: user cache dir)")
	bwMiB := fs.Int("bw-mib", 0, "buffer of the read-bandwidth measurement in MiB (0: 4× the last-level cache, 256 to 1024, as bench kernels)")
	backend := fs.String("backend", sdk.BackendAuto, "where the model runs: auto, cpu or cuda")
	kvType := fs.String("kv", sdk.KVFloat32, "KV cache element type: f32 or f16")
	gpuSplit := fs.String("gpu-split", "0", "cuda: share of each ternary matrix's rows on the GPU in decode, the CPU the rest (0: all on the GPU, auto: measured)")
	rounds := fs.Int("rounds", 0, "decode rounds (at most --tokens; 0: --tokens/2), the read bandwidth measured before each and after the last")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the decode rounds to this file (go tool pprof; the bandwidth loops between them show as simd.readStream*)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch *backend {
	case sdk.BackendAuto, sdk.BackendCPU, sdk.BackendCUDA:
	default:
		return fmt.Errorf("%w: --backend %q (want auto, cpu or cuda)", errUsage, *backend)
	}
	split, err := parseGPUSplit(*gpuSplit, *backend)
	if err != nil {
		return err
	}
	if (*model == "") == (*synth == "") || fs.NArg() != 0 {
		return fmt.Errorf("%w: bench model: give exactly one of --model and --synthetic\n%s", errUsage, benchModelUsage)
	}
	if *decodeN < 1 || *prefillN < 1 || *threads < 0 || *bwMiB < 0 || *rounds < 0 {
		return fmt.Errorf("%w: --tokens and --prefill must be positive, --rounds and --bw-mib not negative", errUsage)
	}
	if *rounds == 0 {
		*rounds = max(*decodeN/2, 1)
	}
	*rounds = min(*rounds, *decodeN) // at least one token a round
	path, name := *model, *model
	if *synth != "" {
		name = *synth
		if path, err = sdk.SyntheticPath(*cacheDir, *synth, sdk.SyntheticOptions{Head: *head}); err != nil {
			return err
		}
	}
	m, err := openBenchModel(path, sdk.WithThreads(*threads), sdk.WithBackend(*backend), sdk.WithGPUSplit(split))
	if err != nil {
		return err
	}
	defer m.Close()
	if m.Vocab() == 0 {
		return fmt.Errorf("model %s (architecture %q) is not a language model", path, m.Arch())
	}
	m.Warm()
	// Opened before the run so that the reading follows the decode loop
	// at once (NVML's initialization takes a while).
	var tm telemetry.Telemetry
	if t, err := openTelemetry(); err == nil {
		tm = t
		defer tm.Close()
	}
	// Room for the prompt, the timed tokens and one untimed token a round.
	s, err := m.NewSession(sdk.WithContextLength(*prefillN+*decodeN+*rounds+1), sdk.WithKVCache(*kvType))
	if err != nil {
		return err
	}
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	prompt := make([]int, *prefillN)
	for i := range prompt {
		prompt[i] = rng.IntN(min(m.Vocab(), 256))
	}
	// One warm-up token pages the weights in.
	if _, err := s.Forward(ctx, prompt[:1]); err != nil {
		return err
	}
	s.Reset()
	t0 := time.Now()
	logits, err := s.Forward(ctx, prompt)
	if err != nil {
		return err
	}
	prefill := time.Since(t0).Seconds()
	tok := []int{sdk.Argmax(logits)}
	// The read bandwidth is measured before each decode round and after
	// the last; each round is held against the higher figure next to it,
	// so that other load on the machine during one measurement cannot
	// flatter that round.
	th := m.Threads()
	var bwBuf []byte
	var bws []float64 // next to the rounds
	var bwFirst float64
	measure := func() {}
	if m.Backend() != sdk.BackendCUDA {
		bwBytes := min(max(int64(4*cpuid.CPU.Cache.L3), 256<<20), 1<<30)
		if *bwMiB > 0 {
			bwBytes = int64(*bwMiB) << 20
		}
		bwBuf = make([]byte, bwBytes)
		for i := range bwBuf {
			bwBuf[i] = byte(i)
		}
		probe := newBandwidthProbe(bwBuf, th)
		bwFirst = probe.Best()
		measure = func() { bws = append(bws, probe.Measure(probeRounds)) }
	}
	measure()
	var prof *os.File
	if *cpuProfile != "" {
		if prof, err = os.Create(*cpuProfile); err != nil {
			return err
		}
		defer prof.Close()
		if err := pprof.StartCPUProfile(prof); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
	}
	var decode float64
	var posSum int64
	roundSecs := make([]float64, *rounds)
	roundToks := make([]int, *rounds)
	for r := range *rounds {
		n := *decodeN / *rounds
		if r < *decodeN%*rounds {
			n++
		}
		// One token, not timed, first: the bandwidth loop has just pushed
		// the model out of the caches, which a decode loop never does.
		if l, err := s.Forward(ctx, tok); err != nil {
			pprof.StopCPUProfile()
			return err
		} else {
			tok[0] = sdk.Argmax(l)
		}
		posSum += int64(n*s.Pos() + n*(n-1)/2) // the positions the timed tokens attend up to
		t0 = time.Now()
		for i := 0; i < n; i++ {
			l, err := s.Forward(ctx, tok)
			if err != nil {
				pprof.StopCPUProfile()
				return err
			}
			tok[0] = sdk.Argmax(l)
		}
		roundSecs[r], roundToks[r] = time.Since(t0).Seconds(), n
		decode += roundSecs[r]
		measure()
	}
	if prof != nil {
		pprof.StopCPUProfile()
		if err := prof.Close(); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
	}
	var gpu *gpuReading
	if tm != nil {
		if snap, err := tm.Snapshot(); err == nil {
			gpu = newGPUReading(snap)
		} else {
			fmt.Fprintf(stderr, "bench model: GPU telemetry: %v\n", err)
		}
	}

	bwBuf = nil
	var bw float64 // 0: not measured
	if len(bws) > 0 {
		bw = max(slices.Max(bws), bwFirst)
	}
	wb := m.WeightBytes()
	meanPos := posSum / int64(*decodeN)
	kvPos := m.KVBytesPerPosition()
	if *kvType == sdk.KVFloat16 {
		kvPos /= 2
	}
	perTok := wb + kvPos*meanPos
	decTPS, preTPS := float64(*decodeN)/decode, float64(*prefillN)/prefill
	chunks := (*prefillN + 63) / 64 // the session's prefill chunk: one pass over the weights each
	res := []modelResult{
		{Case: "decode " + name, Tokens: *decodeN, Seconds: decode, BytesPerToken: perTok, GBps: float64(perTok) * decTPS / 1e9},
		{Case: "prefill " + name, Tokens: *prefillN, Seconds: prefill, BytesPerToken: perTok, GBps: float64(wb) * float64(chunks) / prefill / 1e9},
	}
	for i := range res {
		r := &res[i]
		r.Model, r.Arch, r.Tier, r.Threads, r.WeightBytes = name, m.Arch(), string(m.Tier()), th, wb
		r.ReadBWGBps, r.DecodeTokensPerS, r.PrefillTokensPerS, r.CPU = round3(bw), round3(decTPS), round3(preTPS), cpuid.CPU.BrandName
		r.GBps, r.Seconds = round3(r.GBps), round3(r.Seconds)
		r.Backend, r.GPUPolicy, r.GPU = m.Backend(), m.GPUPolicy(), gpu
		if bw > 0 {
			r.Ratio = round3(r.GBps / bw)
		}
	}
	// Decode: each round against the bandwidth next to it, the median
	// reported, the whole run against the highest figure alongside.
	dec := &res[0]
	dec.OverallRatio = dec.Ratio
	if bw > 0 {
		for r := range roundSecs {
			gbps := float64(perTok) * float64(roundToks[r]) / roundSecs[r] / 1e9
			dec.RoundRatios = append(dec.RoundRatios, round3(gbps/max(bws[r], bws[r+1])))
		}
		for _, v := range bws {
			dec.RoundBWGBps = append(dec.RoundBWGBps, round3(v))
		}
		dec.Ratio = round3(median(dec.RoundRatios))
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range res {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(stdout, "model %s (%s), backend %s, tier %s, %d threads, cpu %s\n", name, m.Arch(), m.Backend(), m.Tier(), th, cpuid.CPU.BrandName)
	if p := m.GPUPolicy(); p != "" {
		fmt.Fprintf(stdout, "gpu weights: %s\n", p)
	}
	fmt.Fprintf(stdout, "weights per pass %.1f MiB, bytes per decoded token %.1f MiB", float64(wb)/(1<<20), float64(perTok)/(1<<20))
	if bw > 0 {
		fmt.Fprintf(stdout, ", read bandwidth %.2f-%.2f GB/s", min(slices.Min(bws), bwFirst), bw)
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "prefill %d tokens: %.2f tokens/s (%.2f GB/s of weights)\n", *prefillN, preTPS, res[1].GBps)
	fmt.Fprintf(stdout, "decode  %d tokens: %.2f tokens/s (%.2f GB/s)", *decodeN, decTPS, res[0].GBps)
	if bw > 0 {
		fmt.Fprintf(stdout, ", %.0f%% of read bandwidth (median of %d rounds, %.0f%%-%.0f%%; overall %.0f%%)",
			100*res[0].Ratio, len(res[0].RoundRatios), 100*slices.Min(res[0].RoundRatios), 100*slices.Max(res[0].RoundRatios), 100*res[0].OverallRatio)
	}
	fmt.Fprintln(stdout)
	if gpu != nil {
		fmt.Fprintln(stdout, gpu)
	}
	return nil
}

// probeRounds is how many passes of every read loop each measurement next
// to a decode round times (the fastest counts): one pass of each of the
// four loops over 1 GiB takes about 110 ms with 2 threads on the machine
// of docs/PERFORMANCE.md, short against the seconds its bandwidth keeps
// one level.
const probeRounds = 1

// median returns the median of xs (the mean of the middle two for an even
// count).
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// bandwidthProbe measures the read bandwidth for bench model: Best once,
// when made, and Measure next to each decode round (simd.ReadProbe).
type bandwidthProbe interface {
	Best() float64
	Measure(rounds int) float64
}

// newBandwidthProbe makes bench model's probe (a variable so that tests
// can script the figures).
var newBandwidthProbe = func(buf []byte, threads int) bandwidthProbe { return simd.NewReadProbe(buf, threads) }

// openBenchModel opens the model of bench model (a variable so that tests
// can place it on a fake GPU).
var openBenchModel = sdk.Open
