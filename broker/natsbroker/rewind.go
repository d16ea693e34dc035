package natsbroker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rxstream/rxstream/framework"
)

var _ framework.Rewinder = (*Broker)(nil)

// ReadBefore implements [framework.Rewinder].
//
// All topics share the stream, so a topic's records are interleaved with
// other topics' and the N newest before a sequence cannot be told from
// sequence numbers. ReadBefore follows the chain the records carry (each
// names its topic predecessor, Rx-Prev, enforced on publish): the newest
// record below the bound (the topic's last message, or a direct get of
// the subject's last message up to the sequence before the bound), then
// up to walkFirst predecessors by their sequence, a direct get each, then
// the rest in windows of stream sequences ending at the next older record,
// each read forward in one batch (see walk.run). A topic's retained records
// are always the newest of its chain, so the read ends exactly at the
// oldest retained one.
//
// Measured with BenchmarkReadBefore (one in-process server, file storage,
// 2 shared cores; a topic of 1,000 records, alone in the stream or 1 in
// 100 of a 100,000-message stream, evenly or in bursts of 50; the page
// before the newest record or the middle one): a page of 10 takes 11 or 12
// requests, 0.9 to 1.6 ms; a page of 100, 17 to 20 requests, 3.8 ms (the
// topic alone) to 15 ms (in bursts, in the middle of the 100,000).
// Walking all 100 took 101 requests, 6 to 12 ms on loopback but a round
// trip per record over a network. A batch costs more the deeper it
// starts: JetStream counts the subject's messages after its start by
// scanning them (the count sub-benchmarks, one batch of one message: 0.1
// to 0.45 ms at the newest records, 3.1 to 3.5 ms in the middle of the
// 100,000). That is why the start of the page is not searched for by
// counting: tried, 4 to 17 such probes cost 12 to 69 ms for a page of 10
// in the middle.
//
// Start is exact. Lost is too when the oldest retained record names a
// predecessor; one published when the topic held nothing names none, and
// Lost is then reported unless the stream had discarded nothing by then
// (its Rx-Floor is 1): it may name a loss that did not happen (a new topic
// on a stream that discarded other topics' events), never misses one. A
// topic that holds nothing reports Lost for any bound above 1.
func (b *Broker) ReadBefore(ctx context.Context, topic string, before uint64, limit int) (framework.Page, error) {
	subject, err := Subject(b.opts.Prefix, topic)
	if err != nil {
		return framework.Page{}, err
	}
	if err := ctx.Err(); err != nil {
		return framework.Page{}, err
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	_, epoch, err := b.lookup(ctx, false)
	if err != nil {
		return framework.Page{}, err
	}
	p := framework.Page{Tip: framework.Cursor{Epoch: epoch}}
	// The tip first: the Hub never skips past a tip it was not given.
	cur, err := b.directOne(ctx, msgGet{LastFor: subject})
	if err != nil {
		return framework.Page{}, err
	}
	if cur == nil { // the topic holds nothing
		p.Start, p.Lost = true, before > 1
		return p, nil
	}
	if p.Tip.Seq, err = seqOf(cur, subject); err != nil {
		return framework.Page{}, err
	}
	if limit <= 0 {
		return p, nil
	}
	switch {
	case before == 1:
		cur = nil // nothing is below 1
	case before != 0 && before <= p.Tip.Seq:
		if cur, err = b.directOne(ctx, msgGet{MultiLast: []string{subject}, UpToSeq: before - 1}); err != nil {
			return framework.Page{}, err
		}
	}
	if cur == nil { // nothing retained below before
		p.Start = true
		oldest, err := b.directOne(ctx, msgGet{NextFor: subject})
		if err != nil {
			return framework.Page{}, err
		}
		p.Lost = before != 1 && (oldest == nil || lostBefore(oldest.Header))
		return p, nil
	}
	w := walk{b: b, subject: subject, limit: limit, page: []*nats.Msg{cur}}
	if err := w.run(ctx); err != nil {
		return framework.Page{}, err
	}
	p.Start, p.Lost = w.start, w.lost
	for i := len(w.page) - 1; i >= 0; i-- {
		rec, err := record(w.page[i], subject, epoch)
		if err != nil {
			return framework.Page{}, err
		}
		p.Records = append(p.Records, rec)
	}
	return p, nil
}

// walkFirst is how many records ReadBefore reads by walking the chain, a
// direct get each, before it reads the rest in batches.
const walkFirst = 16

// walk is one backward read in progress: the page, newest first, from its
// newest record on.
type walk struct {
	b           *Broker
	subject     string
	limit       int
	page        []*nats.Msg
	start, lost bool
}

// run fills the page: up to walkFirst records by walking the chain, then
// the rest by windows of stream sequences that end at the next older
// record (its sequence is known, its predecessor's), each read forward in
// one batch, sized by the density of the topic in what was read so far.
// The windows rely on nothing but the chain: a size guessed wrong costs
// one more batch, never a record.
func (w *walk) run(ctx context.Context) error {
	next, done, err := w.walkChain(ctx)
	if err != nil || done {
		return err
	}
	first, err := seqOf(w.page[0], w.subject)
	if err != nil {
		return err
	}
	stride := max(1, (first-next)/uint64(len(w.page))) // stream sequences per record
	for {
		need := w.limit - len(w.page)
		end := next + 1 // the window holds next, the next older record
		span := stride*uint64(need)*5/4 + 1
		from := uint64(1)
		if end > span {
			from = end - span
		}
		recs, more, err := w.window(ctx, from, end, need)
		if err != nil {
			return err
		}
		if len(recs) == 0 || recs[len(recs)-1].Header.Get(nats.JSSequence) != strconv.FormatUint(next, 10) {
			w.start, w.lost = true, true // next was discarded, and what is older with it
			return nil
		}
		for i := len(recs) - 1; i >= 0; i-- {
			w.page = append(w.page, recs[i])
		}
		if more {
			return nil // full, and the window held older records
		}
		oldest := recs[0]
		prev, _ := strconv.ParseUint(oldest.Header.Get(hdrPrev), 10, 64)
		switch {
		case prev == 0:
			w.start, w.lost = true, lostBefore(oldest.Header)
			return nil
		case len(w.page) == w.limit:
			return w.reaches(ctx, prev)
		}
		next = prev
		stride = max(1, (end-from)/uint64(len(recs)))
	}
}

// walkChain walks the chain back from the page's newest record until the
// page is full, reaches the start of what is retained, or holds walkFirst
// records; then it returns the sequence of the next older record.
func (w *walk) walkChain(ctx context.Context) (next uint64, done bool, err error) {
	cur := w.page[0]
	for {
		prev, _ := strconv.ParseUint(cur.Header.Get(hdrPrev), 10, 64)
		switch {
		case prev == 0:
			w.start, w.lost = true, lostBefore(cur.Header)
			return 0, true, nil
		case len(w.page) == w.limit:
			return 0, true, w.reaches(ctx, prev)
		case len(w.page) >= walkFirst:
			return prev, false, nil
		}
		m, err := w.b.directOne(ctx, msgGet{Seq: prev})
		if err != nil {
			return 0, true, err
		}
		if !w.ours(m) { // discarded
			w.start, w.lost = true, true
			return 0, true, nil
		}
		w.page = append(w.page, m)
		cur = m
	}
}

// reaches sets start and lost when the full page's next older record,
// prev, is no longer retained.
func (w *walk) reaches(ctx context.Context, prev uint64) error {
	m, err := w.b.directOne(ctx, msgGet{Seq: prev})
	if err == nil && !w.ours(m) {
		w.start, w.lost = true, true
	}
	return err
}

func (w *walk) ours(m *nats.Msg) bool {
	return m != nil && m.Header.Get(nats.JSSubject) == w.subject
}

// window reads the topic's records of the stream sequences from up to end
// (excluded) forward and returns the newest need of them, oldest first,
// and whether there were more: a batch of 2*need+1, and more only when
// the window held more than that.
func (w *walk) window(ctx context.Context, from, end uint64, need int) ([]*nats.Msg, bool, error) {
	var recs []*nats.Msg
	more := false
	for {
		bt, err := w.b.directGet(ctx, directGet{Seq: from, NextFor: w.subject, Batch: 2*need + 1})
		if err != nil {
			return nil, false, err
		}
		for _, m := range bt.msgs {
			seq, err := seqOf(m, w.subject)
			if err != nil {
				return nil, false, err
			}
			if seq >= end {
				return recs, more, nil
			}
			if len(recs) == need {
				recs, more = recs[1:], true
			}
			recs = append(recs, m)
			from = seq + 1
		}
		if len(bt.msgs) == 0 || bt.pending == 0 {
			return recs, more, nil
		}
	}
}

// ReadSince implements [framework.Rewinder]: the topic's tip, then one
// batched direct get from the first message JetStream stored at or after
// since (it keeps the stream's messages in time order). Like every batched
// get (Read's too), its cost grows with the messages stored after that
// point, which the server counts (see ReadBefore); a rewind asks for
// recent ones.
func (b *Broker) ReadSince(ctx context.Context, topic string, since time.Time, limit int) (framework.Page, error) {
	subject, err := Subject(b.opts.Prefix, topic)
	if err != nil {
		return framework.Page{}, err
	}
	if err := ctx.Err(); err != nil {
		return framework.Page{}, err
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	st, epoch, err := b.lookup(ctx, false)
	if err != nil {
		return framework.Page{}, err
	}
	p := framework.Page{Tip: framework.Cursor{Epoch: epoch}}
	if p.Tip.Seq, err = b.lastSeq(ctx, st, subject); err != nil {
		return framework.Page{}, err
	}
	if limit <= 0 || p.Tip.Seq == 0 {
		return p, nil
	}
	t := since.UTC()
	bt, err := b.directGet(ctx, directGet{NextFor: subject, Batch: limit, StartTime: &t})
	if err != nil {
		return framework.Page{}, err
	}
	for _, m := range bt.msgs {
		rec, err := record(m, subject, epoch)
		if err != nil {
			return framework.Page{}, err
		}
		p.Records = append(p.Records, rec)
	}
	if n := len(p.Records); n > 0 {
		p.Tip.Seq = max(p.Tip.Seq, p.Records[n-1].Seq)
	}
	return p, nil
}

// lostBefore reports whether records of the topic older than the one
// with header h were published and are gone: it names a predecessor
// (Rx-Prev), or, published when the topic held nothing, the stream had
// discarded messages by then (Rx-Floor above 1).
func lostBefore(h nats.Header) bool {
	prev, _ := strconv.ParseUint(h.Get(hdrPrev), 10, 64)
	floor, _ := strconv.ParseUint(h.Get(hdrFloor), 10, 64)
	return prev > 0 || floor > 1
}

// msgGet is the request of a direct get of one message: by sequence, the
// subject's last (up to a sequence), or its next from a sequence.
type msgGet struct {
	Seq       uint64   `json:"seq,omitempty"`
	LastFor   string   `json:"last_by_subj,omitempty"`
	NextFor   string   `json:"next_by_subj,omitempty"`
	MultiLast []string `json:"multi_last,omitempty"`
	UpToSeq   uint64   `json:"up_to_seq,omitempty"`
}

// directOne sends a direct get of one message and returns it, nil when
// there is none. It takes the connection's shared reply subscription: the
// end-of-batch marker that follows a multi_last answer is dropped there.
func (b *Broker) directOne(ctx context.Context, req msgGet) (*nats.Msg, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	m, err := b.nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+b.opts.Stream, body)
	if errors.Is(err, nats.ErrNoResponders) {
		b.markStale(errNoStream)
		return nil, fmt.Errorf("%w: direct get: no responders for stream %s", ErrUnavailable, b.opts.Stream)
	}
	if err != nil {
		return nil, b.unavailable(ctx, fmt.Errorf("direct get: %w", err))
	}
	switch status := m.Header.Get("Status"); status {
	case "":
		return m, nil
	case "404":
		return nil, nil
	default:
		return nil, fmt.Errorf("rxstream: nats: direct get: status %s %s", status, m.Header.Get("Description"))
	}
}

// seqOf returns the stream sequence of a direct get's message.
func seqOf(m *nats.Msg, subject string) (uint64, error) {
	seq, err := strconv.ParseUint(m.Header.Get(nats.JSSequence), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("rxstream: nats: direct get of %s: bad sequence %q", subject, m.Header.Get(nats.JSSequence))
	}
	return seq, nil
}
