// Package telemetry reads GPU load, clocks, temperatures, power and memory
// of the machine the jetson backend runs on: from sysfs on Jetson (Xavier,
// Orin: NVML is not supported there before Thor, CUDA for Tegra app note
// §4.7) and from NVML (go-nvml) on discrete GPUs. Both are behind the
// Telemetry interface; every reader takes a root directory so tests run on
// fixture trees.
package telemetry
