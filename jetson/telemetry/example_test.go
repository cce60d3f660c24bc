package telemetry_test

import (
	"fmt"

	"github.com/speakez/barewire/jetson/telemetry"
)

// Reading a Jetson Orin Nano's sysfs; on a device the root is "/".
func Example() {
	t, err := telemetry.Open("../testdata/sysfs/orin-nano-jp6", 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer t.Close()
	s, _ := t.Snapshot()
	fmt.Printf("%s %s: GPU %.1f%% at %d MHz, %.0f mW, %s %.1f°C\n", s.Source, s.Device,
		s.GPULoadPercent, s.GPUFreqHz/1e6, s.PowerMilliWatts, s.Temperatures[0].Zone, s.Temperatures[0].Celsius)
	// Output: tegra-sysfs gpu: GPU 99.8% at 624 MHz, 7239 mW, cpu-thermal 47.5°C
}
