package simd

import (
	"slices"
	"sync"
	"time"
)

var streamSink uint64

// readStreamGo is the portable read loop: eight independent 64-bit sums so
// the loop is bound by loads, not by one add chain.
func readStreamGo(p []byte) {
	var s [8]uint64
	for len(p) >= 64 {
		for i := 0; i < 8; i++ {
			j := i * 8
			s[i] += uint64(p[j]) | uint64(p[j+1])<<8 | uint64(p[j+2])<<16 | uint64(p[j+3])<<24 |
				uint64(p[j+4])<<32 | uint64(p[j+5])<<40 | uint64(p[j+6])<<48 | uint64(p[j+7])<<56
		}
		p = p[64:]
	}
	streamSink += s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7]
}

// MeasureReadBandwidth returns the machine's read bandwidth in GB/s (1e9
// bytes per second): threads goroutines each stream their share of a buffer
// of the given size (use one far larger than the last-level cache) with the
// widest vector loads the CPU has, as eight or four concurrent sequential
// streams with software prefetch and as eight without: the access patterns
// of the decode kernels. One pass warms the buffer (and faults in its pages), then
// five passes of each pattern are timed, interleaved, and the best is
// returned: the figure a kernel's streaming speed can be held against.
func MeasureReadBandwidth(threads int, bytes int) float64 {
	if threads < 1 {
		threads = 1
	}
	buf := make([]byte, max(bytes, 512*threads))
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = byte(i >> 12)
	}
	return MeasureReadBandwidthOf(buf, threads)
}

// MeasureReadBandwidthOf is MeasureReadBandwidth over a caller's buffer
// (for example the weights a benchmark is about to stream), so no second
// large buffer is needed.
func MeasureReadBandwidthOf(buf []byte, threads int) float64 {
	if threads < 1 {
		threads = 1
	}
	share := len(buf) / threads &^ 511
	if share == 0 {
		return 0
	}
	bytes := share * threads
	pass := func(readStream func([]byte)) time.Duration {
		var wg sync.WaitGroup
		start := time.Now()
		for t := 0; t < threads; t++ {
			wg.Add(1)
			go func(p []byte) {
				defer wg.Done()
				readStream(p)
			}(buf[t*share : (t+1)*share])
		}
		wg.Wait()
		return time.Since(start)
	}
	pass(readStreams[0])
	// Five rounds of every read pattern, interleaved, so that a change in
	// the machine's load hits them alike; the fastest pass counts.
	times := make([]time.Duration, 0, 5*len(readStreams))
	for range 5 {
		for _, rs := range readStreams {
			times = append(times, pass(rs))
		}
	}
	best := slices.Min(times)
	return float64(bytes) / best.Seconds() / 1e9
}
