package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/rxstream/rxstream/framework"
)

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name string
		ev   framework.Event
		want string
	}{
		{"data only", framework.Event{Data: []byte("hello")}, "data: hello\n\n"},
		{"all fields", framework.Event{ID: "42", Name: "update", Retry: 1500 * time.Millisecond, Data: []byte("x")},
			"id: 42\nevent: update\nretry: 1500\ndata: x\n\n"},
		{"name message is written", framework.Event{Name: "message", Data: []byte("x")}, "event: message\ndata: x\n\n"},
		{"empty data", framework.Event{}, "data: \n\n"},
		{"empty data with id", framework.Event{ID: "7", Data: []byte{}}, "id: 7\ndata: \n\n"},
		{"LF lines", framework.Event{Data: []byte("a\nb\nc")}, "data: a\ndata: b\ndata: c\n\n"},
		{"CR lines", framework.Event{Data: []byte("a\rb\rc")}, "data: a\ndata: b\ndata: c\n\n"},
		{"CRLF lines", framework.Event{Data: []byte("a\r\nb\r\nc")}, "data: a\ndata: b\ndata: c\n\n"},
		{"mixed line ends", framework.Event{Data: []byte("a\r\nb\rc\nd")}, "data: a\ndata: b\ndata: c\ndata: d\n\n"},
		{"trailing LF", framework.Event{Data: []byte("a\n")}, "data: a\ndata: \n\n"},
		{"only line ends", framework.Event{Data: []byte("\r\n\r\n")}, "data: \ndata: \ndata: \n\n"},
		{"LF then CR", framework.Event{Data: []byte("\n\r")}, "data: \ndata: \ndata: \n\n"},
		{"CR then CRLF", framework.Event{Data: []byte("\r\r\n")}, "data: \ndata: \ndata: \n\n"},
		{"leading space", framework.Event{Data: []byte(" x")}, "data:  x\n\n"},
		{"leading space in id and name", framework.Event{ID: " 1", Name: " n", Data: []byte("x")},
			"id:  1\nevent:  n\ndata: x\n\n"},
		{"colon in data", framework.Event{Data: []byte("a: b")}, "data: a: b\n\n"},
		{"non-ASCII", framework.Event{ID: "é", Name: "回复", Data: []byte("服务器回复: 你好")},
			"id: é\nevent: 回复\ndata: 服务器回复: 你好\n\n"},
		{"NUL in data", framework.Event{Data: []byte("a\x00b")}, "data: a\x00b\n\n"},
		{"retry 1ns rounds up", framework.Event{Retry: 1, Data: []byte("x")}, "retry: 1\ndata: x\n\n"},
		{"retry 999us rounds up", framework.Event{Retry: 999 * time.Microsecond, Data: []byte("x")}, "retry: 1\ndata: x\n\n"},
		{"retry 1ms", framework.Event{Retry: time.Millisecond, Data: []byte("x")}, "retry: 1\ndata: x\n\n"},
		{"retry 1ms+1ns", framework.Event{Retry: time.Millisecond + 1, Data: []byte("x")}, "retry: 2\ndata: x\n\n"},
		{"retry 2.5s", framework.Event{Retry: 2500 * time.Millisecond, Data: []byte("x")}, "retry: 2500\ndata: x\n\n"},
		{"retry max", framework.Event{Retry: time.Duration(1<<63 - 1), Data: []byte("x")}, "retry: 9223372036854\ndata: x\n\n"},
		{"retry negative", framework.Event{Retry: -time.Second, Data: []byte("x")}, "data: x\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendEvent(nil, tt.ev)
			if err != nil {
				t.Fatalf("AppendEvent: %v", err)
			}
			if string(got) != tt.want {
				t.Fatalf("AppendEvent = %q, want %q", got, tt.want)
			}
			// The size is computed exactly: a buffer just large enough is
			// used as is.
			exact := make([]byte, 0, len(tt.want))
			if got, _ := AppendEvent(exact, tt.ev); &got[0] != &exact[:1][0] {
				t.Errorf("buffer of exactly %d bytes was reallocated", len(tt.want))
			}
			dst := []byte("prefix")
			got, err = AppendEvent(dst, tt.ev)
			if err != nil || string(got) != "prefix"+tt.want {
				t.Fatalf("AppendEvent(prefix) = %q, %v", got, err)
			}

			// The decoder reads back what was written.
			d := NewDecoder(strings.NewReader(tt.want))
			ev, err := d.Next()
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			want := tt.ev
			want.Data = []byte(normalizeEOL(string(tt.ev.Data)))
			want.Retry = roundRetry(tt.ev.Retry)
			checkEvent(t, ev, want)
			if _, err := d.Next(); err != io.EOF {
				t.Fatalf("second Next: %v, want io.EOF", err)
			}
		})
	}
}

