package load_test

import (
	"fmt"

	"github.com/rxstream/rxstream/benchmarks/internal/load"
)

func ExampleTracker() {
	t := &load.Tracker{Events: 3}
	s := t.NewSub()
	s.Event(0, 0) // warm-up
	s.Event(1, 0)
	s.Event(3, 0) // 2 is missing so far
	s.Event(2, 0) // late: out of order
	s.Event(2, 0) // again: duplicated
	r := t.Tally()
	fmt.Println(s.Warm(), r.Delivered, r.Lost, r.OutOfOrder, r.Duplicated)
	// Output: true 3 0 1 1
}
