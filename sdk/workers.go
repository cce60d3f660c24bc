package sdk

import "sync"

// workers is a fixed set of goroutines that split the float work of a
// layer (attention heads) the way simd.Pool splits matrix rows: started
// once per model, no goroutine and no allocation per call, one call at a
// time. Each item is computed whole by one worker, so the results do not
// depend on the number of threads.
type workers struct {
	mu    sync.Mutex
	n     int
	start []chan struct{}
	done  chan struct{}
	fn    func(worker, lo, hi int)
	items int
}

func newWorkers(n int) *workers {
	w := &workers{n: max(n, 1), done: make(chan struct{}, max(n, 1))}
	w.start = make([]chan struct{}, w.n)
	for i := 1; i < w.n; i++ {
		w.start[i] = make(chan struct{}, 1)
		go w.loop(i)
	}
	return w
}

func (w *workers) share(i int) (lo, hi int) {
	return w.items * i / w.n, w.items * (i + 1) / w.n
}

func (w *workers) loop(i int) {
	for range w.start[i] {
		if lo, hi := w.share(i); lo < hi {
			w.fn(i, lo, hi)
		}
		w.done <- struct{}{}
	}
}

// run calls fn(worker, lo, hi) over disjoint ranges covering [0, items),
// worker 0 being the caller, and returns when all are done.
func (w *workers) run(items int, fn func(worker, lo, hi int)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n == 1 || items < 2 {
		fn(0, 0, items)
		return
	}
	w.fn, w.items = fn, items
	for i := 1; i < w.n; i++ {
		w.start[i] <- struct{}{}
	}
	if lo, hi := w.share(0); lo < hi {
		fn(0, lo, hi)
	}
	for i := 1; i < w.n; i++ {
		<-w.done
	}
	w.fn = nil
}

func (w *workers) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := 1; i < w.n; i++ {
		close(w.start[i])
	}
	w.n = 1
}