func TestAppendEventRefused(t *testing.T) {
	tests := []struct {
		name      string
		ev        framework.Event
		wantErr   error
		wantField string
		wantMsg   string
	}{
		{"id with LF", framework.Event{ID: "1\n2"}, ErrInvalidField, "id", "rxstream: sse: event id contains CR, LF or NUL"},
		{"id with CR", framework.Event{ID: "1\r"}, ErrInvalidField, "id", "rxstream: sse: event id contains CR, LF or NUL"},
		{"id with NUL", framework.Event{ID: "\x001"}, ErrInvalidField, "id", "rxstream: sse: event id contains CR, LF or NUL"},
		{"id not UTF-8", framework.Event{ID: "\xff"}, ErrInvalidField, "id", "rxstream: sse: event id is not valid UTF-8"},
		{"name with LF", framework.Event{Name: "a\nb"}, ErrInvalidField, "name", "rxstream: sse: event name contains CR, LF or NUL"},
		{"name with CR", framework.Event{Name: "a\rb"}, ErrInvalidField, "name", "rxstream: sse: event name contains CR, LF or NUL"},
		{"name with NUL", framework.Event{Name: "a\x00"}, ErrInvalidField, "name", "rxstream: sse: event name contains CR, LF or NUL"},
		{"name not UTF-8", framework.Event{Name: "\xc0\xaf"}, ErrInvalidField, "name", "rxstream: sse: event name is not valid UTF-8"},
		{"data not UTF-8", framework.Event{ID: "1", Data: []byte("ok\xff")}, ErrNotText, "", "rxstream: sse: data is not valid UTF-8"},
		{"data surrogate", framework.Event{Data: []byte("\xed\xa0\x80")}, ErrNotText, "", "rxstream: sse: data is not valid UTF-8"},
		{"data truncated rune", framework.Event{Data: []byte("\xe4\xbd")}, ErrNotText, "", "rxstream: sse: data is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			backing := []byte("prefix##########################")
			dst := backing[:6]
			got, err := AppendEvent(dst, tt.ev)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("Error() = %q, want %q", err.Error(), tt.wantMsg)
			}
			if tt.wantField != "" {
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("err %T is not a *FieldError", err)
				}
				value := tt.ev.ID
				if tt.wantField == "name" {
					value = tt.ev.Name
				}
				if fe.Field != tt.wantField || fe.Value != value {
					t.Errorf("FieldError = %+v, want Field %q Value %q", fe, tt.wantField, value)
				}
			}
			if len(got) != 6 || &got[0] != &dst[0] {
				t.Errorf("dst changed: %q", got)
			}
			if string(backing) != "prefix##########################" {
				t.Errorf("spare capacity written: %q", backing)
			}
		})
	}
}

