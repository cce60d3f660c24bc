package train

import (
	"fmt"
	"io"
	"time"
)

// Progress prints one line per report on a writer (stderr in the
// programs): step, loss, throughput and the estimated time left.
type Progress struct {
	W     io.Writer
	Total int    // steps in the run
	Unit  string // what is counted: "img", "tok"
	start time.Time
	first int // step at which timing started (after a resume)
	items int64
}

// Start begins timing at step (non-zero when resuming).
func (p *Progress) Start(step int) {
	p.start, p.first, p.items = time.Now(), step, 0
}

// Add counts items processed.
func (p *Progress) Add(items int) { p.items += int64(items) }

// Report prints "step s/T loss L, N unit/s, ETA d" plus extra text.
func (p *Progress) Report(step int, loss float64, extra string) {
	if p.W == nil {
		return
	}
	el := time.Since(p.start)
	rate := float64(p.items) / max(el.Seconds(), 1e-9)
	done := step - p.first
	eta := time.Duration(0)
	if done > 0 {
		eta = time.Duration(float64(el) / float64(done) * float64(p.Total-step))
	}
	fmt.Fprintf(p.W, "step %d/%d loss %.4f %.0f %s/s elapsed %s ETA %s%s\n",
		step, p.Total, loss, rate, p.Unit, el.Round(time.Second), eta.Round(time.Second), extra)
}

// Elapsed is the time since Start.
func (p *Progress) Elapsed() time.Duration { return time.Since(p.start) }
