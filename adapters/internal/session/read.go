package session

import (
	"context"

	"github.com/rxstream/rxstream/framework"
)

// reading is the source of a topic of a session that reads history
// ([Options.Read]): the pages of [framework.Hub.Read] from the topic's
// cursor, delivered as a subscription's batches would be. It follows
// nothing and has nothing to close.
type reading struct {
	hub    *framework.Hub
	name   string
	cursor string                // after what was delivered
	page   framework.HistoryPage // what of the last page is not delivered yet
}

// newReading reads topic name's first page of up to limit events after
// cursor (or its rewind, or its tip: see [framework.Hub.Read]).
func newReading(ctx context.Context, hub *framework.Hub, name, cursor string, limit int, o *framework.SubscribeOptions) (*reading, error) {
	p, err := hub.Read(ctx, name, cursor, limit, o)
	if err != nil {
		return nil, err
	}
	rd := &reading{hub: hub, name: name, cursor: cursor}
	rd.load(p)
	return rd, nil
}

func (rd *reading) load(p framework.HistoryPage) {
	rd.page = p
	if p.Gap == nil && len(p.Events) == 0 {
		rd.cursor = p.Cursor // the tip, for a read without a cursor
	}
}

// Poll delivers up to limit events of the page read, with its gap first,
// and reads the next page once it is delivered while the history held
// more; then it returns an empty Batch.
func (rd *reading) Poll(ctx context.Context, limit int) (framework.Batch, error) {
	if rd.page.Gap == nil && len(rd.page.Events) == 0 {
		if !rd.page.More {
			return framework.Batch{}, nil
		}
		p, err := rd.hub.Read(ctx, rd.name, rd.cursor, limit, nil)
		if err != nil {
			return framework.Batch{}, err
		}
		rd.load(p)
	}
	n := min(max(limit, 1), len(rd.page.Events))
	b := framework.Batch{Gap: rd.page.Gap, Events: rd.page.Events[:n:n]}
	rd.page.Gap, rd.page.Events = nil, rd.page.Events[n:]
	switch {
	case n > 0:
		rd.cursor = b.Events[n-1].ID
	case b.Gap != nil:
		rd.cursor = rd.page.Cursor // nothing retained up to the tip
	}
	return b, nil
}

// Cursor is where the topic resumes after what Poll delivered: before
// that, the cursor given, or the tip for a read without cursor nor
// rewind.
func (rd *reading) Cursor() string { return rd.cursor }

func (rd *reading) Close() {}