func TestAppendComment(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"empty", "", ":\n"},
		{"one line", "ping", ": ping\n"},
		{"LF", "a\nb", ": a\n: b\n"},
		{"CR and CRLF", "a\r\nb\rc", ": a\n: b\n: c\n"},
		{"trailing line end", "a\n", ": a\n:\n"},
		{"empty middle line", "a\n\nb", ": a\n:\n: b\n"},
		{"leading space", " x", ":  x\n"},
		{"invalid UTF-8", "\xffx", ": \uFFFDx\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AppendComment([]byte("p"), tt.text); string(got) != "p"+tt.want {
				t.Fatalf("AppendComment = %q, want %q", got, "p"+tt.want)
			}
			// A comment dispatches nothing and hides no event after it.
			stream := AppendComment(nil, tt.text)
			stream = append(stream, "data: x\n\n"...)
			d := NewDecoder(bytes.NewReader(stream))
			ev, err := d.Next()
			if err != nil || string(ev.Data) != "x" {
				t.Fatalf("Next = %+v, %v, want data x", ev, err)
			}
		})
	}
}

func TestAppendAllocs(t *testing.T) {
	ev := framework.Event{ID: "1234", Name: "tick", Retry: 1500 * time.Millisecond,
		Data: []byte("line one\r\nline two\rline three\nline four")}
	dst := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() {
		var err error
		if dst, err = AppendEvent(dst[:0], ev); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("AppendEvent: %v allocations per run, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		dst = AppendComment(dst[:0], "heartbeat\n\xff")
	}); n != 0 {
		t.Errorf("AppendComment: %v allocations per run, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		_, _ = AppendEvent(dst[:0], framework.Event{ID: "a\nb"})
	}); n != 1 {
		t.Errorf("refused AppendEvent: %v allocations per run, want 1 (the error)", n)
	}
}

