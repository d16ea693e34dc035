package transport

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"time"
)

// Pass is one request's way through a [Gate], the same on every
// transport:
//
//	r, p, err := transport.Enter(gate, r) // connect rate, per-address limit: before anything else
//	defer p.Release()
//	... the hook is asked with r (session.Open, Allow) ...
//	err = p.Admit(topics)                 // expiry already past (401), per-user limit (429)
//	ctx = p.Bind(ctx)                     // ends with ErrExpired at expiry, ErrRevoked when revoked
//
// Refusals are [*StatusError]s: 429 with a Retry-After and a
// [*LimitError] as Err over a limit, 401 for an expired authorization.
// A Pass is driven by its request's goroutine; Release may be called more
// than once.
type Pass struct {
	g       *Gate
	addr    netip.Prefix
	counted bool // g.addrs[addr] counts this pass
	grant   *Grant

	// Guarded by g.mu:
	user     string
	topics   []string
	admitted bool // in g.users and g.topics, and counted in g.conns
	expires  time.Time
	cancel   context.CancelCauseFunc // set by Bind
	pending  error                   // a revocation before Bind
	timer    *time.Timer
	onTopic  func(topic string)
	released bool
}

// Enter takes one connection attempt of r through g: the connect rate and
// the open connections of its client address ([ClientAddress]). It
// returns r with a [Grant] to collect what the hook says ([Collect]), and
// the Pass; the caller releases it when the request ends. Over a limit
// it returns a 429 [*StatusError] and no Pass.
func Enter(g *Gate, r *http.Request) (*http.Request, *Pass, error) {
	g.init()
	p := &Pass{g: g}
	if key, ok := ClientAddress(r, g.opts.TrustedProxies); ok {
		if err := g.enter(key, time.Now()); err != nil {
			return r, nil, err
		}
		p.addr, p.counted = key, true
	}
	r, p.grant = Collect(r)
	return r, p, nil
}

// Grant returns what the hook said about the request.
func (p *Pass) Grant() *Grant { return p.grant }

// User returns the user the hook named when the pass was admitted (or
// refreshed), or "".
func (p *Pass) User() string {
	p.g.mu.Lock()
	defer p.g.mu.Unlock()
	return p.user
}

// Admit admits the request once the hook has allowed it for topics (nil
// for a producer's stream): it is refused 401 when the hook's answer
// already expired, 429 when its user holds MaxPerUser connections.
func (p *Pass) Admit(topics []string) error {
	g := p.g
	user, exp := p.grant.User(), p.grant.Expires()
	if !exp.IsZero() && !exp.After(time.Now()) {
		return AuthStatus(ErrExpired)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if m := g.opts.MaxPerUser; user != "" && m > 0 && len(g.users[user]) >= m {
		return g.refuse(LimitUser, float64(m), Jitter(g.opts.RetryAfter))
	}
	p.user, p.expires, p.topics, p.admitted = user, exp, slices.Clone(topics), true
	g.conns++
	if user != "" {
		add(g.users, user, p)
	}
	for _, t := range p.topics {
		add(g.topics, t, p)
	}
	return nil
}

func add(m map[string]map[*Pass]struct{}, k string, p *Pass) {
	set := m[k]
	if set == nil {
		set = make(map[*Pass]struct{})
		m[k] = set
	}
	set[p] = struct{}{}
}

func remove(m map[string]map[*Pass]struct{}, k string, p *Pass) {
	if set := m[k]; set != nil {
		delete(set, p)
		if len(set) == 0 {
			delete(m, k)
		}
	}
}

// Bind returns a context derived from parent that ends with cause
// [ErrExpired] when the hook's answer expires and [ErrRevoked] (see
// [RevokedTopic]) when the pass is revoked; the stream is served under
// it. Call it once, after Admit.
func (p *Pass) Bind(parent context.Context) context.Context {
	ctx, cancel := context.WithCancelCause(parent)
	g := p.g
	g.mu.Lock()
	p.cancel = cancel
	pending := p.pending
	if !p.expires.IsZero() && !p.released {
		p.timer = time.AfterFunc(time.Until(p.expires), func() { cancel(ErrExpired) })
	}
	g.mu.Unlock()
	if pending != nil {
		cancel(pending)
	}
	return ctx
}

// OnTopic makes a revocation of one topic call fn with it instead of
// ending the connection: a multiplexed WebSocket connection drops that
// topic and keeps the others. fn must not block.
func (p *Pass) OnTopic(fn func(topic string)) {
	p.g.mu.Lock()
	defer p.g.mu.Unlock()
	p.onTopic = fn
}

// AddTopic and RemoveTopic keep the topics of an admitted pass, which
// [Gate.RevokeTopic] reaches, in step with its session's.
func (p *Pass) AddTopic(topic string) {
	p.g.mu.Lock()
	defer p.g.mu.Unlock()
	if !p.admitted || p.released || slices.Contains(p.topics, topic) {
		return
	}
	p.topics = append(p.topics, topic)
	add(p.g.topics, topic, p)
}

// RemoveTopic: see [Pass.AddTopic].
func (p *Pass) RemoveTopic(topic string) {
	p.g.mu.Lock()
	defer p.g.mu.Unlock()
	i := slices.Index(p.topics, topic)
	if !p.admitted || p.released || i < 0 {
		return
	}
	p.topics = slices.Delete(p.topics, i, i+1)
	remove(p.g.topics, topic, p)
}

// Refresh replaces the pass's expiry with the one of g, the hook's answers
// to a refresh: it fails with [ErrExpired] when that expiry is past (or
// the old one passed first), and with [ErrRevoked] when the hook names
// another user than the pass's.
func (p *Pass) Refresh(gr *Grant) error {
	user, exp := gr.User(), gr.Expires()
	g := p.g
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case user != p.user:
		return errRefreshUser
	case !exp.IsZero() && !exp.After(time.Now()):
		return ErrExpired
	case p.timer != nil && !p.timer.Stop():
		return ErrExpired // it expired first
	}
	p.expires, p.timer = exp, nil
	if cancel := p.cancel; !exp.IsZero() && cancel != nil {
		p.timer = time.AfterFunc(time.Until(exp), func() { cancel(ErrExpired) })
	}
	return nil
}

var errRefreshUser = fmt.Errorf("%w: the refresh names another user", ErrRevoked)

// Expires returns the expiry of the pass, or the zero time.
func (p *Pass) Expires() time.Time {
	p.g.mu.Lock()
	defer p.g.mu.Unlock()
	return p.expires
}

// Release gives back what the pass holds: its place among its address's
// and its user's connections, its expiry timer, and its context. It is
// idempotent.
func (p *Pass) Release() {
	if p == nil {
		return
	}
	g := p.g
	g.mu.Lock()
	if p.released {
		g.mu.Unlock()
		return
	}
	p.released = true
	if p.counted {
		if st := g.addrs[p.addr]; st != nil {
			st.conns--
		}
	}
	if p.admitted {
		g.conns--
		if p.user != "" {
			remove(g.users, p.user, p)
		}
		for _, t := range p.topics {
			remove(g.topics, t, p)
		}
	}
	if p.timer != nil {
		p.timer.Stop()
	}
	cancel := p.cancel
	g.mu.Unlock()
	if cancel != nil {
		cancel(context.Canceled)
	}
}
