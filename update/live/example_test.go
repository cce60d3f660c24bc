package live_test

import (
	"context"
	"fmt"

	"github.com/speakez/barewire/update/live"
)

// weights stands for a mapped component file.
type weights struct{ name string }

func (w *weights) Close() error { fmt.Println("unmapped", w.name); return nil }

// Example swaps a release that changes one of two components while a
// request holds the old one.
func Example() {
	maps := live.NewMappings[*weights](nil)
	open := func(key string) *live.Mapping[*weights] {
		m, _ := maps.Get(key, func() (*weights, error) { return &weights{key}, nil })
		return m
	}
	l := live.New(live.Options[*weights]{})
	r1, _ := live.NewRelease("r1", map[string]*live.Mapping[*weights]{"embed": open("embed-a"), "head": open("head-a")})
	l.Swap(context.Background(), r1)

	req, done, _ := l.Acquire() // a request pins r1
	r2, _ := live.NewRelease("r2", map[string]*live.Mapping[*weights]{"embed": open("embed-a"), "head": open("head-b")})
	l.Swap(context.Background(), r2) // embed-a is shared: mapped once
	head, _ := req.Component("head")
	fmt.Println("request still reads", head.name, "; new requests get", l.Current())
	done() // the last pin of r1: head-a is unmapped now
	l.Close(context.Background())
	// Output:
	// request still reads head-a ; new requests get r2
	// unmapped head-a
	// unmapped embed-a
	// unmapped head-b
}
