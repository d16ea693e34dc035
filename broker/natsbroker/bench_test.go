package natsbroker_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rxstream/rxstream/broker/natsbroker"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/internal/clustertest"
)

// benchHubs returns the publishing and the subscribing Hub of a setup:
// the in-memory Hub (one process), or two nodes on one NATS server.
func benchHubs(b *testing.B, kind string) (pub, sub *framework.Hub) {
	b.Helper()
	if kind == "memory" {
		return clustertest.Memory(b)
	}
	o := natsbroker.Options{URL: startNATS(b).url(), MemoryStorage: kind == "nats-memory"}
	return clustertest.Nodes(b, func() framework.Broker { return newBroker(b, o) })
}

var benchKinds = []string{"memory", "nats-file", "nats-memory"}

// BenchmarkDeliveryLatency publishes one event at a time on one node and
// waits for it on another: ns/op is the publish-to-delivery latency.
func BenchmarkDeliveryLatency(b *testing.B) { clustertest.DeliveryLatency(b, benchKinds, benchHubs) }

// BenchmarkDeliveryThroughput publishes from 8 goroutines on one node
// while another node's subscribers drain: ns/op is per event delivered.
func BenchmarkDeliveryThroughput(b *testing.B) {
	clustertest.DeliveryThroughput(b, benchKinds[1:], benchHubs)
}

// BenchmarkReadBefore measures the backward read of a page of 10 or 100
// records before the newest one, or before the middle of a topic of 1,000
// records: alone in the stream, 1 in 100 of a 100,000-message stream
// evenly spread, and the same in 20 bursts of 50. rtt/op counts the
// requests sent to NATS. For scale, the read sub-benchmarks read as many
// forward (Read), and the count ones time one batched direct get of one
// message from the page's sequence, the probe a search by counting would
// repeat: JetStream counts the subject's messages after it for each.
func BenchmarkReadBefore(b *testing.B) {
	const records = 1000
	for _, layout := range []struct {
		name         string
		burst, other int // records of the topic in a row, then other messages
	}{
		{"alone", records, 0},
		{"1in100", 1, 99},
		{"1in100-bursts", 50, 50 * 99},
	} {
		b.Run(layout.name, func(b *testing.B) {
			br := newBroker(b, natsbroker.Options{URL: startNATS(b).url()})
			js, err := jetstream.New(br.Conn())
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var seqs []uint64
			for len(seqs) < records {
				for range layout.burst {
					c, err := br.Publish(ctx, "t", framework.Event{Data: []byte(`{"n":42}`)})
					if err != nil {
						b.Fatal(err)
					}
					seqs = append(seqs, c.Seq)
				}
				for i := range layout.other {
					if _, err := js.PublishAsync(natsbroker.DefaultPrefix+".o."+strconv.Itoa(i%200), []byte(`{"n":42}`)); err != nil {
						b.Fatal(err)
					}
				}
				<-js.PublishAsyncComplete()
			}
			for _, at := range []struct {
				name string
				idx  int // the page is before seqs[idx]; records: the newest
			}{{"newest", records}, {"middle", records / 2}} {
				before := uint64(0)
				if at.idx < records {
					before = seqs[at.idx]
				}
				rtt := func(b *testing.B, fn func() error) {
					sent := br.Conn().Stats().OutMsgs
					for b.Loop() {
						if err := fn(); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(br.Conn().Stats().OutMsgs-sent)/float64(b.N), "rtt/op")
				}
				for _, limit := range []int{10, 100} {
					b.Run(fmt.Sprintf("%s/limit=%d", at.name, limit), func(b *testing.B) {
						rtt(b, func() error {
							p, err := br.ReadBefore(ctx, "t", before, limit)
							if err == nil && len(p.Records) != limit {
								err = fmt.Errorf("%d records", len(p.Records))
							}
							return err
						})
					})
					b.Run(fmt.Sprintf("%s/limit=%d/read", at.name, limit), func(b *testing.B) {
						rtt(b, func() error {
							_, err := br.Read(ctx, "t", seqs[at.idx-limit]-1, limit)
							return err
						})
					})
				}
				b.Run(at.name+"/count", func(b *testing.B) {
					from := seqs[at.idx-10]
					req := []byte(`{"seq":` + strconv.FormatUint(from, 10) + `,"next_by_subj":"` + natsbroker.DefaultPrefix + `.t","batch":1}`)
					rtt(b, func() error {
						m, err := br.Conn().RequestWithContext(ctx, "$JS.API.DIRECT.GET."+natsbroker.DefaultStream, req)
						if err == nil && m.Header.Get("Nats-Num-Pending") == "" {
							err = errors.New("no count")
						}
						return err
					})
				})
			}
		})
	}
}
