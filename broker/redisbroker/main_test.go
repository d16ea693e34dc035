package redisbroker_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/rxstream/rxstream/broker/redisbroker"
	"github.com/rxstream/rxstream/internal/redistest"
)

func TestMain(m *testing.M) {
	redis.SetLogger(quiet{}) // the dial errors of the outage tests
	// After dial errors go-redis probes Redis on a goroutine of its own
	// that checks whether its pool closed once a second: it ends within
	// a second of Close.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// startRedis starts a redis-server of the test's own (see redistest).
func startRedis(t testing.TB, extra ...string) *redistest.Server {
	t.Helper()
	return redistest.Start(t, extra...)
}

var discard = slog.New(slog.DiscardHandler)

// newBroker connects a Broker for a test with short timeouts.
func newBroker(t testing.TB, o redisbroker.Options) *redisbroker.Broker {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	if o.ReconnectWait == 0 {
		o.ReconnectWait = 20 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = discard
	}
	b, err := redisbroker.New(context.Background(), &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
