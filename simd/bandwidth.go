package simd

import (
	"sync"
	"sync/atomic"
	"time"
)

// streamSink keeps readStreamGo's sums alive; goroutines of one pass add
// to it at once, hence atomically.
var streamSink atomic.Uint64

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
	streamSink.Add(s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7])
}

// MeasureReadBandwidth returns the machine's read bandwidth in GB/s (1e9
// bytes per second): threads goroutines stream a buffer of the given size
// (use one far larger than the last-level cache) in pieces of up to 1 MiB,
// each taken by whichever thread is free, with the widest vector loads the
// CPU has, as eight or four concurrent sequential streams with software
// prefetch 1 to 2.5 KiB ahead and as eight without: the access patterns of
// the decode kernels. One pass warms the buffer (and faults in its pages), then
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
	return NewReadProbe(buf, threads).Best()
}

// A ReadProbe measures the read bandwidth of a buffer again and again, in
// one short pass of every read loop at a time: a figure to take right
// before and after each short round of a benchmark, on a machine whose
// bandwidth moves within a second (the 2-vCPU VM of docs/PERFORMANCE.md
// switches between two levels about 25% apart), where a measurement of
// fifteen passes would span more than one.
//
// A pass hands the buffer out in pieces of probePiece bytes to whichever
// thread is free, as the Pool hands out an output head, rather than in one
// half per thread: with fixed halves a pass lasts as long as the slower
// thread, and the kernels, which balance their threads, read faster than
// such a figure (docs/PERFORMANCE.md).
type ReadProbe struct {
	buf     []byte
	threads int
	piece   int // bytes a thread takes at a time, a multiple of 512
	best    float64
}

// probePiece is the most a thread of a ReadProbe pass takes at a time.
const probePiece = 1 << 20

// NewReadProbe measures buf as MeasureReadBandwidthOf does: a warming
// pass, then five passes of every read loop, interleaved, the fastest
// counting (Best). threads below 1 count as 1.
func NewReadProbe(buf []byte, threads int) *ReadProbe {
	threads = max(threads, 1)
	p := &ReadProbe{buf: buf, threads: threads, piece: min(len(buf)/threads, probePiece) &^ 511}
	if p.piece == 0 {
		return p
	}
	p.buf = buf[:len(buf)/p.piece*p.piece]
	p.pass(readStreams[0])
	p.best = p.Measure(5)
	return p
}

// Best is the figure NewReadProbe measured, in GB/s (0 for a buffer too
// small to split over the threads).
func (p *ReadProbe) Best() float64 { return p.best }

// Measure times rounds (at least one) passes of every read loop,
// interleaved so that a change in the machine's load hits them alike, and
// returns the fastest in GB/s: the figure a kernel's streaming speed can
// be held against.
func (p *ReadProbe) Measure(rounds int) float64 {
	if p.piece == 0 {
		return 0
	}
	var best time.Duration
	for range max(rounds, 1) {
		for _, rs := range readStreams {
			if d := p.pass(rs); best == 0 || d < best {
				best = d
			}
		}
	}
	return p.gbps(best)
}

// pass streams the buffer with readStream, piece by piece, on p.threads
// goroutines and returns how long it took.
func (p *ReadProbe) pass(readStream func([]byte)) time.Duration {
	var wg sync.WaitGroup
	var next atomic.Int64
	start := time.Now()
	for range p.threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				o := int(next.Add(int64(p.piece))) - p.piece
				if o >= len(p.buf) {
					return
				}
				readStream(p.buf[o : o+p.piece])
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

func (p *ReadProbe) gbps(d time.Duration) float64 {
	return float64(len(p.buf)) / d.Seconds() / 1e9
}
