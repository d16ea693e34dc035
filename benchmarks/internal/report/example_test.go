package report_test

import (
	"fmt"

	"github.com/rxstream/rxstream/benchmarks/internal/report"
)

func ExampleSummarize() {
	s := report.Summarize([]float64{5, 1, 4, 2, 3})
	fmt.Println(s.Median, s.Min, s.Max)
	// Output: 3 1 5
}

func ExampleSlope() {
	// RSS in KiB against connections: 24 KiB per connection over 8 MiB.
	n := []float64{0, 1000, 5000, 10000}
	rss := []float64{8192, 8192 + 24000, 8192 + 120000, 8192 + 240000}
	b, a := report.Slope(n, rss)
	fmt.Printf("%.1f KiB per connection, %.0f KiB base\n", b, a)
	// Output: 24.0 KiB per connection, 8192 KiB base
}

func ExampleNum() {
	fmt.Println(report.Num(1234567), report.Num(45678), report.Num(3.14159))
	// Output: 1.23M 45.7k 3.14
}
