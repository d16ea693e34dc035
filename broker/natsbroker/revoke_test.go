package natsbroker_test

import (
	"testing"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/broker/natsbroker"
	"github.com/rxstream/rxstream/internal/clustertest"
)

var _ adapters.Relay = (*natsbroker.Broker)(nil)

// TestRevokeOnEveryNode runs the cross-node revocation test on NATS, file
// and memory storage.
func TestRevokeOnEveryNode(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			o := tg.setup(t)
			clustertest.Revoke(t, func(t *testing.T) clustertest.RelayBroker { return newBroker(t, o) })
		})
	}
}
