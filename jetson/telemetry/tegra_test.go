package telemetry

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fixture(name string) string { return filepath.Join("..", "testdata", "sysfs", name) }

func TestTegraFixtures(t *testing.T) {
	for _, c := range []struct {
		tree       string
		node       string
		load       float64
		freq, max  int64
		zones      int
		firstZone  string
		rails      []string
		powerMW    float64
		memTotalKB uint64
	}{
		{"xavier-jp5", "gv11b", 53.7, 1377000000, 1377000000, 7, "CPU-therm",
			[]string{"GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V"},
			(19120*1136 + 19120*480 + 19120*624 + 0 + 19120*212 + 4984*1064) / 1000.0, 32567776},
		{"orin-jp5", "ga10b", 0, 306000000, 1300500000, 9, "CPU-therm",
			[]string{"VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO"},
			(19152*520 + 19152*208 + 4992*720 + 4992*96) / 1000.0, 31009472},
		// VDD_IN is the board input: it is the total, not summed with the rest.
		{"orin-nano-jp6", "gpu", 99.8, 624750000, 624750000, 9, "cpu-thermal",
			[]string{"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"}, 5048 * 1434 / 1000.0, 7802588},
	} {
		tg, err := NewTegra(fixture(c.tree))
		if err != nil {
			t.Fatalf("%s: %v", c.tree, err)
		}
		s, err := tg.Snapshot()
		if err != nil {
			t.Fatalf("%s: %v", c.tree, err)
		}
		if len(s.Missing) != 0 {
			t.Errorf("%s: missing %v", c.tree, s.Missing)
		}
		if s.Source != "tegra-sysfs" || s.Device != c.node {
			t.Errorf("%s: source %q device %q", c.tree, s.Source, s.Device)
		}
		if s.GPULoadPercent != c.load || s.GPUFreqHz != c.freq || s.GPUMaxFreqHz != c.max {
			t.Errorf("%s: load %v freq %d max %d", c.tree, s.GPULoadPercent, s.GPUFreqHz, s.GPUMaxFreqHz)
		}
		if len(s.Temperatures) != c.zones || s.Temperatures[0].Zone != c.firstZone {
			t.Errorf("%s: temperatures %+v", c.tree, s.Temperatures)
		}
		var names []string
		for _, r := range s.Rails {
			names = append(names, r.Name)
		}
		if strings.Join(names, ",") != strings.Join(c.rails, ",") {
			t.Errorf("%s: rails %v, want %v", c.tree, names, c.rails)
		}
		if diff := s.PowerMilliWatts - c.powerMW; diff > 1e-6 || diff < -1e-6 {
			t.Errorf("%s: power %v mW, want %v", c.tree, s.PowerMilliWatts, c.powerMW)
		}
		if s.MemTotalBytes != c.memTotalKB<<10 || s.MemUsedBytes == 0 || s.MemUsedBytes >= s.MemTotalBytes {
			t.Errorf("%s: memory %d/%d", c.tree, s.MemUsedBytes, s.MemTotalBytes)
		}
	}
}

func TestTegraXavierValues(t *testing.T) {
	tg, _ := NewTegra(fixture("xavier-jp5"))
	s, _ := tg.Snapshot()
	if s.Temperatures[1] != (Temperature{Zone: "GPU-therm", Celsius: 44}) {
		t.Errorf("GPU zone %+v", s.Temperatures[1])
	}
	for _, z := range s.Temperatures {
		if z.Zone == "Tdiode_tegra" {
			t.Error("zone without a temp file reported")
		}
	}
	if r := s.Rails[0]; r.Name != "GPU" || r.MilliVolts != 19120 || r.MilliAmps != 1136 || r.MilliWatts != 19120*1136/1000.0 {
		t.Errorf("GPU rail %+v", r)
	}
}

func TestTegraAbsentAndPartial(t *testing.T) {
	if _, err := NewTegra(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no Jetson GPU devfreq node") {
		t.Fatalf("empty root: %v", err)
	}
	// A tree with only the GPU node: every other reading is reported missing.
	root := t.TempDir()
	d := filepath.Join(root, "sys/class/devfreq/17000000.gpu")
	os.MkdirAll(filepath.Join(d, "device/of_node"), 0o755)
	os.WriteFile(filepath.Join(d, "device/of_node/name"), []byte("gpu\x00"), 0o644)
	os.WriteFile(filepath.Join(d, "cur_freq"), []byte("abc\n"), 0o644)
	tg, err := NewTegra(root)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tg.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if s.GPULoadPercent != -1 || s.PowerMilliWatts != -1 || s.GPUFreqHz != 0 {
		t.Errorf("unknowns not marked: %+v", s)
	}
	joined := strings.Join(s.Missing, "\n")
	for _, want := range []string{"gpu load", `"abc" is not an integer`, "temperatures", "no ina3221", "memory"} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing list lacks %q:\n%s", want, joined)
		}
	}
}

func TestOpenPicksTegra(t *testing.T) {
	tm, err := Open(fixture("orin-jp5"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tm.Close()
	if _, ok := tm.(*Tegra); !ok {
		t.Fatalf("Open on a Jetson tree gave %T", tm)
	}
}

// With no Jetson tree and no NVML library, Open says why for both.
func TestOpenNoSource(t *testing.T) {
	if _, err := os.Stat("/dev/nvidiactl"); err == nil {
		t.Skip("an NVIDIA driver is present: NVML may initialize")
	}
	_, err := Open(t.TempDir(), 0)
	if !errors.Is(err, ErrNoSource) || !strings.Contains(err.Error(), "devfreq") || !strings.Contains(err.Error(), "NVML unavailable") {
		t.Fatalf("Open = %v", err)
	}
}
