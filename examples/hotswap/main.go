// Command hotswap shows the in-process hot swap for a device program that
// links the SDK: worker goroutines classify in a loop, each request pinning
// the release it started with, while the main goroutine swaps between two
// models. Each swap maps and warms the next model, runs a test inference,
// then stores one pointer; the replaced model is unmapped when its last
// request finishes.
//
//	go run ./examples/hotswap -a testdata/mlp-tiny-release -b testdata/mlp-tiny.bwm
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/speakez/barewire/sdk"
	"github.com/speakez/barewire/update/live"
)

func main() {
	a := flag.String("a", "testdata/mlp-tiny-release", "first model (file or release directory)")
	b := flag.String("b", "testdata/mlp-tiny.bwm", "second model")
	swaps := flag.Int("swaps", 6, "number of swaps")
	every := flag.Duration("every", 200*time.Millisecond, "time between swaps")
	workers := flag.Int("workers", 4, "goroutines classifying")
	flag.Parse()
	if err := run(*a, *b, *swaps, *every, *workers, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run classifies on workers goroutines while swapping between models a and
// b swaps times, and prints what happened to out.
func run(a, b string, swaps int, every time.Duration, workers int, w io.Writer) error {
	// OnClosed runs in whichever goroutine drops the last pin: serialize
	// the output.
	out := &lockedWriter{w: w}

	// *sdk.Model has Close, so it can be a release's component. A release
	// here is one whole model in slot "model".
	l := live.New(live.Options[*sdk.Model]{
		DrainTimeout: 5 * time.Second,
		Warm: func(ctx context.Context, r *live.Release[*sdk.Model]) error {
			m, _ := r.Component("model")
			return m.Warm() // madvise(WILLNEED): page the weights in before traffic
		},
		Check: func(ctx context.Context, r *live.Release[*sdk.Model]) error {
			m, _ := r.Component("model")
			scores, _, err := m.Classify(ctx, make([]float32, m.Inputs()))
			if err != nil {
				return err
			}
			for _, s := range scores {
				if math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
					return fmt.Errorf("test inference gave %v", s)
				}
			}
			return nil
		},
		OnDrainTimeout: func(id string, pins int64) { log.Printf("release %s still used by %d requests", id, pins) },
		OnClosed: func(id string, d time.Duration, err error) {
			fmt.Fprintf(out, "  %s unmapped %v after it was replaced (err %v)\n", id, d.Round(time.Microsecond), err)
		},
	})
	open := func(path, id string) (*live.Release[*sdk.Model], error) {
		m, err := sdk.Open(path, sdk.WithThreads(1))
		if err != nil {
			return nil, err
		}
		r, err := live.NewRelease(id, map[string]*live.Mapping[*sdk.Model]{"model": live.Adopt(path, m)})
		if err != nil {
			m.Close()
			return nil, err
		}
		return r, nil
	}
	first, err := open(a, "a-0")
	if err != nil {
		return err
	}
	if _, err := l.Swap(context.Background(), first); err != nil {
		return err
	}

	var served sync.Map // release id → *atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	img := make([]float32, 784)
	for i := range img {
		if c := i % 28; c >= 12 && c < 16 {
			img[i] = 255
		}
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				r, done, err := l.Acquire() // pin for the whole request
				if err != nil {
					failed.Store(&err)
					return
				}
				m, _ := r.Component("model")
				_, _, err = m.Classify(context.Background(), img)
				done() // after the last read of the mapped weights
				if err != nil {
					failed.Store(&err)
					return
				}
				n, _ := served.LoadOrStore(r.ID(), new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}
		}()
	}
	for i := 1; i <= swaps; i++ {
		time.Sleep(every)
		path, id := a, fmt.Sprintf("a-%d", i)
		if i%2 == 1 {
			path, id = b, fmt.Sprintf("b-%d", i)
		}
		next, err := open(path, id)
		if err != nil {
			fmt.Fprintf(out, "cannot open %s: %v; %s keeps serving\n", path, err, l.Current())
			continue
		}
		old, err := l.Swap(context.Background(), next)
		if err != nil {
			next.Discard() // the running release stays
			fmt.Fprintf(out, "swap to %s refused: %v\n", id, err)
			continue
		}
		fmt.Fprintf(out, "swapped %s -> %s\n", old, id)
	}
	time.Sleep(every)
	stop.Store(true)
	wg.Wait()
	if err := l.Close(context.Background()); err != nil {
		return err
	}
	if p := failed.Load(); p != nil {
		return *p
	}
	var ids []string
	served.Range(func(k, v any) bool { ids = append(ids, k.(string)); return true })
	sort.Strings(ids)
	for _, id := range ids {
		n, _ := served.Load(id)
		fmt.Fprintf(out, "release %s served %d requests\n", id, n.(*atomic.Int64).Load())
	}
	return nil
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
