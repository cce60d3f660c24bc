// Package jetson is the CUDA backend of BAREWire Edge for NVIDIA Jetson
// (Xavier, Orin) and discrete NVIDIA GPUs.
//
// Open loads the CUDA driver at run time (package cuda; no toolkit needed to
// build), probes the device and JIT-loads the PTX kernels of package kernels.
// PlaceWeights puts a mapped model where the GPU can read it: on an
// integrated GPU the mapping is registered and read in place
// (UnifiedAddressSpace, with session state in device memory:
// PartiallyUnifiedHybrid), on a discrete GPU it is copied once
// (DiscreteDevices); the choice comes from device attributes (Decide), can be
// overridden, and is reported with its reason. TensorParallel splits a
// matrix's rows between the GPU and the CPU. Telemetry lives in
// jetson/telemetry, and jetson/devicecheck checks a real GPU against the CPU.
package jetson
