//go:build race

package serve

// raceEnabled: the race detector slows every goroutine several fold, the
// update path (hashing, verifying) most, so latency bounds are not
// asserted under it.
const raceEnabled = true
