package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/rxstream/rxstream/framework"
)

func FuzzRoundTrip(f *testing.F) {
	f.Add("", "", []byte("hello"), int64(0), "")
	f.Add("42", "update", []byte("a\nb\r\nc\rd"), int64(1500*time.Millisecond), "ping")
	f.Add(" 1", " name", []byte(" leading space"), int64(1), "")
	f.Add("", "", []byte(""), int64(-5), "a\r\nb")
	f.Add("é", "回复", []byte("服务器回复: 你好"), int64(999*time.Microsecond), "")
	f.Add("", "", []byte("\r\n\r\n"), int64(1<<63-1), "\n")
	f.Add("\uFEFF", "\uFEFF", []byte("\uFEFFx\x00"), int64(time.Millisecond+1), "\uFEFF")
	f.Add("a\nb", "", []byte("x"), int64(0), "")
	f.Add("", "a\x00", []byte("x"), int64(0), "")
	f.Add("", "", []byte("\xff"), int64(0), "\xff")
	f.Fuzz(func(t *testing.T, id, name string, data []byte, retry int64, comment string) {
		ev := framework.Event{ID: id, Name: name, Data: data, Retry: time.Duration(retry)}
		valid := checkField("id", id) == nil && checkField("name", name) == nil && utf8.Valid(data)
		wire := AppendComment([]byte("\uFEFF"), comment)
		n := len(wire)
		wire, err := AppendEvent(wire, ev)
		if !valid {
			if err == nil {
				t.Fatalf("AppendEvent accepted %+v", ev)
			}
			if len(wire) != n {
				t.Fatalf("AppendEvent appended %q on error", wire[n:])
			}
			return
		}
		if err != nil {
			t.Fatalf("AppendEvent: %v", err)
		}
		// A second copy after a comment checks that nothing leaks from one
		// event into the next.
		wire = AppendComment(wire, comment)
		if wire, err = AppendEvent(wire, ev); err != nil {
			t.Fatalf("second AppendEvent: %v", err)
		}
		if !utf8.Valid(wire) {
			t.Fatalf("wire is not UTF-8: %q", wire)
		}

		want := framework.Event{ID: id, Name: name, Data: []byte(normalizeEOL(string(data))), Retry: roundRetry(ev.Retry)}
		for _, wrap := range []func(io.Reader) io.Reader{
			func(r io.Reader) io.Reader { return r },
			iotest.OneByteReader,
		} {
			d := NewDecoder(wrap(bytes.NewReader(wire)))
			d.MaxEventSize = len(wire)
			for range 2 {
				got, err := d.Next()
				if err != nil {
					t.Fatalf("Next: %v (wire %q)", err, wire)
				}
				checkEvent(t, got, want)
			}
			if _, err := d.Next(); err != io.EOF {
				t.Fatalf("Next error %v, want io.EOF", err)
			}
			if d.LastEventID() != id || d.Retry() != want.Retry {
				t.Fatalf("LastEventID %q, Retry %v; want %q, %v", d.LastEventID(), d.Retry(), id, want.Retry)
			}
		}
	})
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("data: hello\n\n"), uint8(0))
	f.Add([]byte("\uFEFFid: 1\r\nevent: e\r\nretry: 10\r\ndata: a\r\ndata\r\n\r\n"), uint8(8))
	f.Add([]byte("data: a\rdata: b\r\r: c\n\nid: 2\x00\ndata:x\n\n"), uint8(3))
	f.Add([]byte("id\nretry: 99999999999999999999999\n\ndata: \xff\xe2\x82\n\n"), uint8(1))
	f.Add([]byte("foo\n:bar\nevent\ndata: 0123456789abcdef\n\ndata: tail"), uint8(16))
	f.Add([]byte("\xEF\xBB"), uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, max uint8) {
		ref, refID, refRetry := referenceDecode(in)

		// Unbounded, whole or byte by byte, the decoder agrees with the
		// reference.
		for _, wrap := range []func(io.Reader) io.Reader{
			func(r io.Reader) io.Reader { return r },
			iotest.OneByteReader,
		} {
			d := NewDecoder(wrap(bytes.NewReader(in)))
			d.MaxEventSize = 3*len(in) + 1 // replacement may triple invalid bytes
			got, err := decodeAll(d)
			if err != io.EOF {
				t.Fatalf("Next error %v, want io.EOF", err)
			}
			checkEvents(t, got, ref)
			if d.LastEventID() != refID || d.Retry() != refRetry {
				t.Fatalf("LastEventID %q, Retry %v; want %q, %v", d.LastEventID(), d.Retry(), refID, refRetry)
			}
		}

		// Bounded, it returns a prefix of the events, each within bounds,
		// then io.EOF or ErrEventTooLarge.
		limit := int(max)%64 + 1
		d := NewDecoder(bytes.NewReader(in))
		d.MaxEventSize = limit
		got, err := decodeAll(d)
		if err != io.EOF && !errors.Is(err, ErrEventTooLarge) {
			t.Fatalf("Next error %v, want io.EOF or ErrEventTooLarge", err)
		}
		if len(got) > len(ref) || err == io.EOF && len(got) != len(ref) {
			t.Fatalf("got %d events, reference %d (err %v)", len(got), len(ref), err)
		}
		checkEvents(t, got, ref[:len(got)])
		for _, ev := range got {
			// Replacing a byte of invalid UTF-8 triples it at most.
			if len(ev.Data) > limit || len(ev.ID) > 3*limit || len(ev.Name) > 3*limit {
				t.Fatalf("event %+v exceeds MaxEventSize %d", ev, limit)
			}
		}
	})
}

func decodeAll(d *Decoder) ([]framework.Event, error) {
	var evs []framework.Event
	for {
		ev, err := d.Next()
		if err != nil {
			return evs, err
		}
		if !utf8.ValidString(ev.ID) || !utf8.ValidString(ev.Name) || !utf8.Valid(ev.Data) ||
			strings.ContainsAny(ev.ID, "\r\n\x00") || strings.ContainsAny(ev.Name, "\r\n") {
			return evs, errors.New("decoded event has invalid fields")
		}
		evs = append(evs, ev)
	}
}

// referenceDecode interprets a whole event stream the way the WHATWG HTML
// standard words it, without limits: decode the stream as UTF-8, split it
// into lines, apply them one by one.
func referenceDecode(in []byte) (evs []framework.Event, lastID string, retry time.Duration) {
	in = bytes.TrimPrefix(in, []byte("\uFEFF"))
	s := string(appendReplacingInvalid(nil, in))
	var data, typ, idBuf string
	var evRetry time.Duration
	for {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			return evs, lastID, retry // what is left is no line
		}
		line := s[:i]
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]

		if line == "" {
			lastID = idBuf
			if data == "" {
				typ, evRetry = "", 0
				continue
			}
			evs = append(evs, framework.Event{ID: idBuf, Name: typ, Data: []byte(strings.TrimSuffix(data, "\n")), Retry: evRetry})
			data, typ, evRetry = "", "", 0
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "data":
			data += value + "\n"
		case "event":
			typ = value
		case "id":
			if !strings.Contains(value, "\x00") {
				idBuf = value
			}
		case "retry":
			if value != "" && strings.Trim(value, "0123456789") == "" {
				var ms int64
				for _, c := range value {
					ms = min(ms*10+int64(c-'0'), maxRetryMillis)
				}
				retry = time.Duration(ms) * time.Millisecond
				evRetry = retry
			}
		}
	}
}
