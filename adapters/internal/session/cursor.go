package session

import (
	"fmt"
	"strings"

	"github.com/rxstream/rxstream/framework"
)

// MaxTopics is the default bound of the topics one request may follow.
const MaxTopics = 64

// A composite cursor names a position in each topic of a request, in the
// request's topic order, so that the last SSE id alone resumes the whole
// set. Its form is an epoch, a colon, and one position per topic separated
// by commas:
//
//	mi2x8k1z:42,17,,5
//
// A position is a sequence number in that epoch, a whole cursor
// ("EPOCH-SEQ") of another epoch, or empty: no position yet, the topic
// starts with its next live event. The epoch may be empty (":a-4,b-9"),
// which is what a client that builds a cursor from each topic's last
// event ID sends. A single cursor never holds a colon, so the two forms
// cannot be mistaken for each other.

// maxCursorLen bounds a composite cursor: MaxTopics whole cursors.
func maxCursorLen(n int) int { return n * (framework.MaxCursorLen + 1) }

// parseCursor returns the n per-topic cursors that s names ("" for none);
// s == "" names none for every topic.
func parseCursor(s string, n int) ([]string, error) {
	pos := make([]string, n)
	if s == "" {
		return pos, nil
	}
	bad := func(why string, args ...any) error {
		return &framework.CursorError{Cursor: cut(s), Reason: fmt.Sprintf(why, args...)}
	}
	if len(s) > maxCursorLen(n) {
		return nil, bad("longer than %d bytes for %d topics", maxCursorLen(n), n)
	}
	epoch, list, ok := strings.Cut(s, ":")
	if !ok {
		return nil, bad("want EPOCH:SEQ,SEQ,... with a position per topic")
	}
	parts := strings.Split(list, ",")
	if len(parts) != n {
		return nil, bad("names %d topics, the request %d", len(parts), n)
	}
	for i, p := range parts {
		if p != "" && epoch != "" && !strings.Contains(p, "-") {
			p = epoch + "-" + p
		}
		if _, _, err := framework.ParseCursor(p); err != nil {
			return nil, bad("position %d: %v", i+1, err)
		}
		pos[i] = p
	}
	return pos, nil
}

// formatCursor appends the composite cursor of pos to b, compact: the
// epoch of the first position that has one is written once, and the
// positions of that epoch as bare sequence numbers. A bare position (a
// client's own "42") would then be read in that epoch: when there is one,
// every position is written whole.
func formatCursor(b []byte, pos []string) []byte {
	epoch := ""
	for _, p := range pos {
		e, _, ok := strings.Cut(p, "-")
		if p != "" && !ok {
			epoch = ""
			break
		}
		if ok && epoch == "" {
			epoch = e
		}
	}
	b = append(b, epoch...)
	b = append(b, ':')
	for i, p := range pos {
		if i > 0 {
			b = append(b, ',')
		}
		if e, seq, ok := strings.Cut(p, "-"); ok && e == epoch {
			p = seq
		}
		b = append(b, p...)
	}
	return b
}

func cut(s string) string {
	if len(s) > framework.MaxCursorLen {
		return s[:framework.MaxCursorLen]
	}
	return s
}
