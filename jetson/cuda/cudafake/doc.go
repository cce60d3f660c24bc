// Package cudafake is an in-memory cuda.Driver for tests: it records every
// call, enforces the rules of the real driver that the backend depends on
// (attributes gate host registration, overlapping registrations are refused,
// device memory is bounded), can be told to fail any call, and runs kernels
// by calling Go functions on its fake device memory.
package cudafake
