package ordered

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

func TestRunKeepsOrder(t *testing.T) {
	n := 0
	var got []int
	err := Run(context.Background(), 4, 8,
		func() (int, bool, error) { n++; return n, n <= 1000, nil },
		func(i int) (int, error) {
			time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond)
			return i * 2, nil
		},
		func(v int) error { got = append(got, v); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1000 {
		t.Fatalf("got %d results, want 1000", len(got))
	}
	for i, v := range got {
		if v != (i+1)*2 {
			t.Fatalf("result %d = %d, want %d", i, v, (i+1)*2)
		}
	}
}

func TestRunStopsOnError(t *testing.T) {
	boom := errors.New("boom")
	for _, where := range []string{"produce", "work", "consume"} {
		t.Run(where, func(t *testing.T) {
			n := 0
			consumed := 0
			err := Run(context.Background(), 3, 6,
				func() (int, bool, error) {
					n++
					if where == "produce" && n == 50 {
						return 0, false, boom
					}
					return n, true, nil // endless unless stopped
				},
				func(i int) (int, error) {
					if where == "work" && i == 50 {
						return 0, boom
					}
					return i, nil
				},
				func(v int) error {
					consumed++
					if where == "consume" && v == 50 {
						return boom
					}
					return nil
				})
			if !errors.Is(err, boom) {
				t.Fatalf("Run() = %v, want boom", err)
			}
			if consumed > 50 {
				t.Errorf("consumed %d items after the error at 50", consumed)
			}
		})
	}
}

func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Run(ctx, 2, 2,
		func() (int, bool, error) { return 1, true, nil },
		func(i int) (int, error) { return i, nil },
		func(int) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run() = %v, want context.Canceled", err)
	}
}
