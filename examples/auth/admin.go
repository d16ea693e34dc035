package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rxstream/rxstream/adapters"
)

// revocations remembers when each user was revoked: the tokens issued to
// them before then are refused, by the hook and by the refresh route, so
// that a revoked client that reconnects, or asks for a fresh token, is
// turned away. (A real deployment keeps this with its users; the streams
// themselves are ended by the Gate.)
type revocations struct {
	mu sync.Mutex
	at map[string]time.Time
}

// revoke revokes the tokens of user issued until now.
func (rv *revocations) revoke(user string) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	if rv.at == nil {
		rv.at = make(map[string]time.Time)
	}
	rv.at[user] = time.Now()
}

// covers reports whether the token of c was revoked: issued no later than
// its user's revocation. iat has a precision of one second, so a token
// issued in the same second as the revocation is refused too.
func (rv *revocations) covers(c *claims) bool {
	rv.mu.Lock()
	at, ok := rv.at[c.Subject]
	rv.mu.Unlock()
	if !ok {
		return false
	}
	return c.IssuedAt == nil || !c.IssuedAt.After(at.Truncate(time.Second))
}

// bearer returns the token of the Authorization header only: the admin
// and refresh routes change state, so a token in a URL or a cookie (which
// another site can make the browser send) does not count.
func bearer(r *http.Request) string {
	t, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return strings.TrimSpace(t)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	se, ok := err.(*adapters.StatusError)
	if !ok {
		se = &adapters.StatusError{Code: http.StatusInternalServerError, Message: err.Error()}
	}
	for k, v := range se.Header {
		w.Header()[k] = v
	}
	writeJSON(w, se.Code, map[string]string{"message": se.Message})
}

// maxRefreshTTL bounds the life of a refreshed token.
const maxRefreshTTL = time.Hour

// refresh answers POST /token: a valid token (in the Authorization header,
// not expired, not revoked) is exchanged for one with the same claims,
// issued now and valid as long as the old one was (at most an hour). It
// is what the browser client's token function calls before the old one
// expires.
func (a *app) refresh(w http.ResponseWriter, r *http.Request) {
	// Within the parser's leeway a token just past its exp is still
	// renewed: a client whose timers ran late (a background tab's are
	// throttled) gets a fresh one when its stream ends at exp, and resumes.
	cl, err := a.verifier.verify(bearer(r))
	if err != nil {
		writeError(w, err)
		return
	}
	ttl := maxRefreshTTL
	if cl.IssuedAt != nil {
		ttl = min(cl.ExpiresAt.Sub(cl.IssuedAt.Time), maxRefreshTTL)
	}
	c := *cl
	c.RegisteredClaims = jwt.RegisteredClaims{Subject: cl.Subject}
	tok, err := sign(a.cfg.secret, c, ttl)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": tok})
}

// revoke answers POST /admin/revoke?user=U (or ?topic=T), for a token
// with the admin claim: the user's tokens issued until now are refused
// from now on, and the Gate ends their streams on every transport (a
// topic's: every subscription to it). It answers how many streams it
// ended.
func (a *app) revoke(w http.ResponseWriter, r *http.Request) {
	cl, err := a.verifier.verify(bearer(r))
	if err == nil && !cl.Admin {
		err = &adapters.StatusError{Code: http.StatusForbidden, Message: "admin token required"}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	user, topic := q.Get("user"), q.Get("topic")
	var n int
	switch {
	case user != "" && topic == "":
		a.revoked.revoke(user)
		n, err = a.gate.Revoke(r.Context(), user)
	case topic != "" && user == "":
		n, err = a.gate.RevokeTopic(r.Context(), topic)
	default:
		err = &adapters.StatusError{Code: http.StatusBadRequest, Message: "name one user= or one topic="}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": user, "topic": topic, "ended": n})
}
