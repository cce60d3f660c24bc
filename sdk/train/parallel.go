package train

import (
	"runtime"
	"sync"
)

// parallelFor splits [0, n) into one contiguous range per goroutine
// (GOMAXPROCS of them). Callers write disjoint outputs per index and keep
// every reduction in index order, so results do not depend on the number
// of goroutines.
func parallelFor(n int, fn func(i0, i1 int)) {
	t := min(runtime.GOMAXPROCS(0), n)
	if t <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := range t {
		i0, i1 := i*n/t, (i+1)*n/t
		wg.Go(func() { fn(i0, i1) })
	}
	wg.Wait()
}
