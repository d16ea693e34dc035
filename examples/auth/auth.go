package main

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rxstream/rxstream/adapters"
)

// claims are the token's claims: the registered ones (sub, exp, ...) and
// the topics its holder may follow and publish to ("*" for every topic).
type claims struct {
	jwt.RegisteredClaims
	Subscribe []string `json:"subscribe,omitempty"`
	Publish   []string `json:"publish,omitempty"`
}

// allows reports whether the claims grant action on topic.
func (c *claims) allows(topic string, action adapters.Action) bool {
	topics := c.Subscribe
	if action == adapters.Publish {
		topics = c.Publish
	}
	return slices.Contains(topics, topic) || slices.Contains(topics, "*")
}

// mint signs a token for subject, valid for ttl.
func mint(secret []byte, subject string, subscribe, publish []string, ttl time.Duration) (string, error) {
	now := time.Now()
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   subject,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Subscribe: subscribe,
		Publish:   publish,
	}).SignedString(secret)
}

// Where a token may come from besides the Authorization header.
const (
	tokenParam  = "access_token"   // query parameter (RFC 6750 2.3)
	tokenCookie = "rxstream_token" // cookie
)

// token returns the request's bearer token. The Authorization header works
// for every action. EventSource and the browser's WebSocket cannot send
// headers, so a subscription may also present its token in the
// access_token query parameter or the rxstream_token cookie. A publish may
// not: a token in a URL ends up in logs, histories and Referer headers, and
// a cookie is sent by the browser on a forged cross-site POST; both are
// acceptable for reading (short-lived, read-only tokens) but not for
// writing.
func token(r *http.Request, action adapters.Action) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
		return ""
	}
	if action != adapters.Subscribe {
		return ""
	}
	if t := r.URL.Query().Get(tokenParam); t != "" {
		return t
	}
	if ck, err := r.Cookie(tokenCookie); err == nil {
		return ck.Value
	}
	return ""
}

// errUnauthorized answers 401 with the challenge RFC 6750 asks for.
func errUnauthorized(desc string) error {
	return &adapters.StatusError{Code: http.StatusUnauthorized, Message: desc,
		Header: http.Header{"Www-Authenticate": {`Bearer realm="rxstream", error="invalid_token"`}}}
}

// authorizer returns the adapters.AuthorizeFunc of the example: a valid
// HS256 token with an expiry is required (401 otherwise), and its claims
// must grant the action on the topic (403 otherwise).
func authorizer(secret []byte) adapters.AuthorizeFunc {
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), // no "none", no algorithm confusion
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(5*time.Second),
	)
	key := func(*jwt.Token) (any, error) { return secret, nil }
	return func(r *http.Request, topic string, action adapters.Action) error {
		raw := token(r, action)
		if raw == "" {
			return errUnauthorized("bearer token required")
		}
		var cl claims
		if _, err := parser.ParseWithClaims(raw, &cl, key); err != nil {
			if errors.Is(err, jwt.ErrTokenExpired) {
				return errUnauthorized("token expired")
			}
			return errUnauthorized("invalid token")
		}
		if !cl.allows(topic, action) {
			return &adapters.StatusError{Code: http.StatusForbidden, Message: "token does not allow " + action.String() + " on " + topic}
		}
		return nil
	}
}