func TestDecoder(t *testing.T) {
	ev := func(id, name, data string) framework.Event {
		return framework.Event{ID: id, Name: name, Data: []byte(data)}
	}
	ms := func(n int64) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name    string
		in      string
		max     int
		want    []framework.Event
		wantErr error // after the events; io.EOF when nil
		lastID  string
		retry   time.Duration
	}{
		{name: "empty stream", in: ""},
		{name: "short stream", in: "\n\n"},
		{name: "one event", in: "data: hello\n\n", want: []framework.Event{ev("", "", "hello")}},
		{name: "BOM", in: "\uFEFFdata: a\n\n", want: []framework.Event{ev("", "", "a")}},
		{name: "only one BOM stripped", in: "\uFEFF\uFEFFdata: a\n\n"},
		{name: "BOM later is no BOM", in: "data: a\n\n\uFEFFdata: b\n\n", want: []framework.Event{ev("", "", "a")}},
		{name: "partial BOM", in: "\xEF\xBBdata: a\n\ndata: b\n\n", want: []framework.Event{ev("", "", "b")}},
		{name: "LF", in: "data: a\ndata: b\n\n", want: []framework.Event{ev("", "", "a\nb")}},
		{name: "CRLF", in: "data: a\r\ndata: b\r\n\r\n", want: []framework.Event{ev("", "", "a\nb")}},
		{name: "CR", in: "data: a\rdata: b\r\r", want: []framework.Event{ev("", "", "a\nb")}},
		{name: "mixed line ends", in: "data: a\rdata: b\ndata: c\r\n\r\ndata: d\n\r",
			want: []framework.Event{ev("", "", "a\nb\nc"), ev("", "", "d")}},
		{name: "CRLF is one line end", in: "data: a\r\n\r\ndata: b\r\n\r\n",
			want: []framework.Event{ev("", "", "a"), ev("", "", "b")}},
		{name: "CR then CRLF", in: "data: a\r\r\ndata: b\n\n",
			want: []framework.Event{ev("", "", "a"), ev("", "", "b")}},
		{name: "LF then CR", in: "data: a\n\rdata: b\n\n",
			want: []framework.Event{ev("", "", "a"), ev("", "", "b")}},
		{name: "comments", in: ": hello\ndata: a\n:\n: more\n\n:only a comment\n\n",
			want: []framework.Event{ev("", "", "a")}},
		{name: "no space after colon", in: "data:a\n\n", want: []framework.Event{ev("", "", "a")}},
		{name: "one space stripped", in: "data:  a \n\n", want: []framework.Event{ev("", "", " a ")}},
		{name: "colon in value", in: "data: a: b\n\n", want: []framework.Event{ev("", "", "a: b")}},
		{name: "field without colon", in: "data\n\n", want: []framework.Event{ev("", "", "")}},
		{name: "two empty data fields", in: "data\ndata:\n\n", want: []framework.Event{ev("", "", "\n")}},
		{name: "empty line in data", in: "data: a\ndata:\ndata: b\n\n", want: []framework.Event{ev("", "", "a\n\nb")}},
		{name: "trailing empty data line", in: "data: a\ndata: \n\n", want: []framework.Event{ev("", "", "a\n")}},
		{name: "event type", in: "event: add\ndata: x\n\n", want: []framework.Event{ev("", "add", "x")}},
		{name: "event type resets", in: "event: add\ndata: x\n\ndata: y\n\n",
			want: []framework.Event{ev("", "add", "x"), ev("", "", "y")}},
		{name: "event type resets without data", in: "event: add\n\ndata: y\n\n",
			want: []framework.Event{ev("", "", "y")}},
		{name: "event without colon", in: "event: add\nevent\ndata: x\n\n", want: []framework.Event{ev("", "", "x")}},
		{name: "last event type wins", in: "event: a\nevent: b\ndata: x\n\n", want: []framework.Event{ev("", "b", "x")}},
		{name: "no data no event", in: "event: add\nid: 1\n\n", lastID: "1"},
		{name: "id persists", in: "id: 1\ndata: a\n\ndata: b\n\n",
			want: []framework.Event{ev("1", "", "a"), ev("1", "", "b")}, lastID: "1"},
		{name: "id with NUL ignored", in: "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
			want: []framework.Event{ev("1", "", "a"), ev("1", "", "b")}, lastID: "1"},
		{name: "empty id resets", in: "id: 1\ndata: a\n\nid\ndata: b\n\nid: 2\n\nid:\ndata: c\n\n",
			want: []framework.Event{ev("1", "", "a"), ev("", "", "b"), ev("", "", "c")}},
		{name: "id without data sets last event ID", in: "data: a\n\nid: 5\n\n",
			want: []framework.Event{ev("", "", "a")}, lastID: "5"},
		{name: "id of incomplete event", in: "id: 1\ndata: a\n\nid: 2\ndata: b\n",
			want: []framework.Event{ev("1", "", "a")}, lastID: "1"},
		{name: "id with spaces", in: "id:  x \ndata: a\n\n", want: []framework.Event{ev(" x ", "", "a")}, lastID: " x "},
		{name: "retry", in: "retry: 1500\ndata: a\n\n",
			want: []framework.Event{{Data: []byte("a"), Retry: ms(1500)}}, retry: ms(1500)},
		{name: "retry without event", in: "retry: 3000\n\n", retry: ms(3000)},
		{name: "retry in incomplete event", in: "retry: 3000\ndata: a\n", retry: ms(3000)},
		{name: "retry belongs to its event", in: "retry: 100\ndata: a\n\ndata: b\n\n",
			want: []framework.Event{{Data: []byte("a"), Retry: ms(100)}, {Data: []byte("b")}}, retry: ms(100)},
		{name: "retry zero", in: "retry: 100\n\nretry: 0\n\n"},
		{name: "retry not digits", in: "retry: 100\n\nretry: 15a\nretry: -1\nretry: 1.5\nretry:  10\nretry:\nretry\nretry: ١٢\n\n",
			retry: ms(100)},
		{name: "retry saturates", in: "retry: 99999999999999999999999999\n\n", retry: ms(maxRetryMillis)},
		{name: "unknown field", in: "foo: bar\nData: x\nDATA: y\ndata : z\ndata: a\n\n", want: []framework.Event{ev("", "", "a")}},
		{name: "incomplete event at EOF", in: "data: a\n"},
		{name: "incomplete line at EOF", in: "data: a\n\ndata: b", want: []framework.Event{ev("", "", "a")}},
		{name: "incomplete line has no effect", in: "data: a\n\nid: 1", want: []framework.Event{ev("", "", "a")}},
		{name: "CR ends the stream", in: "data: a\r\r", want: []framework.Event{ev("", "", "a")}},
		{name: "NUL in data", in: "data: a\x00b\n\n", want: []framework.Event{ev("", "", "a\x00b")}},
		{name: "non-ASCII", in: "event: 回复\ndata: 服务器回复: 你好\n\n", want: []framework.Event{ev("", "回复", "服务器回复: 你好")}},
		{name: "invalid UTF-8 replaced", in: "id: \xc0\xaf\nevent: \xff\ndata: \xe2\x82a\ndata: \xf0\x9f\x98\n\n",
			want: []framework.Event{ev("\uFFFD\uFFFD", "\uFFFD", "\uFFFDa\n\uFFFD")}, lastID: "\uFFFD\uFFFD"},
		{name: "at the size limit", max: 16, in: "data: 0123456789\n\ndata: 01234\ndata: 0123456789\n\n",
			want: []framework.Event{ev("", "", "0123456789"), ev("", "", "01234\n0123456789")}},
		{name: "line too large", max: 16, in: "data: a\n\ndata: 01234567890\n\ndata: b\n\n",
			want: []framework.Event{ev("", "", "a")}, wantErr: ErrEventTooLarge},
		{name: "comment too large", max: 16, in: ": 0123456789abcdef\ndata: a\n\n", wantErr: ErrEventTooLarge},
		{name: "unterminated line too large", max: 16, in: "data: 01234567890", wantErr: ErrEventTooLarge},
		{name: "data too large", max: 16, in: "data: 0123456789\ndata: 012345\n\n", wantErr: ErrEventTooLarge},
		{name: "replaced data too large", max: 16, in: "data: \xff\xff\xff\xff\xff\xff\n\n", wantErr: ErrEventTooLarge},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
		{"data with EOF", iotest.DataErrReader},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				d := NewDecoder(rd.wrap(strings.NewReader(tt.in)))
				if tt.max != 0 {
					d.MaxEventSize = tt.max
				}
				var got []framework.Event
				var err error
				for {
					var ev framework.Event
					if ev, err = d.Next(); err != nil {
						break
					}
					got = append(got, ev)
				}
				checkEvents(t, got, tt.want)
				wantErr := tt.wantErr
				if wantErr == nil {
					wantErr = io.EOF
				}
				if !errors.Is(err, wantErr) {
					t.Fatalf("Next error %v, want %v", err, wantErr)
				}
				if _, again := d.Next(); again != err {
					t.Errorf("Next after error = %v, want %v again", again, err)
				}
				if d.LastEventID() != tt.lastID {
					t.Errorf("LastEventID = %q, want %q", d.LastEventID(), tt.lastID)
				}
				if d.Retry() != tt.retry {
					t.Errorf("Retry = %v, want %v", d.Retry(), tt.retry)
				}
			})
		}
	}
}

