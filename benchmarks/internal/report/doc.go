// Package report holds a run's figures and writes them: Markdown, JSON and
// PNG charts (gonum.org/v1/plot), plus the progress lines on stderr.
//
//	model.go     Report, Result, Metric, Stat, Summarize (median, min, max), Slope (least squares)
//	machine.go   Machine: CPU model, cores, Go version, GOMAXPROCS, date
//	progress.go  Progress: a line per step
//	markdown.go  WriteFiles, Markdown, Num
//	charts.go    WriteCharts: latency.png, memory.png, fanout.png
//	targets.go   Targets: the project's goals against the figures
package report
