package framework

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Presence: who is on a topic.
//
// A subscription may name its user ([SubscribeOptions.User]) and a small
// JSON info object ([SubscribeOptions.Info]); without a user it is
// anonymous and only counted. The Hub keeps, per topic, one entry per user
// with its number of open subscriptions (a user's connections), and the
// anonymous count; [Hub.Presence] lists them in pages, sorted by user.
//
// A user's first subscription to a topic is a join; the end of its last
// one is a leave, announced only after the Hub's coalescing window
// ([HubOptions.PresenceWindow], [DefaultPresenceWindow]): a user who comes
// back within it produces neither event, so that a reconnect storm
// announces nothing. Until then the user is still listed, with Conns 0.
// A subscription or read with [SubscribeOptions.PresenceHold] adds that
// much to its leave's wait: a short poll holds its user for its
// interval, so a client polling at it joins once and leaves the interval
// and the window after its last poll.
//
// A subscription with [SubscribeOptions.Presence] also receives its
// topic's joins and leaves, in order per topic (so per user), among its
// events: events named [EventJoin] and [EventLeave], whose data is the
// [Member] as JSON ({"user","info","conns"}), and whose ID is empty. They
// are live only: not stored in the history, not replayed on resume, not
// part of the cursor (a batch's cursor stays where the topic's events put
// it) and never a gap. A client that resumes missed the joins and leaves
// of its time away, so it lists the members again ([Hub.Presence]) after
// each (re)connection and applies the events to that list, keyed by user:
// a join of a user already listed replaces its entry. A subscription sees
// its own join.
//
// The state is proportional to the current members: a topic's entry goes
// when its last member (and its last presence subscriber) leaves, and a
// user's when its leave is announced.
//
// Presence is the Hub's own, in one process; a Hub on a [PresenceBroker]
// shares it with the other nodes of the cluster: it tells the broker its
// connections (a leave after the window), lists the members from it and
// takes the joins and leaves from it. A user who moves from one node to
// another within the window then announces nothing either. A Hub on a
// distributed Broker that is not a PresenceBroker knows the members of its
// own subscriptions only.

// Presence limits and defaults.
const (
	// DefaultPresenceWindow is the default coalescing window of leaves
	// ([HubOptions.PresenceWindow]).
	DefaultPresenceWindow = 2 * time.Second
	// DefaultPresenceLimit is the default number of members of a page of
	// [Hub.Presence]; MaxPresenceLimit its bound.
	DefaultPresenceLimit = 100
	MaxPresenceLimit     = 1000
	// MaxInfoSize bounds a member's info, in bytes of JSON.
	MaxInfoSize = 1024
	// MaxUserLen bounds a user's name, in bytes.
	MaxUserLen = 256
)

// The names of the presence events ([SubscribeOptions.Presence]). A topic
// whose publishers use these names should not be followed with presence:
// a client could not tell the two apart.
const (
	EventJoin  = "join"
	EventLeave = "leave"
)

// Member is one user present on a topic: a page entry of [Hub.Presence],
// and the data of a presence event as JSON.
type Member struct {
	// User is the user's name, as given by [SubscribeOptions.User].
	User string `json:"user"`
	// Info is the info of the user's latest subscription, JSON, or nil.
	Info json.RawMessage `json:"info"`
	// Conns is the number of the user's open subscriptions to the topic
	// (its connections); 0 while its leave waits for the coalescing
	// window, and in a leave event.
	Conns int `json:"conns"`
}

// PresenceOptions says which page of a topic's members [Hub.Presence]
// lists. The zero value lists the first [DefaultPresenceLimit].
type PresenceOptions struct {
	// After, a user name, lists the members after it: the Cursor of the
	// previous page.
	After string
	// Limit bounds the members of the page: 0 means
	// [DefaultPresenceLimit]; at most [MaxPresenceLimit].
	Limit int
}

// PresencePage is one page of a topic's members.
type PresencePage struct {
	// Members are the page's members, sorted by user; never nil.
	Members []Member `json:"members"`
	// Anonymous is the number of the topic's subscriptions without a
	// user.
	Anonymous int `json:"anonymous"`
	// Cursor, when More, is where the next page starts: give it as
	// After.
	Cursor string `json:"cursor,omitempty"`
	// More reports that members follow the page.
	More bool `json:"more"`
}

// presence is a Hub's presence state. Its lock is taken after no other
// lock of the Hub; a subscription's lock is taken under it (to queue
// events).
type presence struct {
	mu      sync.Mutex
	topics  map[string]*presTopic
	members int // entries over all topics, for HubStats
	shared  PresenceBroker
	stop    func() // the shared broker's watch
}

type presTopic struct {
	members  map[string]*member
	anon     int
	watchers map[*Subscription]struct{}
}

type member struct {
	info  json.RawMessage
	conns int
	leave *time.Timer // the pending leave, while conns == 0
	gen   int         // of the pending leave, so that a stale one does nothing
}

