package telemetry

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// gpuNodes are the device-tree names of Jetson integrated GPUs: gp10b (TX2),
// gv11b (Xavier), ga10b (Orin), "gpu" (JetPack 6 device trees). Discovery by
// of_node name follows jetson_stats (jtop/core/gpu.py).
var gpuNodes = []string{"gv11b", "ga10b", "gp10b", "gpu"}

// Tegra reads Jetson sysfs: the GPU's devfreq node (load, clock), thermal
// zones, INA3221 power monitors (hwmon) and /proc/meminfo.
type Tegra struct {
	Root    string // "/" on a device; a fixture tree in tests
	devfreq string // GPU devfreq directory under Root
	node    string // its of_node name
}

// NewTegra finds the integrated GPU under root; it fails on machines that
// are not Jetsons.
func NewTegra(root string) (*Tegra, error) {
	dirs, _ := filepath.Glob(filepath.Join(root, "sys/class/devfreq/*"))
	for _, d := range dirs {
		name, err := readString(filepath.Join(d, "device/of_node/name"))
		if err != nil {
			continue
		}
		if slices.Contains(gpuNodes, name) {
			return &Tegra{Root: root, devfreq: d, node: name}, nil
		}
	}
	return nil, fmt.Errorf("telemetry: no Jetson GPU devfreq node under %s (looked for of_node names %v)",
		filepath.Join(root, "sys/class/devfreq"), gpuNodes)
}

// Close does nothing: sysfs files are opened per reading.
func (t *Tegra) Close() error { return nil }

// Snapshot reads all sources; a missing one is noted, not fatal.
func (t *Tegra) Snapshot() (Snapshot, error) {
	s := Snapshot{Time: time.Now(), Source: "tegra-sysfs", Device: t.node, GPULoadPercent: -1, PowerMilliWatts: -1}
	miss := func(what string, err error) { s.Missing = append(s.Missing, what+": "+err.Error()) }

	// load is in per mille, next to the devfreq device (jtop/core/gpu.py).
	if v, err := readInt(filepath.Join(t.devfreq, "device/load")); err == nil {
		s.GPULoadPercent = float64(v) / 10
	} else {
		miss("gpu load", err)
	}
	if v, err := readInt(filepath.Join(t.devfreq, "cur_freq")); err == nil {
		s.GPUFreqHz = v
	} else {
		miss("gpu clock", err)
	}
	if v, err := readInt(filepath.Join(t.devfreq, "max_freq")); err == nil {
		s.GPUMaxFreqHz = v
	} else {
		miss("gpu max clock", err)
	}

	zones, _ := filepath.Glob(filepath.Join(t.Root, "sys/devices/virtual/thermal/thermal_zone*"))
	slices.SortFunc(zones, func(a, b string) int { return zoneIndex(a) - zoneIndex(b) })
	for _, z := range zones {
		name, err1 := readString(filepath.Join(z, "type"))
		milli, err2 := readInt(filepath.Join(z, "temp"))
		if err1 != nil || err2 != nil {
			continue // zones of powered-down blocks return errors on read
		}
		s.Temperatures = append(s.Temperatures, Temperature{Zone: name, Celsius: float64(milli) / 1000})
	}
	if len(zones) == 0 {
		miss("temperatures", fmt.Errorf("no thermal zones"))
	}

	rails, err := t.rails()
	if err != nil {
		miss("power", err)
	}
	s.Rails = rails
	if len(rails) > 0 {
		s.PowerMilliWatts = 0
		for _, r := range rails {
			if r.Name == "VDD_IN" || r.Name == "POM_5V_IN" {
				s.PowerMilliWatts = r.MilliWatts
				break
			}
			s.PowerMilliWatts += r.MilliWatts
		}
	}

	if total, avail, err := meminfo(filepath.Join(t.Root, "proc/meminfo")); err == nil {
		s.MemTotalBytes, s.MemUsedBytes = total, total-avail
	} else {
		miss("memory", err)
	}
	return s, nil
}

func zoneIndex(p string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(filepath.Base(p), "thermal_zone"))
	return n
}

// rails reads every INA3221 channel under the i2c devices: hwmon
// in<N>_label, in<N>_input (mV), curr<N>_input (mA). Unconnected channels
// ("NC") and channel 7, the sum of shunt voltages, are skipped
// (jtop/core/power.py).
func (t *Tegra) rails() ([]Rail, error) {
	devs, _ := filepath.Glob(filepath.Join(t.Root, "sys/bus/i2c/devices/*"))
	var out []Rail
	found := false
	for _, d := range devs {
		name, err := readString(filepath.Join(d, "name"))
		if err != nil || !strings.Contains(name, "ina3221") {
			continue
		}
		found = true
		hw, _ := filepath.Glob(filepath.Join(d, "hwmon/hwmon*"))
		for _, h := range hw {
			for ch := 1; ch <= 3; ch++ {
				label, err := readString(filepath.Join(h, fmt.Sprintf("in%d_label", ch)))
				if err != nil || label == "" || strings.Contains(label, "NC") {
					continue
				}
				mv, err1 := readInt(filepath.Join(h, fmt.Sprintf("in%d_input", ch)))
				ma, err2 := readInt(filepath.Join(h, fmt.Sprintf("curr%d_input", ch)))
				if err1 != nil || err2 != nil {
					continue
				}
				out = append(out, Rail{Name: label, MilliVolts: float64(mv), MilliAmps: float64(ma), MilliWatts: float64(mv) * float64(ma) / 1000})
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("no ina3221 device under %s", filepath.Join(t.Root, "sys/bus/i2c/devices"))
	}
	return out, nil
}

// meminfo returns MemTotal and MemAvailable in bytes. On Jetson the GPU
// allocates from the same RAM, so this, not cuMemGetInfo, is the memory
// budget (CUDA for Tegra app note §3.3).
func meminfo(path string) (total, avail uint64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "MemTotal:":
			total = v << 10
		case "MemAvailable:":
			avail = v << 10
		}
	}
	if total == 0 || avail > total {
		return 0, 0, fmt.Errorf("%s: no usable MemTotal/MemAvailable", path)
	}
	return total, avail, nil
}

func readString(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(strings.TrimSpace(string(b)), "\x00"), nil
}

func readInt(path string) (int64, error) {
	s, err := readString(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not an integer", path, s)
	}
	return v, nil
}
