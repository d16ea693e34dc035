package load

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rxstream/rxstream/benchmarks/internal/servers"
)

// TestTopicsClients follows three topics on one connection of each
// multiplexing rxstream contender, served in this process, and checks that
// every event of every topic arrives once and in order on its own Sub.
func TestTopicsClients(t *testing.T) {
	for _, c := range servers.All() {
		client := TopicsClientFor(c.Transport)
		if !c.Mux || client == nil {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			srv, err := c.New()
			if err != nil {
				t.Fatal(err)
			}
			mux := srv.(servers.Multiplexer)
			hs := httptest.NewServer(srv.Handler())
			defer hs.Close()
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			const events = 50
			names := []string{servers.TopicName(0), servers.TopicName(1), servers.TopicName(2)}
			tr := &Tracker{Events: events}
			subs := []*Sub{tr.NewSub(), tr.NewSub(), tr.NewSub()}
			var cs Counters
			var wg sync.WaitGroup
			cctx, stop := context.WithCancel(ctx)
			wg.Go(func() {
				client(cctx, nil, strings.TrimPrefix(hs.URL, "http://"), names, subs, &cs, Options{})
			})
			publish := func(seq int) {
				for _, n := range names {
					if err := mux.PublishTopic(ctx, n, seq, servers.Payload(nil, seq, time.Now(), 64)); err != nil {
						t.Fatal(err)
					}
				}
			}
			for !AllWarm(subs) && ctx.Err() == nil {
				publish(0)
				time.Sleep(10 * time.Millisecond)
			}
			for seq := 1; seq <= events; seq++ {
				publish(seq)
			}
			for tr.Complete() < int64(len(subs)) && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			stop()
			wg.Wait()
			r := tr.Tally()
			if r.Lost != 0 || r.Duplicated != 0 || r.OutOfOrder != 0 || r.Malformed != 0 || r.Gaps != 0 {
				t.Fatalf("tally %+v", r)
			}
			if cs.Errors.Load() != 0 || cs.Connects.Load() != 1 {
				t.Fatalf("%d connects, %d errors: %s", cs.Connects.Load(), cs.Errors.Load(), cs.FirstError())
			}
		})
	}
}

func TestTopicsPath(t *testing.T) {
	if got, want := topicsPath([]string{"a", "b-1"}), "/sub?topic=a&topic=b-1"; got != want {
		t.Fatalf("topicsPath = %q, want %q", got, want)
	}
}

func TestEnvelopes(t *testing.T) {
	msg := `[{"id":"E-1","data":"1 2 x"},{"id":"E-2","event":"gap","data":"{\"last\":\"E-1\",\"next\":\"}\"}"},{"data":"a\"}{"}]`
	var got []string
	envelopes(true, []byte(msg), func(b []byte) { got = append(got, string(b)) })
	want := []string{`{"id":"E-1","data":"1 2 x"}`, `{"id":"E-2","event":"gap","data":"{\"last\":\"E-1\",\"next\":\"}\"}"}`, `{"data":"a\"}{"}`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q", got)
	}
	got = nil
	envelopes(false, []byte(msg), func(b []byte) { got = append(got, string(b)) })
	if len(got) != 1 || got[0] != msg {
		t.Fatalf("not batched: %q", got)
	}
}