// checkMember returns the error of a user and info that presence refuses.
func checkMember(user string, info json.RawMessage) error {
	switch {
	case len(user) > MaxUserLen:
		return fmt.Errorf("%w: user of %d bytes, at most %d", ErrInvalidPresence, len(user), MaxUserLen)
	case !utf8.ValidString(user) || strings.ContainsAny(user, "\x00"):
		return fmt.Errorf("%w: user is not UTF-8 text", ErrInvalidPresence)
	case len(info) > MaxInfoSize:
		return fmt.Errorf("%w: info of %d bytes, at most %d", ErrInvalidPresence, len(info), MaxInfoSize)
	case info != nil && !json.Valid(info):
		return fmt.Errorf("%w: info is not JSON", ErrInvalidPresence)
	case info != nil && user == "":
		return fmt.Errorf("%w: info without a user", ErrInvalidPresence)
	}
	return nil
}

// enter counts s on its topic's presence, and makes it a watcher when it
// asked for presence events. Every subscription pays for it, anonymous
// ones too (they are counted): measured with
// BenchmarkSubscribeClose/anonymous, 6 interleaved runs on 2 shared
// cores, a subscription's join and leave cost 494 ns (416-545) before
// presence and 669 ns (651-724) with it, the presence lock and the
// topic's entry; BenchmarkFanout/subscribers=1000, 3 interleaved runs,
// 290 us (282-298) before and 188 us (126-388) after a publish: within
// the noise.
func (h *Hub) enter(s *Subscription, o *SubscribeOptions) {
	if o != nil {
		s.user, s.watch, s.hold = o.User, o.Presence, o.PresenceHold
	}
	var info json.RawMessage
	if o != nil && o.Info != nil {
		info = bytes.Clone(o.Info)
	}
	p := &h.pres
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.topics == nil {
		p.topics = make(map[string]*presTopic)
	}
	t := p.topics[s.topic.name]
	if t == nil {
		t = &presTopic{members: make(map[string]*member)}
		p.topics[s.topic.name] = t
	}
	if s.watch {
		if t.watchers == nil {
			t.watchers = make(map[*Subscription]struct{})
		}
		t.watchers[s] = struct{}{}
	}
	s.present = true
	if s.user == "" {
		t.anon++
		p.share(s.topic.name, "", nil, t.anon)
		return
	}
	m := t.members[s.user]
	switch {
	case m == nil:
		m = &member{info: info}
		t.members[s.user] = m
		p.members++
		m.conns++
		p.share(s.topic.name, s.user, m.info, m.conns)
		if p.shared == nil {
			t.announce(EventJoin, s.user, m)
		}
		return
	case m.leave != nil: // back within the window: no event
		m.leave.Stop()
		m.leave = nil
		m.gen++
	}
	m.conns++
	if info != nil {
		m.info = info
	}
	p.share(s.topic.name, s.user, m.info, m.conns)
}

// share tells the shared broker, if any, this node's connections of user
// to topic (see [PresenceBroker.SetPresence]: 0 for a user whose leave
// waits, -1 for one gone). p.mu is held.
func (p *presence) share(topic, user string, info json.RawMessage, conns int) {
	if p.shared != nil {
		p.shared.SetPresence(topic, Member{User: user, Info: info, Conns: conns})
	}
}

// watched is the shared broker's join or leave: it is announced to this
// node's watchers of topic.
func (h *Hub) watched(topic, event string, m Member) {
	p := &h.pres
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := p.topics[topic]; t != nil {
		t.announce(event, m.User, &member{info: m.Info, conns: m.Conns})
	}
}

// exit uncounts s; a user's last subscription schedules its leave.
func (h *Hub) exit(s *Subscription) {
	p := &h.pres
	p.mu.Lock()
	defer p.mu.Unlock()
	if !s.present {
		return
	}
	s.present = false
	name := s.topic.name
	t := p.topics[name]
	if s.watch {
		delete(t.watchers, s)
	}
	if s.user == "" {
		t.anon--
		p.share(name, "", nil, t.anon)
	} else if m := t.members[s.user]; m != nil {
		m.conns--
		window := max(h.opts.PresenceWindow, 0) + max(s.hold, 0)
		switch {
		case m.conns > 0:
			p.share(name, s.user, m.info, m.conns)
		case window <= 0 || h.closed.Load():
			p.drop(name, t, s.user, m)
		default: // listed with no connection, on every node, while its leave waits
			p.share(name, s.user, m.info, 0)
			m.gen++
			gen, user := m.gen, s.user
			m.leave = time.AfterFunc(window, func() { h.leave(name, user, m, gen) })
		}
	}
	p.tidy(name, t)
}

