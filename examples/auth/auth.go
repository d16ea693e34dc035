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

// claims are the token's claims: the registered ones (sub, exp, iat, ...),
// the topics its holder may follow and publish to ("*" for every topic),
// and whether it may use the admin routes.
type claims struct {
	jwt.RegisteredClaims
	Subscribe []string `json:"subscribe,omitempty"`
	Publish   []string `json:"publish,omitempty"`
	Admin     bool     `json:"admin,omitempty"`
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
	return sign(secret, claims{RegisteredClaims: jwt.RegisteredClaims{Subject: subject}, Subscribe: subscribe, Publish: publish}, ttl)
}

// sign signs c, issued now and valid for ttl.
func sign(secret []byte, c claims, ttl time.Duration) (string, error) {
	now := time.Now()
	c.IssuedAt = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
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

// verifier checks the example's tokens: HS256 only, an expiry required,
// and not revoked.
type verifier struct {
	secret  []byte
	parser  *jwt.Parser
	revoked *revocations
}

func newVerifier(secret []byte, revoked *revocations) *verifier {
	return &verifier{secret: secret, revoked: revoked, parser: jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), // no "none", no algorithm confusion
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(5*time.Second), // for clocks a little apart; the streams end at exp itself
	)}
}

// verify returns the claims of a valid token, or the 401 that refuses it.
func (v *verifier) verify(raw string) (*claims, error) {
	if raw == "" {
		return nil, errUnauthorized("bearer token required")
	}
	var cl claims
	if _, err := v.parser.ParseWithClaims(raw, &cl, func(*jwt.Token) (any, error) { return v.secret, nil }); err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, errUnauthorized("token expired")
		}
		return nil, errUnauthorized("invalid token")
	}
	if v.revoked.covers(&cl) {
		return nil, errUnauthorized("token revoked")
	}
	return &cl, nil
}

// authorizer returns the adapters.AuthorizeFunc of the example: a valid
// token is required (401 otherwise), and its claims must grant the action
// on the topic (403 otherwise). It tells the server the token's subject,
// for the per-user limit and revocation, and its exp: every stream ends
// then, unless a WebSocket client sends a fresh token before.
func authorizer(v *verifier) adapters.AuthorizeFunc {
	return func(r *http.Request, topic string, action adapters.Action) error {
		cl, err := v.verify(token(r, action))
		if err != nil {
			return err
		}
		adapters.SetUser(r, cl.Subject)
		adapters.ExpiresAt(r, cl.ExpiresAt.Time)
		if !cl.allows(topic, action) {
			return &adapters.StatusError{Code: http.StatusForbidden, Message: "token does not allow " + action.String() + " on " + topic}
		}
		return nil
	}
}
