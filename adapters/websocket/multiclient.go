package websocket

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/coder/websocket"
	"golang.org/x/sync/errgroup"

	"github.com/rxstream/rxstream/adapters/internal/transport"
)

// Subscription is one topic of a [MultiClient]. Topic returns its topic;
// Cursor the cursor it resumes from (the ID of the last item its observer
// took, or where the server placed it); Events its observable of [framework.Event]
// and [framework.Gap] items, which may be observed once and completes when
// the subscription is closed (an error item first when the server refused
// it); Close ends it. The observer's context ending closes it too.
//
// A subscription's items wait for its observer: one that is not observed
// holds up every topic of its client.
type Subscription = transport.Subscription

// Errors of a [MultiClient].
var (
	// ErrSubscribed is returned by [MultiClient.Subscribe] for a topic
	// that the client already follows.
	ErrSubscribed = transport.ErrSubscribed
	// ErrObserved is the error item of a second Observe of a
	// [Subscription]'s events.
	ErrObserved = transport.ErrObserved
)

// MultiClient follows several topics of a [Server.Topics] endpoint on one
// connection. The connection opens with the topics subscribed so far
// (?topic=a&topic=b and the composite cursor of their last IDs); later
// subscriptions and closes are subscribe and unsubscribe messages on it.
// When the connection breaks it reconnects, with backoff as a [Client]
// does, and resumes every topic after the last ID it delivered: no topic
// loses or repeats an event. A topic the server refuses ends with a
// [*StatusError] item whose Topic names it, with the status an HTTP
// request would have been answered (400, 401, 403, 503...) and the
// server's message; the others go on.
//
// All methods may be called concurrently. Close releases its goroutines.
type MultiClient struct {
	c   *Client
	mux *transport.Mux
}

// NewMultiClient returns a MultiClient for the endpoint at rawURL (without
// topic parameters: they come from [MultiClient.Subscribe]); opts may be
// nil. Its Cursor must be empty (each topic's cursor is given to
// Subscribe) and its Format [FormatEnvelope].
func NewMultiClient(rawURL string, opts *ClientOptions) (*MultiClient, error) {
	if opts != nil && opts.Cursor != "" {
		return nil, errors.New("rxstream: websocket: ClientOptions.Cursor is for one topic; give each topic's cursor to Subscribe")
	}
	if opts != nil && opts.Format != 0 && opts.Format != FormatEnvelope {
		return nil, errors.New("rxstream: websocket: a MultiClient reads envelopes; ClientOptions.Format must be FormatEnvelope")
	}
	c, err := NewClient(rawURL, opts)
	if err != nil {
		return nil, err
	}
	if c.url.Query().Has("topic") {
		return nil, errors.New("rxstream: websocket: the URL of a MultiClient has no topic parameter; Subscribe adds them")
	}
	m := &MultiClient{c: c}
	m.mux = transport.NewMux(m.run)
	return m, nil
}

// Subscribe follows topic after cursor (one topic's event ID; empty starts
// with its next event). It fails on an invalid topic or cursor, with
// [ErrSubscribed] for a topic already followed, and with
// [framework.ErrClosed] after Close.
func (m *MultiClient) Subscribe(topic, cursor string) (*Subscription, error) {
	return m.mux.Subscribe(topic, cursor)
}

// Close ends every subscription (their observables complete) and the
// connection, and waits for them.
func (m *MultiClient) Close() { m.mux.Close() }

// run connects while there are subscriptions, until ctx ends.
func (m *MultiClient) run(ctx context.Context, mux *transport.Mux) {
	r := run{c: m.c}
	retry := transport.Retry{Name: "websocket", Min: m.c.opts.MinBackoff, Max: m.c.opts.MaxBackoff, MaxAttempts: m.c.opts.MaxAttempts}
	for ctx.Err() == nil {
		subs, sctx := mux.Snapshot()
		if len(subs) == 0 {
			<-sctx.Done()
			continue
		}
		got, err := m.connect(ctx, &r, mux, subs)
		if ctx.Err() != nil {
			return
		}
		subs, sctx = mux.Snapshot()
		var se *StatusError
		if errors.As(err, &se) {
			mux.Fail(subs, err)
			retry.Reset()
			continue
		}
		switch websocket.CloseStatus(err) {
		case websocket.StatusNormalClosure:
			mux.Fail(subs, nil) // the server ended the streams
			retry.Reset()
			continue
		case websocket.StatusUnsupportedData, websocket.StatusInvalidFramePayloadData,
			websocket.StatusPolicyViolation, websocket.StatusMandatoryExtension:
			mux.Fail(subs, err)
			retry.Reset()
			continue
		}
		if got {
			retry.Reset()
		}
		d, gaveUp := retry.Failed(err, r.retry)
		if gaveUp != nil {
			mux.Fail(subs, gaveUp)
			retry.Reset()
			continue
		}
		m.c.opts.Logger.Info("rxstream: websocket: reconnecting", "url", m.c.url.Redacted(), "topics", len(subs), "in", d, "err", err)
		transport.Sleep(sctx, d)
	}
}

// wsConn is what one connection of a MultiClient knows of its topics.
type wsConn struct {
	mu    sync.Mutex
	asked map[string]*transport.Subscription // the server was asked for, by topic
	acked map[string]*transport.Subscription // the server acknowledged
}

// controlMsg is a client's control message.
type controlMsg struct {
	Type   string `json:"type"`
	Topic  string `json:"topic"`
	Cursor string `json:"cursor,omitempty"`
}

