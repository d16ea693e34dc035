// Package cli is the rxbench command behind cmd/rxbench and the smoke test.
//
//	cli.go    Serving (the server-process mode), Config and Parse (the flags), Run (the suite, the outputs), -pin
//	check.go  Check: what fails a smoke run (a failed scenario; anything lost, duplicated or reordered)
package cli
