package sse

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: every stream, its
// producer and the client's connections end with the test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