// chunkReader returns its chunks one Read at a time.
type chunkReader struct{ chunks []string }

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	if r.chunks[0] = r.chunks[0][n:]; r.chunks[0] == "" {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

func TestDecoderCRLFSplitAcrossReads(t *testing.T) {
	// Were the LF after a CR at the end of a read taken for a blank line,
	// "a" and "b" would be two events.
	r := &chunkReader{chunks: []string{"data: a\r", "\ndata: b\r", "\n\r", "\nid: 1\r", "\n", "data: c\r", "\n\r", "\n"}}
	d := NewDecoder(r)
	var got []framework.Event
	for {
		ev, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	checkEvents(t, got, []framework.Event{{Data: []byte("a\nb")}, {ID: "1", Data: []byte("c")}})
}

func TestDecoderReadError(t *testing.T) {
	boom := errors.New("boom")
	d := NewDecoder(io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom)))
	if ev, err := d.Next(); err != nil || string(ev.Data) != "a" {
		t.Fatalf("Next = %+v, %v", ev, err)
	}
	for range 2 {
		if _, err := d.Next(); err != boom {
			t.Fatalf("Next error %v, want %v", err, boom)
		}
	}
}

func TestDecoderDefaultMaxEventSize(t *testing.T) {
	big := strings.Repeat("x", DefaultMaxEventSize-len("data: "))
	for _, max := range []int{0, -1, DefaultMaxEventSize} {
		d := NewDecoder(strings.NewReader("data: " + big + "\n\ndata: " + big + "x\n\n"))
		d.MaxEventSize = max
		if ev, err := d.Next(); err != nil || len(ev.Data) != len(big) {
			t.Fatalf("MaxEventSize %d: Next = %d bytes, %v", max, len(ev.Data), err)
		}
		if _, err := d.Next(); !errors.Is(err, ErrEventTooLarge) {
			t.Fatalf("MaxEventSize %d: Next error %v, want ErrEventTooLarge", max, err)
		}
	}
}