// leave announces a leave whose window passed, unless the user came back.
func (h *Hub) leave(name, user string, m *member, gen int) {
	p := &h.pres
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.topics[name]
	if t == nil || t.members[user] != m || m.conns > 0 || m.gen != gen {
		return
	}
	p.drop(name, t, user, m)
	p.tidy(name, t)
}

// drop forgets user and announces its leave. p.mu is held.
func (p *presence) drop(name string, t *presTopic, user string, m *member) {
	delete(t.members, user)
	p.members--
	m.leave = nil
	p.share(name, user, nil, -1)
	if p.shared == nil {
		t.announce(EventLeave, user, m)
	}
}

// tidy forgets a topic without members or watchers. p.mu is held.
func (p *presence) tidy(name string, t *presTopic) {
	if len(t.members) == 0 && t.anon == 0 && len(t.watchers) == 0 {
		delete(p.topics, name)
	}
}

// announce queues a presence event for every watcher of t. The event is
// encoded once and shared. p.mu is held.
func (t *presTopic) announce(name, user string, m *member) {
	if len(t.watchers) == 0 {
		return
	}
	data, _ := json.Marshal(Member{User: user, Info: m.info, Conns: m.conns}) // strings, valid JSON and a number
	r := &Record{Event: Event{Name: name, Data: data}}
	for s := range t.watchers {
		s.push(r)
	}
}

// closePresence stops the pending leaves when the Hub closes: nothing is
// announced after Close.
func (h *Hub) closePresence() {
	p := &h.pres
	p.mu.Lock()
	stop := p.stop
	for name, t := range p.topics {
		for user, m := range t.members {
			if m.leave != nil {
				m.leave.Stop()
				m.gen++
				delete(t.members, user)
				p.members--
				p.share(name, user, nil, -1)
			}
		}
		p.tidy(name, t)
	}
	p.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// sharePresence makes the Hub's presence shared when its broker is a
// [PresenceBroker]; setup calls it.
func (h *Hub) sharePresence() {
	pb, ok := h.opts.Broker.(PresenceBroker)
	if !ok {
		return
	}
	stop, err := pb.WatchPresence(h.watched)
	if err != nil {
		return // the broker is closed: so is presence, Presence says
	}
	h.pres.shared, h.pres.stop = pb, stop
}

// Presence lists one page of topic's members on this Hub, sorted by user,
// and its anonymous subscriptions' count. A topic nobody follows has no
// members, which is not an error.
//
// A bad topic name wraps [ErrInvalidTopic]; a Limit out of range wraps
// [ErrInvalidPresence]; after Close it fails with [ErrClosed].
func (h *Hub) Presence(ctx context.Context, topic string, opts *PresenceOptions) (PresencePage, error) {
	h.setup()
	var o PresenceOptions
	if opts != nil {
		o = *opts
	}
	switch {
	case !ValidTopic(topic):
		return PresencePage{}, fmt.Errorf("%w: %q", ErrInvalidTopic, topic)
	case o.Limit < 0 || o.Limit > MaxPresenceLimit:
		return PresencePage{}, fmt.Errorf("%w: limit %d, want 1 to %d", ErrInvalidPresence, o.Limit, MaxPresenceLimit)
	case h.closed.Load():
		return PresencePage{}, ErrClosed
	case ctx.Err() != nil:
		return PresencePage{}, ctx.Err()
	}
	if o.Limit == 0 {
		o.Limit = DefaultPresenceLimit
	}
	if p := h.pres.shared; p != nil {
		return p.Presence(ctx, topic, o)
	}
	var ms []Member
	anon := 0
	p := &h.pres
	p.mu.Lock()
	if t := p.topics[topic]; t != nil {
		anon = t.anon
		for user, m := range t.members {
			if user > o.After {
				ms = append(ms, Member{User: user, Info: m.info, Conns: m.conns})
			}
		}
	}
	p.mu.Unlock()
	return MembersPage(ms, anon, o), nil
}

// MembersPage returns the page of ms (in any order, all of them after
// o.After) that o asks for, o.Limit being 1 to [MaxPresenceLimit]: what
// [Hub.Presence] answers, for a [PresenceBroker] that lists its members.
func MembersPage(ms []Member, anonymous int, o PresenceOptions) PresencePage {
	page := PresencePage{Members: ms, Anonymous: anonymous}
	if page.Members == nil {
		page.Members = []Member{}
	}
	slices.SortFunc(page.Members, func(a, b Member) int { return strings.Compare(a.User, b.User) })
	if len(page.Members) > o.Limit {
		page.Members = slices.Clip(page.Members[:o.Limit])
		page.More = true
		page.Cursor = page.Members[o.Limit-1].User
	}
	return page
}

// presenceSize returns the presence state's topic and member entries.
func (h *Hub) presenceSize() (topics, members int) {
	p := &h.pres
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.topics), p.members
}

func (h *Hub) members() int {
	_, n := h.presenceSize()
	return n
}
