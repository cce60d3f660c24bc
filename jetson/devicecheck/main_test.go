package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speakez/barewire/jetson/cuda"
	"github.com/speakez/barewire/jetson/cuda/cudafake"
	"github.com/speakez/barewire/jetson/kernels"
)

var small = []string{"-rows", "64", "-k", "256", "-iters", "2", "-ntok", "3", "-model", "bitnet-tiny", "-decode", "4"}

func TestNoGPU(t *testing.T) {
	var out, errb bytes.Buffer
	noDriver := func() (cuda.Driver, error) {
		return nil, fmt.Errorf("%w: libcuda.so.1 not found (test)", cuda.ErrNoDriver)
	}
	if code := run(small, &out, &errb, noDriver); code != exitNoGPU {
		t.Fatalf("exit %d, want %d\n%s", code, exitNoGPU, out.String())
	}
	if !strings.Contains(out.String(), "NO GPU: CUDA unavailable: no CUDA driver: libcuda.so.1 not found") {
		t.Errorf("output:\n%s", out.String())
	}
	// A driver that loads but has no device is also "no GPU".
	out.Reset()
	if code := run(small, &out, &errb, func() (cuda.Driver, error) { return cudafake.New(), nil }); code != exitNoGPU {
		t.Fatalf("no device: exit %d\n%s", code, out.String())
	}
}

// On this machine (no GPU, or a build without cgo) the real driver path
// must end in the no-GPU status too.
func TestRealDriverWithoutGPU(t *testing.T) {
	d, err := cuda.Open()
	if err == nil {
		d.Close()
		t.Skip("a CUDA driver is present: run devicecheck itself")
	}
	var out, errb bytes.Buffer
	if code := run(small, &out, &errb, cuda.Open); code != exitNoGPU {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
}

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-k", "100"}, &out, &errb, cuda.Open); code != exitUsage || !strings.Contains(errb.String(), "multiple of 128") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}

func fakeOpener(kern map[string]func(cuda.Memory, cuda.Dim3, cuda.Dim3, []cuda.Arg) error) func() (cuda.Driver, error) {
	return func() (cuda.Driver, error) {
		f := cudafake.New(cudafake.Discrete())
		f.Kernels = kern
		return f, nil
	}
}

// The whole check against the fake driver, whose kernels are the Go
// reference: every check passes, every policy is in the table, and the JSON
// report agrees.
func TestFakeDevicePasses(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the full check takes a few seconds")
	}
	var out, errb bytes.Buffer
	js := filepath.Join(t.TempDir(), "report.json")
	code := run(append(small, "-json", js, "-dir", t.TempDir()), &out, &errb, fakeOpener(kernels.Reference))
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	text := out.String()
	for _, want := range []string{"Fake H100 PCIe", "TMatVec 6912x2560", "Quantize (bit-exact vs simd)", "Softmax",
		"policy auto decode (device-copy)", "policy inplace decode (registered)", "TensorParallel", "GB/s", "devicecheck: PASS",
		"Dequantize + residual", "f16 head (FMatVec)", "attention (GQA, 303 positions)", "GLU SiLU",
		"TMatVecDequant 2563x2560, 1 scales, accumulate false", "TMatVecDequant 2563x2560, 2563 scales, accumulate true", "RMSNormQuantize 3 tokens of 6912",
		"model bitnet-tiny auto", "model bitnet-tiny inplace", "decode tokens/s"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	var rep Report
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Passed || len(rep.Bandwidth) != 6 || rep.Bandwidth[4].Placement != "registered" || rep.Bandwidth[0].GBps <= 0 {
		t.Errorf("report: passed=%v bandwidth=%+v", rep.Passed, rep.Bandwidth)
	}
	if len(rep.Models) != 3 || !strings.HasPrefix(rep.Models[2].Policy, "registered") || !strings.HasPrefix(rep.Models[1].Policy, "device-copy") {
		t.Errorf("model runs: %+v", rep.Models)
	}
	for _, r := range rep.Models {
		if r.Error != "" || r.DecodeTPS <= 0 || r.PrefillTPS <= 0 || !r.SameTokens || r.MaxRelDiff > 1e-3 {
			t.Errorf("model run %+v", r)
		}
	}
}

// A kernel that gets one value wrong must fail the check.
func TestFakeDeviceMismatchFails(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	bad := map[string]func(cuda.Memory, cuda.Dim3, cuda.Dim3, []cuda.Arg) error{}
	for k, v := range kernels.Reference {
		bad[k] = v
	}
	bad[kernels.TMatVec] = func(mem cuda.Memory, grid, block cuda.Dim3, args []cuda.Arg) error {
		if err := kernels.Reference[kernels.TMatVec](mem, grid, block, args); err != nil {
			return err
		}
		b, err := mem.Bytes(args[0].AsPtr(), 4)
		if err != nil {
			return err
		}
		b[0]++
		return nil
	}
	var out, errb bytes.Buffer
	code := run(append(small, "-dir", t.TempDir()), &out, &errb, fakeOpener(bad))
	if code != exitFail {
		t.Fatalf("exit %d, want %d\n%s", code, exitFail, out.String())
	}
	if !strings.Contains(out.String(), "FAIL TMatVec 1x128") || !strings.Contains(out.String(), "first difference at 0") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestOpenFailureIsNotNoGPU(t *testing.T) {
	var out, errb bytes.Buffer
	broken := func() (cuda.Driver, error) { return nil, errors.New("driver exploded") }
	if code := run(small, &out, &errb, broken); code != exitFail {
		t.Fatalf("exit %d", code)
	}
}

// run.sh builds the binary and passes on its no-GPU status.
func TestRunScriptNoGPU(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds a binary")
	}
	if d, err := cuda.Open(); err == nil {
		d.Close()
		t.Skip("a CUDA driver is present")
	}
	bin := filepath.Join(t.TempDir(), "devicecheck")
	if out, err := exec.Command("sh", "run.sh", "-build", bin).CombinedOutput(); err != nil {
		t.Fatalf("run.sh -build: %v\n%s", err, out)
	}
	cmd := exec.Command("sh", "run.sh", "-rows", "8", "-k", "128")
	cmd.Env = append(os.Environ(), "DEVICECHECK_BIN="+bin, "OUT=")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitNoGPU {
		t.Fatalf("run.sh: %v, want exit status %d\n%s", err, exitNoGPU, out)
	}
	if !strings.Contains(string(out), "NO GPU") {
		t.Errorf("output:\n%s", out)
	}
}
