package natsbroker_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rxstream/rxstream/broker/natsbroker"
	"github.com/rxstream/rxstream/framework"
)

// streamInfo returns the stream's current configuration and state.
func streamInfo(t *testing.T, js jetstream.JetStream, name string) *jetstream.StreamInfo {
	t.Helper()
	st, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// TestMaxBytes: the stream's byte limit defaults to the memory broker's
// total, replaces the limits of an existing stream, and discards the oldest
// events of any topic, whose readers get a gap notice.
func TestMaxBytes(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			o := tg.setup(t)
			stream, prefix := o.Stream, o.Prefix
			if stream == "" {
				stream, prefix = natsbroker.DefaultStream, natsbroker.DefaultPrefix
			}
			nc, err := nats.Connect(o.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			// A stream left by an earlier version: no byte limit.
			if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
				Name: stream, Subjects: []string{prefix + ".>"}, MaxBytes: -1, MaxMsgsPerSubject: 5,
			}); err != nil {
				t.Fatal(err)
			}
			newBroker(t, o)
			if c := streamInfo(t, js, stream).Config; c.MaxBytes != framework.DefaultMaxBytes || c.MaxMsgsPerSubject != framework.DefaultMaxEvents {
				t.Fatalf("default limits: MaxBytes %d, MaxMsgsPerSubject %d", c.MaxBytes, c.MaxMsgsPerSubject)
			}

			// Events of 8,000 bytes: 60,000 bytes hold 7 of them with
			// JetStream's per-message overhead, not 8.
			const maxBytes = 60_000
			o.MaxBytes = maxBytes
			b := newBroker(t, o)
			if c := streamInfo(t, js, stream).Config; c.MaxBytes != maxBytes {
				t.Fatalf("updated MaxBytes %d, want %d", c.MaxBytes, maxBytes)
			}
			data := strings.Repeat("x", 8000)
			var as, bs []framework.Cursor
			for _, topic := range []string{"a", "a", "a", "a", "b", "b", "b", "b", "a", "a"} {
				c, err := b.Publish(context.Background(), topic, framework.Event{Data: []byte(data)})
				if err != nil {
					t.Fatal(err)
				}
				if topic == "a" {
					as = append(as, c)
				} else {
					bs = append(bs, c)
				}
			}
			state := streamInfo(t, js, stream).State
			if state.Bytes > maxBytes || state.Msgs != 7 {
				t.Fatalf("stream holds %d messages, %d bytes; want 7 within %d", state.Msgs, state.Bytes, maxBytes)
			}
			// The oldest three went: a0, a1, a2.
			for _, tc := range []struct {
				name, topic string
				after       uint64
				lost        bool
				first, last framework.Cursor
			}{
				{"discarded range", "a", 0, true, as[3], as[5]},
				{"after a seen event that is gone", "a", as[0].Seq, true, as[3], as[5]},
				{"from the newest discarded", "a", as[2].Seq, false, as[3], as[5]},
				{"untouched topic", "b", 0, false, bs[0], bs[3]},
			} {
				t.Run(tc.name, func(t *testing.T) {
					p, err := b.Read(context.Background(), tc.topic, tc.after, 100)
					if err != nil {
						t.Fatal(err)
					}
					n := len(p.Records)
					if p.Lost != tc.lost || n == 0 || p.Records[0].Seq != tc.first.Seq || p.Records[n-1].Seq != tc.last.Seq {
						t.Fatalf("Read %s after %d: Lost %v, %d records %v; want Lost %v, %v to %v",
							tc.topic, tc.after, p.Lost, n, p.Records, tc.lost, tc.first, tc.last)
					}
				})
			}
		})
	}
}
