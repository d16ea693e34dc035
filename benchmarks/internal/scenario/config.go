package scenario

import "time"

// Mode is a preset of sizes and repetitions.
type Mode int

// The modes.
const (
	// Smoke is the smallest sizes, one repetition: the Go test.
	Smoke Mode = iota + 1
	// Quick is small sizes, one repetition: CI's smoke run (-quick).
	Quick
	// Full is the sizes of the committed results, five repetitions.
	Full
)

// String returns the mode's name.
func (m Mode) String() string {
	switch m {
	case Smoke:
		return "smoke"
	case Quick:
		return "quick"
	}
	return "full"
}

// DefaultReps returns the repetitions of a mode.
func (m Mode) DefaultReps() int {
	if m == Full {
		return 5
	}
	return 1
}

// Scenarios returns the scenarios of a mode. capacity is the number of
// idle connections the full mode holds in one process (0: skip).
func (m Mode) Scenarios(capacity int) []Scenario {
	switch m {
	case Smoke:
		return []Scenario{
			Idle([]int{20, 50}, 0),
			Fanout([]FanoutCase{{Subscribers: 20, Size: 64, Deliveries: 20_000}}),
			Paced([]PacedCase{{Subscribers: 20, Rate: 100, Duration: 500 * time.Millisecond, Size: 64}}),
			Poll([]PacedCase{{Subscribers: 20, Rate: 50, Duration: 500 * time.Millisecond, Size: 64, PollInterval: 50 * time.Millisecond}}),
			Slow(SlowCase{Subscribers: 10, Rate: 500, Duration: 500 * time.Millisecond, Size: 1024}),
			Churn(ChurnCase{Subscribers: 10, Churners: 5, Rate: 100, Duration: 500 * time.Millisecond}),
			Vanish(20, 0),
			MuxMemory([]int{20, 50}, 10),
			MuxFanout([]FanoutCase{
				{Subscribers: 20, Size: 64, Deliveries: 20_000},
				{Subscribers: 20, Size: 64, Deliveries: 20_000, Topics: 10},
			}),
		}
	case Quick:
		return []Scenario{
			Idle([]int{100, 500}, 0),
			Fanout([]FanoutCase{
				{Subscribers: 100, Size: 64, Deliveries: 200_000},
				{Subscribers: 1000, Size: 64, Deliveries: 300_000},
				{Subscribers: 1000, Size: 1024, Deliveries: 300_000},
			}),
			Paced([]PacedCase{{Subscribers: 100, Rate: 100, Duration: time.Second, Size: 64}}),
			Poll([]PacedCase{{Subscribers: 100, Rate: 50, Duration: time.Second, Size: 64, PollInterval: 100 * time.Millisecond}}),
			Slow(SlowCase{Subscribers: 50, Rate: 1000, Duration: time.Second, Size: 1024}),
			Churn(ChurnCase{Subscribers: 50, Churners: 20, Rate: 100, Duration: time.Second}),
			Vanish(1000, 0),
			MuxMemory([]int{100, 500}, 10),
			MuxFanout([]FanoutCase{
				{Subscribers: 1000, Size: 64, Deliveries: 300_000},
				{Subscribers: 1000, Size: 64, Deliveries: 300_000, Topics: 10},
			}),
		}
	}
	// Five repetitions of everything but holding the 19,000 connections
	// (once): about 25 minutes on a 2-core machine.
	return []Scenario{
		Idle([]int{1000, 5000, 10000}, capacity),
		Fanout([]FanoutCase{
			{Subscribers: 100, Size: 64, Deliveries: 200_000},
			{Subscribers: 1000, Size: 64, Deliveries: 200_000},
			{Subscribers: 10000, Size: 64, Deliveries: 320_000},
			{Subscribers: 1000, Size: 1024, Deliveries: 200_000},
		}),
		Paced([]PacedCase{{Subscribers: 1000, Rate: 100, Duration: 2 * time.Second, Size: 64}}),
		Poll([]PacedCase{{Subscribers: 1000, Rate: 50, Duration: 2 * time.Second, Size: 64, PollInterval: 100 * time.Millisecond}}),
		Slow(
			SlowCase{Subscribers: 50, Rate: 1000, Duration: 2500 * time.Millisecond, Size: 1024},
			// 1,000 live subscribers beside the stalled one: 100 k
			// deliveries/s, what a shared writer must keep up with.
			SlowCase{Subscribers: 1000, Rate: 100, Duration: 2500 * time.Millisecond, Size: 1024},
		),
		Churn(ChurnCase{Subscribers: 200, Churners: 50, Rate: 100, Duration: 1500 * time.Millisecond}),
		Vanish(10000, 3),
		MuxMemory([]int{1000, 2000, 3000}, 10),
		MuxFanout([]FanoutCase{
			{Subscribers: 1000, Size: 64, Deliveries: 400_000},
			{Subscribers: 1000, Size: 64, Deliveries: 400_000, Topics: 10},
			{Subscribers: 10000, Size: 64, Deliveries: 400_000},
		}),
	}
}
