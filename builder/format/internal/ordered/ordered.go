// Package ordered runs a transform over a stream of items on several
// goroutines while handing the results on in the order the items came in.
// kiln's writers use it to compress blocks on every core and still write a
// deterministic, sequential output.
//
//	err := ordered.Run(ctx, runtime.GOMAXPROCS(0), 8,
//		func() (block, bool, error) { ... },     // read the next block
//		func(b block) (packed, error) { ... },   // compress it (parallel)
//		func(p packed) error { ... })            // write it (in order)
package ordered

import (
	"context"
	"sync"
)

type slot[Out any] struct {
	out  Out
	err  error
	done chan struct{}
}

type job[In, Out any] struct {
	in   In
	slot *slot[Out]
}

// Run takes items from produce until it returns ok == false, applies work
// to them on up to workers goroutines, and calls consume with each result
// in production order. produce and consume run on one goroutine each, so
// they need no locking. At most depth items are in flight at once, which
// bounds memory. The first error (from any of the three functions, or the
// context) stops everything; Run returns only after all goroutines ended.
func Run[In, Out any](ctx context.Context, workers, depth int,
	produce func() (In, bool, error), work func(In) (Out, error), consume func(Out) error) error {
	workers = max(workers, 1)
	depth = max(depth, workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	jobs := make(chan job[In, Out])
	order := make(chan *slot[Out], depth)
	var wg sync.WaitGroup

	wg.Add(1)
	go func() { // producer
		defer wg.Done()
		defer close(order)
		defer close(jobs)
		for {
			in, ok, err := produce()
			if err == nil && !ok {
				return
			}
			s := &slot[Out]{done: make(chan struct{})}
			if err != nil {
				s.err = err
				close(s.done)
			}
			select {
			case order <- s:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
			select {
			case jobs <- job[In, Out]{in, s}:
			case <-ctx.Done():
				return
			}
		}
	}()

	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := ctx.Err(); err != nil {
					j.slot.err = err
				} else {
					j.slot.out, j.slot.err = work(j.in)
				}
				close(j.slot.done)
			}
		}()
	}

	err := func() error {
		for s := range order {
			select {
			case <-s.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			if s.err != nil {
				return s.err
			}
			if err := consume(s.out); err != nil {
				return err
			}
		}
		return ctx.Err()
	}()
	cancel()
	for range order { // unblock the producer
	}
	wg.Wait()
	return err
}