// muxMessage is any message of a multiplexed connection: a control
// message (with a type) or an envelope of a topic.
type muxMessage struct {
	Type    string `json:"type"`
	Topic   string `json:"topic"`
	Cursor  string `json:"cursor"`
	Status  int    `json:"status"`
	Message string `json:"message"`
	ID      string `json:"id"`
	Event   string `json:"event"`
	Data    string `json:"data"`
	Base64  bool   `json:"base64"`
	Retry   int64  `json:"retry"`
}

// connect opens one connection for subs and serves it until it breaks or
// ctx ends: a read loop that delivers what arrives, and a loop that tells
// the server of each change of the set.
func (m *MultiClient) connect(ctx context.Context, r *run, mux *transport.Mux, subs []*transport.Subscription) (got bool, err error) {
	u := *m.c.url
	u.RawQuery = transport.WithTopics(u.RawQuery, subs)
	if c := transport.Composite(subs); c != "" {
		q := u.Query()
		q.Set("cursor", c)
		u.RawQuery = q.Encode()
	}
	conn, err := r.dial(ctx, u.String())
	if err != nil {
		return false, err
	}
	cn := &wsConn{asked: map[string]*transport.Subscription{}, acked: map[string]*transport.Subscription{}}
	for _, s := range subs {
		cn.asked[s.Topic()] = s
	}
	g, gctx := errgroup.WithContext(ctx)
	// The end of ctx (Close) or of the other loop closes the connection
	// with a handshake; the read then returns.
	closed := make(chan struct{})
	stop := context.AfterFunc(gctx, func() {
		defer close(closed)
		_ = conn.Close(websocket.StatusNormalClosure, "")
	})
	g.Go(func() error { return m.sync(gctx, conn, cn, mux) })
	g.Go(func() error {
		var err error
		got, err = m.read(gctx, conn, cn)
		return err
	})
	err = g.Wait()
	if !stop() {
		<-closed
	}
	_ = conn.CloseNow()
	return got, err
}

// sync sends a subscribe message for each subscription the server was not
// asked for, and an unsubscribe for each topic that no longer has one,
// whenever the set changes.
func (m *MultiClient) sync(ctx context.Context, conn *websocket.Conn, cn *wsConn, mux *transport.Mux) error {
	for {
		subs, sctx := mux.Snapshot()
		want := make(map[string]*transport.Subscription, len(subs))
		for _, s := range subs {
			want[s.Topic()] = s
		}
		var msgs []controlMsg
		cn.mu.Lock()
		for topic, s := range cn.asked {
			if want[topic] != s {
				msgs = append(msgs, controlMsg{Type: "unsubscribe", Topic: topic})
				delete(cn.asked, topic)
			}
		}
		for _, s := range subs {
			if cn.asked[s.Topic()] == nil {
				msgs = append(msgs, controlMsg{Type: "subscribe", Topic: s.Topic(), Cursor: s.Resume()})
				cn.asked[s.Topic()] = s
			}
		}
		cn.mu.Unlock()
		for _, msg := range msgs {
			p, _ := json.Marshal(msg)
			if err := conn.Write(ctx, websocket.MessageText, p); err != nil {
				return err
			}
		}
		select {
		case <-sctx.Done():
		case <-ctx.Done():
			return nil
		}
	}
}

// read delivers each message of the connection until it breaks or ctx
// ends (it then returns nil).
func (m *MultiClient) read(ctx context.Context, conn *websocket.Conn, cn *wsConn) (got bool, err error) {
	for {
		_, data, err := conn.Read(context.Background())
		if ctx.Err() != nil {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = true
		for _, data := range batch(conn, websocket.MessageText, data) {
			if !m.message(ctx, cn, data) {
				return got, nil
			}
		}
	}
}

// message delivers one message of the connection; it returns false when
// ctx ended.
func (m *MultiClient) message(ctx context.Context, cn *wsConn, data []byte) bool {
	var env muxMessage
	if err := json.Unmarshal(data, &env); err != nil {
		m.c.opts.Logger.Debug("rxstream: websocket: not a multiplexed message", "err", err)
		return true
	}
	topic := env.Topic
	cn.mu.Lock()
	switch env.Type {
	case "subscribed":
		if s := cn.asked[topic]; s != nil {
			cn.acked[topic] = s
			transport.SetCursor(s, env.Cursor)
		}
		cn.mu.Unlock()
		return true
	case "unsubscribed":
		delete(cn.acked, topic)
		cn.mu.Unlock()
		return true
	case "error":
		s := cn.asked[topic]
		if s != nil {
			delete(cn.asked, topic)
			delete(cn.acked, topic)
		}
		cn.mu.Unlock()
		if s == nil {
			m.c.opts.Logger.Warn("rxstream: websocket: server refused a message", "status", env.Status, "message", env.Message)
			return true
		}
		m.mux.Fail([]*transport.Subscription{s}, &StatusError{Code: env.Status, Message: env.Message, Topic: topic})
		return true
	}
	s := cn.acked[topic]
	cn.mu.Unlock()
	if s == nil {
		return true // of a topic being unsubscribed, or not yet acknowledged
	}
	it, err := transport.MuxItem(transport.Envelope{ID: env.ID, Event: env.Event, Data: env.Data, Base64: env.Base64, Retry: env.Retry})
	if err != nil {
		m.c.opts.Logger.Debug("rxstream: websocket: malformed envelope", "topic", topic, "err", err)
		return true
	}
	return transport.Deliver(ctx, s, it, env.ID)
}
