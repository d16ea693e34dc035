package framework

import (
	"fmt"
	"testing"
)

// BenchmarkSubscribeClose is the cost of one subscription's join and
// leave of a followed topic: anonymous (only counted), as a user (one
// entry per user), and as a user while 100 subscriptions watch the
// topic's presence (each join and leave queued for every watcher).
func BenchmarkSubscribeClose(b *testing.B) {
	for _, c := range []struct {
		name     string
		user     bool
		watchers int
	}{{"anonymous", false, 0}, {"user", true, 0}, {"user/watchers=100", true, 100}} {
		b.Run(c.name, func(b *testing.B) {
			h := newHub(b, &HubOptions{PresenceWindow: -1, Overflow: OverflowDropOldest}) // a watcher behind loses events, and stays
			for range max(c.watchers, 1) {                                                // keeps the topic followed
				s, _ := h.SubscribeWith("room", "", &SubscribeOptions{Presence: c.watchers > 0})
				defer s.Close()
				if c.watchers > 0 {
					go func() { // drains its queue, as a connection's writer does
						for {
							if _, err := s.Next(b.Context(), 0); err != nil {
								return
							}
						}
					}()
				}
			}
			o := &SubscribeOptions{}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if c.user {
					o.User = fmt.Sprint("u", i%1000)
				}
				s, err := h.SubscribeWith("room", "", o)
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
		})
	}
}
