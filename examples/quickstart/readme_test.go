package main

import (
	"os"
	"strings"
	"testing"
)

// TestREADME keeps the README's usage example identical to this program, so
// the README shows code that compiles.
func TestREADME(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	// The README shows main.go from its import block on.
	code := string(src[strings.Index(string(src), "import ("):])
	if !strings.Contains(string(readme), "```go\n"+code+"```") {
		t.Fatal("README.md's usage example differs from examples/quickstart/main.go (from `import (` on): update the README")
	}
}