func TestDecoderManyCRLines(t *testing.T) {
	// Line ends of one kind far from those of the other must not make the
	// search quadratic; this finishes in milliseconds when linear.
	in := strings.Repeat("data: a\r", 1<<16) + "\r" + strings.Repeat("\n", 1<<16)
	d := NewDecoder(strings.NewReader(in))
	d.MaxEventSize = 1 << 20
	ev, err := d.Next()
	if err != nil || len(ev.Data) != 2<<16-1 {
		t.Fatalf("Next = %d bytes, %v", len(ev.Data), err)
	}
	if _, err := d.Next(); err != io.EOF {
		t.Fatalf("Next error %v, want io.EOF", err)
	}
	ev2, err := AppendEvent(nil, framework.Event{Data: []byte(strings.Repeat("a\r", 1<<16) + "\n")})
	if err != nil || len(ev2) != (1<<16+1)*len("data: a\n")-1+1 {
		t.Fatalf("AppendEvent = %d bytes, %v", len(ev2), err)
	}
}

func TestAppendReplacingInvalid(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{"\uFFFD", "\uFFFD"},
		{"服务器", "服务器"},
		// Unicode Standard, table 3-8.
		{"\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64", "a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd"},
		{"\xff", "\uFFFD"},
		{"\xc0\xaf", "\uFFFD\uFFFD"},
		{"\xe0\x80\xaf", "\uFFFD\uFFFD\uFFFD"},
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"},
		{"\xf4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"\xf0\x9f\x98", "\uFFFD"},
		{"\xf0\x9f\x98a", "\uFFFDa"},
		{"\xe2\x82", "\uFFFD"},
		{"\xe2\x82\xe2\x82\xac", "\uFFFD€"},
		{"\xf4\x8f\xbf\xbf", "\U0010FFFF"},
	}
	for _, tt := range tests {
		if got := string(appendReplacingInvalid(nil, []byte(tt.in))); got != tt.want {
			t.Errorf("appendReplacingInvalid(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// normalizeEOL turns CRLF and CR into LF, as a client reads data lines.
func normalizeEOL(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// roundRetry is the reconnection time a client reads for an event written
// with retry r: r rounded up to whole milliseconds, within a Duration.
func roundRetry(r time.Duration) time.Duration {
	if r <= 0 {
		return 0
	}
	ms := (uint64(r) + uint64(time.Millisecond) - 1) / uint64(time.Millisecond)
	return time.Duration(min(ms, uint64(maxRetryMillis))) * time.Millisecond
}

func checkEvents(t *testing.T, got, want []framework.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range got {
		checkEvent(t, got[i], want[i])
	}
}

func checkEvent(t *testing.T, got, want framework.Event) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || !bytes.Equal(got.Data, want.Data) || got.Retry != want.Retry {
		t.Fatalf("event {ID:%q Name:%q Data:%q Retry:%v}, want {ID:%q Name:%q Data:%q Retry:%v}",
			got.ID, got.Name, got.Data, got.Retry, want.ID, want.Name, want.Data, want.Retry)
	}
}
