package serve

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/speakez/barewire/jetson/telemetry"
)

// gpuCollector exports one fresh telemetry.Snapshot per scrape. Readings
// the source could not take (negative load or power, zero clocks or memory:
// the conventions of telemetry.Snapshot) are left out rather than exported
// as values a dashboard would plot. A failed Snapshot only increments
// errors: the rest of the scrape still succeeds.
type gpuCollector struct {
	src    telemetry.Telemetry
	errors prometheus.Counter

	info, load, clock, maxClock, temp, power, railPower, memTotal, memUsed *prometheus.Desc
}

func newGPUCollector(src telemetry.Telemetry) *gpuCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &gpuCollector{
		src: src,
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "barewire_gpu_telemetry_errors_total", Help: "Scrapes whose GPU telemetry snapshot failed (no GPU metrics in them).",
		}),
		info:      d("barewire_gpu_telemetry_info", "1, labelled with the telemetry source (tegra-sysfs or nvml) and the GPU it reads.", "source", "device"),
		load:      d("barewire_gpu_load_ratio", "GPU busy fraction, 0 to 1."),
		clock:     d("barewire_gpu_clock_hertz", "GPU clock."),
		maxClock:  d("barewire_gpu_max_clock_hertz", "Highest GPU clock allowed now (devfreq max_freq on Jetson, the maximum graphics clock on NVML)."),
		temp:      d("barewire_gpu_temperature_celsius", "Temperature per thermal zone: every SoC zone on Jetson, the GPU sensor on NVML.", "zone"),
		power:     d("barewire_gpu_power_watts", "Board input power on Jetson (VDD_IN, POM_5V_IN, else the sum of the rails); the GPU's draw on NVML."),
		railPower: d("barewire_gpu_rail_power_watts", "Power per INA3221 rail (Jetson).", "rail"),
		memTotal:  d("barewire_gpu_memory_total_bytes", "GPU memory (on Jetson the RAM the CPU and GPU share)."),
		memUsed:   d("barewire_gpu_memory_used_bytes", "GPU memory in use (on Jetson MemTotal - MemAvailable)."),
	}
}

// Describe implements prometheus.Collector.
func (c *gpuCollector) Describe(ch chan<- *prometheus.Desc) {
	c.errors.Describe(ch)
	for _, d := range []*prometheus.Desc{c.info, c.load, c.clock, c.maxClock, c.temp, c.power, c.railPower, c.memTotal, c.memUsed} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *gpuCollector) Collect(ch chan<- prometheus.Metric) {
	s, err := c.src.Snapshot()
	if err != nil {
		c.errors.Inc()
		c.errors.Collect(ch)
		return
	}
	c.errors.Collect(ch)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.info, 1, s.Source, s.Device)
	if s.GPULoadPercent >= 0 {
		gauge(c.load, s.GPULoadPercent/100)
	}
	if s.GPUFreqHz > 0 {
		gauge(c.clock, float64(s.GPUFreqHz))
	}
	if s.GPUMaxFreqHz > 0 {
		gauge(c.maxClock, float64(s.GPUMaxFreqHz))
	}
	if s.PowerMilliWatts >= 0 {
		gauge(c.power, s.PowerMilliWatts/1000)
	}
	// Two zones or rails with one name would make the registry refuse the
	// whole scrape: later ones get "#2", "#3"...
	for _, z := range uniqueNames(len(s.Temperatures), func(i int) string { return s.Temperatures[i].Zone }) {
		gauge(c.temp, s.Temperatures[z.i].Celsius, z.name)
	}
	for _, r := range uniqueNames(len(s.Rails), func(i int) string { return s.Rails[i].Name }) {
		gauge(c.railPower, s.Rails[r.i].MilliWatts/1000, r.name)
	}
	if s.MemTotalBytes > 0 {
		gauge(c.memTotal, float64(s.MemTotalBytes))
		gauge(c.memUsed, float64(s.MemUsedBytes))
	}
}

type indexedName struct {
	i    int
	name string
}

func uniqueNames(n int, name func(int) string) []indexedName {
	seen := make(map[string]int, n)
	out := make([]indexedName, n)
	for i := range n {
		nm := name(i)
		seen[nm]++
		if k := seen[nm]; k > 1 {
			nm = fmt.Sprintf("%s#%d", nm, k)
		}
		out[i] = indexedName{i, nm}
	}
	return out
}
