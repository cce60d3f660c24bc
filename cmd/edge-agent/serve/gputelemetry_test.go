package serve

import (
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speakez/barewire/jetson/telemetry"
)

// writeTree creates files (path relative to root → content) under root, the
// way jetson/telemetry's tests build sysfs trees.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// orinTree is a small Jetson Orin sysfs: GPU at 52.5% load, 612 MHz of
// 1300.5 MHz, two thermal zones, two INA3221 rails and 8 GiB of RAM with
// 6 GiB available.
func orinTree(t *testing.T) string {
	root := t.TempDir()
	gpu := "sys/class/devfreq/17000000.ga10b/"
	hw := "sys/bus/i2c/devices/1-0040/hwmon/hwmon1/"
	writeTree(t, root, map[string]string{
		gpu + "device/of_node/name": "ga10b\x00",
		gpu + "device/load":         "525\n",
		gpu + "cur_freq":            "612000000\n",
		gpu + "max_freq":            "1300500000\n",
		"sys/devices/virtual/thermal/thermal_zone0/type": "CPU-therm\n",
		"sys/devices/virtual/thermal/thermal_zone0/temp": "45500\n",
		"sys/devices/virtual/thermal/thermal_zone1/type": "GPU-therm\n",
		"sys/devices/virtual/thermal/thermal_zone1/temp": "47250\n",
		"sys/bus/i2c/devices/1-0040/name":                "ina3221\n",
		hw + "in1_label":                                 "VDD_GPU_SOC\n",
		hw + "in1_input":                                 "19000\n",
		hw + "curr1_input":                               "500\n",
		hw + "in2_label":                                 "VDD_CPU_CV\n",
		hw + "in2_input":                                 "19000\n",
		hw + "curr2_input":                               "200\n",
		"proc/meminfo":                                   "MemTotal:        8388608 kB\nMemFree:  1 kB\nMemAvailable:    6291456 kB\n",
	})
	return root
}

func scrape(t *testing.T, tm telemetry.Telemetry) string {
	t.Helper()
	srv, err := New(Config{Engine: newFakeEngine(0), Telemetry: tm})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d\n%s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func TestGPUTelemetryTegra(t *testing.T) {
	tg, err := telemetry.NewTegra(orinTree(t))
	if err != nil {
		t.Fatal(err)
	}
	body := scrape(t, tg)
	for _, want := range []string{
		`barewire_gpu_telemetry_info{device="ga10b",source="tegra-sysfs"} 1`,
		"barewire_gpu_load_ratio 0.525\n",
		"barewire_gpu_clock_hertz 6.12e+08\n",
		"barewire_gpu_max_clock_hertz 1.3005e+09\n",
		`barewire_gpu_temperature_celsius{zone="CPU-therm"} 45.5` + "\n",
		`barewire_gpu_temperature_celsius{zone="GPU-therm"} 47.25` + "\n",
		`barewire_gpu_rail_power_watts{rail="VDD_GPU_SOC"} 9.5` + "\n",
		`barewire_gpu_rail_power_watts{rail="VDD_CPU_CV"} 3.8` + "\n",
		"barewire_gpu_power_watts 13.3\n", // no VDD_IN rail: the sum
		"barewire_gpu_memory_total_bytes 8.589934592e+09\n",
		"barewire_gpu_memory_used_bytes 2.147483648e+09\n",
		"barewire_gpu_telemetry_errors_total 0\n",
		"barewire_build_info",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", gpuLines(body))
	}
}

// Unknown readings are left out, not exported as -1 or 0.
func TestGPUTelemetryUnknownsOmitted(t *testing.T) {
	body := scrape(t, fakeTelemetry{s: telemetry.Snapshot{Source: "nvml", Device: "X", GPULoadPercent: -1, PowerMilliWatts: -1,
		Temperatures: []telemetry.Temperature{{Zone: "gpu", Celsius: 61}, {Zone: "gpu", Celsius: 62}}}})
	for _, absent := range []string{"barewire_gpu_load_ratio", "barewire_gpu_clock_hertz", "barewire_gpu_max_clock_hertz",
		"barewire_gpu_power_watts", "barewire_gpu_memory_total_bytes", "barewire_gpu_memory_used_bytes", "barewire_gpu_rail_power_watts{"} {
		if strings.Contains(body, absent+" ") || strings.Contains(body, absent+"{") {
			t.Errorf("unknown reading exported: %s\n%s", absent, gpuLines(body))
		}
	}
	for _, want := range []string{`barewire_gpu_telemetry_info{device="X",source="nvml"} 1`,
		`barewire_gpu_temperature_celsius{zone="gpu"} 61`, `barewire_gpu_temperature_celsius{zone="gpu#2"} 62`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q\n%s", want, gpuLines(body))
		}
	}
}

// A failing source leaves the rest of /metrics scrapeable and is counted.
func TestGPUTelemetryError(t *testing.T) {
	tm := fakeTelemetry{err: errors.New("sysfs gone")}
	srv, err := New(Config{Engine: newFakeEngine(0), Telemetry: tm})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	for i, want := range []string{"barewire_gpu_telemetry_errors_total 1\n", "barewire_gpu_telemetry_errors_total 2\n"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		body := rec.Body.String()
		if rec.Code != 200 {
			t.Fatalf("scrape %d: status %d\n%s", i+1, rec.Code, body)
		}
		if !strings.Contains(body, want) || !strings.Contains(body, "barewire_build_info") || !strings.Contains(body, "barewire_swaps_total 0") {
			t.Fatalf("scrape %d lacks %q or the server's metrics:\n%s", i+1, want, body)
		}
		if strings.Contains(body, "barewire_gpu_telemetry_info") {
			t.Fatalf("scrape %d exported GPU readings from a failed snapshot:\n%s", i+1, gpuLines(body))
		}
	}
}

func TestGPUTelemetryNone(t *testing.T) {
	body := scrape(t, nil)
	if !strings.Contains(body, "barewire_build_info") {
		t.Fatalf("no server metrics:\n%s", body)
	}
	if g := gpuLines(body); g != "" {
		t.Fatalf("GPU metrics without a telemetry source:\n%s", g)
	}
}

type fakeTelemetry struct {
	s   telemetry.Snapshot
	err error
}

func (f fakeTelemetry) Snapshot() (telemetry.Snapshot, error) { return f.s, f.err }
func (f fakeTelemetry) Close() error                          { return nil }

// gpuLines are the lines of a scrape that mention barewire_gpu.
func gpuLines(body string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, "barewire_gpu") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
