package servers

import (
	"context"
	"sync"
)

// rawQueue is the channel size of a raw baseline's subscriber.
const rawQueue = 1024

// broadcaster is the raw baselines' fan-out: a channel per subscriber, and
// a publisher that blocks until every subscriber took the message (or left).
type broadcaster struct {
	mu     sync.Mutex
	subs   map[*member]struct{}
	snap   []*member // subs as a slice; nil after a change
	closed chan struct{}
	once   sync.Once
}

type member struct {
	ch   chan []byte
	gone chan struct{}
}

func (b *broadcaster) init() {
	b.once.Do(func() { b.closed = make(chan struct{}) })
}

func (b *broadcaster) join() *member {
	b.init()
	m := &member{ch: make(chan []byte, rawQueue), gone: make(chan struct{})}
	b.mu.Lock()
	if b.subs == nil {
		b.subs = make(map[*member]struct{})
	}
	b.subs[m] = struct{}{}
	b.snap = nil
	b.mu.Unlock()
	return m
}

func (b *broadcaster) leave(m *member) {
	b.mu.Lock()
	delete(b.subs, m)
	b.snap = nil
	b.mu.Unlock()
	close(m.gone)
}

// send hands msg to every member, blocking on full channels.
func (b *broadcaster) send(ctx context.Context, msg []byte) error {
	b.init()
	b.mu.Lock()
	if b.snap == nil {
		b.snap = make([]*member, 0, len(b.subs))
		for m := range b.subs {
			b.snap = append(b.snap, m)
		}
	}
	subs := b.snap
	b.mu.Unlock()
	for _, m := range subs {
		select {
		case m.ch <- msg:
		case <-m.gone:
		case <-b.closed:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (b *broadcaster) close() {
	b.init()
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.closed:
	default:
		close(b.closed)
	}
}
