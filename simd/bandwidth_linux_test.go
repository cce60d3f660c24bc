package simd

import (
	"testing"

	"golang.org/x/sys/unix"
)

// Every read loop of MeasureReadBandwidth stays inside its slice: each
// length is placed right before an inaccessible page (and right after
// one), so a read past either end faults.
func TestReadStreamsBounds(t *testing.T) {
	page := unix.Getpagesize()
	const span = 16 << 10
	mem, err := unix.Mmap(-1, 0, span+2*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	if err := unix.Mprotect(mem[:page], unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mprotect(mem[page+span:], unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	body := mem[page : page+span]
	for i, rs := range readStreams {
		for _, n := range []int{0, 1, 63, 511, 512, 513, 1024, 4096 + 64, 8192, span - 1, span} {
			rs(body[span-n:]) // ends at the guard page after
			rs(body[:n:n])    // starts at the guard page before
		}
		t.Logf("read loop %d of %d stayed inside its slices", i+1, len(readStreams))
	}
}
