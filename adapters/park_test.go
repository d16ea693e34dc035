//go:build linux

package adapters_test

import "testing"

// TestParkedWebSocket runs the tests of authorization, revocation,
// refresh and limits with the WebSocket server's single-topic connections
// parked (websocket.Options.Park): the same close codes (4401, 4403,
// 1008, 1013), refresh answers and hooks as on the handler's goroutine.
func TestParkedWebSocket(t *testing.T) {
	t.Run("Expiry", TestExpiryEndsEveryTransport)
	t.Run("Revoke", TestRevoke)
	t.Run("RevokeTopicOfSeveral", TestRevokeTopicOfSeveral)
	t.Run("Refresh", TestWebSocketRefresh)
	t.Run("Limits", TestLimits)
}
