package sse

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/rxstream/rxstream/framework"
)

// DefaultMaxEventSize is the MaxEventSize of a [Decoder] that sets none.
const DefaultMaxEventSize = 1 << 20

// keepBuffer is the largest scratch buffer a Decoder keeps between events.
const keepBuffer = 64 << 10

// Decoder reads events from an event stream, as a browser's EventSource
// interprets it (WHATWG HTML, "Interpreting an event stream"): an optional
// leading byte order mark is skipped; lines end in CRLF, LF or CR; lines that
// begin with ":" are comments; "data", "event", "id" and "retry" fields are
// applied and other fields ignored; a blank line dispatches the event, unless
// no data field was seen since the previous one. Bytes that are not valid
// UTF-8 are read as U+FFFD, as a browser does.
//
// A Decoder is not safe for concurrent use. It reads ahead from its reader.
type Decoder struct {
	// MaxEventSize bounds the memory the Decoder holds for one event: a line
	// longer than MaxEventSize bytes (its line end not counted), or an event
	// whose data would exceed MaxEventSize bytes, makes [Decoder.Next] return
	// an error wrapping [ErrEventTooLarge]. As a data line carries its
	// "data: " prefix, one-line data is limited to MaxEventSize-6 bytes.
	// Zero or less means [DefaultMaxEventSize]. Set it before calling Next.
	MaxEventSize int

	r       *bufio.Reader
	started bool  // the byte order mark was looked for
	skipLF  bool  // the last line ended in CR: an LF next is part of its end
	err     error // sticky error returned by Next

	// The reader's unread bytes up to crOff hold no CR, up to lfOff no LF;
	// remembering this keeps the search for line ends linear.
	crOff, lfOff int

	line []byte // a line longer than the reader's buffer
	fix  []byte // a value with invalid UTF-8 replaced

	data    []byte        // data buffer
	typ     []byte        // event type buffer
	name    string        // last event type dispatched, to reuse its string
	idBuf   string        // last event ID buffer
	lastID  string        // last event ID string, set at each dispatch
	retry   time.Duration // reconnection time
	evRetry time.Duration // reconnection time set since the last dispatch
}

// NewDecoder returns a Decoder that reads the event stream r, with
// MaxEventSize set to [DefaultMaxEventSize].
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{MaxEventSize: DefaultMaxEventSize, r: bufio.NewReader(r)}
}

// Next reads up to the next dispatched event and returns it. Event.ID is the
// last event ID the stream set, which persists across events (a browser's
// lastEventId); Event.Name is empty when the event set no type (a browser's
// "message"); Event.Retry is the reconnection time set by the event's own
// retry field, zero if it had none.
//
// At the end of the stream Next returns io.EOF; an event that the stream
// ends before dispatching is discarded, as a browser does. An oversized line
// or event returns an error wrapping [ErrEventTooLarge]; a read error is
// returned as is. Once Next has returned an error it returns the same error
// on every later call.
func (d *Decoder) Next() (framework.Event, error) {
	if d.err != nil {
		return framework.Event{}, d.err
	}
	if !d.started {
		d.started = true
		b, err := d.r.Peek(3)
		if err != nil {
			// Fewer than three bytes cannot hold a line that dispatches
			// anything or sets a field that is observable.
			d.err = err
			return framework.Event{}, err
		}
		if string(b) == "\uFEFF" {
			d.discard(3)
		}
	}
	for {
		line, err := d.readLine()
		if err != nil {
			d.err = err
			return framework.Event{}, err
		}
		if len(line) == 0 {
			if ev, ok := d.dispatch(); ok {
				return ev, nil
			}
			continue
		}
		if err := d.processLine(line); err != nil {
			d.err = err
			return framework.Event{}, err
		}
	}
}

// LastEventID returns the event source's last event ID string: the last
// event ID buffer as of the last blank line, whether or not that line
// dispatched an event. A reconnecting client sends it as Last-Event-ID.
func (d *Decoder) LastEventID() string { return d.lastID }

// Retry returns the reconnection time last set by a retry field of the
// stream, whether or not an event was dispatched since; zero if none was.
func (d *Decoder) Retry() time.Duration { return d.retry }

func (d *Decoder) maxSize() int {
	if d.MaxEventSize <= 0 {
		return DefaultMaxEventSize
	}
	return d.MaxEventSize
}

// discard consumes n buffered bytes.
func (d *Decoder) discard(n int) {
	d.r.Discard(n)
	d.crOff = max(d.crOff-n, 0)
	d.lfOff = max(d.lfOff-n, 0)
}

// readLine returns the next line without its line end. The line may alias
// the reader's buffer: it is valid until the next read. At the end of the
// stream a line without a line end is discarded and io.EOF returned.
func (d *Decoder) readLine() ([]byte, error) {
	limit := d.maxSize()
	if cap(d.line) > keepBuffer {
		d.line = nil
	}
	d.line = d.line[:0]
	for {
		if d.r.Buffered() == 0 {
			if _, err := d.r.Peek(1); err != nil {
				return nil, err
			}
		}
		buf, _ := d.r.Peek(d.r.Buffered())
		if d.skipLF {
			d.skipLF = false
			if buf[0] == '\n' {
				d.discard(1)
				continue
			}
		}
		end := len(buf)
		lf := -1
		if d.lfOff < len(buf) {
			if i := bytes.IndexByte(buf[d.lfOff:], '\n'); i >= 0 {
				lf = d.lfOff + i
				end = lf
			}
		}
		d.lfOff = end
		cr := -1
		if d.crOff < end {
			if i := bytes.IndexByte(buf[d.crOff:end], '\r'); i >= 0 {
				cr = d.crOff + i
				end = cr
			}
		}
		d.crOff = end
		if cr < 0 && lf < 0 {
			if len(d.line)+len(buf) > limit {
				return nil, fmt.Errorf("%w: line longer than %d bytes", ErrEventTooLarge, limit)
			}
			d.line = append(d.line, buf...)
			d.discard(len(buf))
			continue
		}
		if len(d.line)+end > limit {
			return nil, fmt.Errorf("%w: line longer than %d bytes", ErrEventTooLarge, limit)
		}
		line := buf[:end]
		if len(d.line) > 0 {
			d.line = append(d.line, line...)
			line = d.line
		}
		d.skipLF = cr >= 0
		d.discard(end + 1)
		return line, nil
	}
}

// processLine applies one non-blank line.
func (d *Decoder) processLine(line []byte) error {
	if line[0] == ':' {
		return nil // comment
	}
	field, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(field) {
	case "data":
		value = d.validUTF8(value)
		if limit := d.maxSize(); len(d.data)+len(value) > limit {
			return fmt.Errorf("%w: data longer than %d bytes", ErrEventTooLarge, limit)
		}
		d.data = append(d.data, value...)
		d.data = append(d.data, '\n')
	case "event":
		d.typ = append(d.typ[:0], d.validUTF8(value)...)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			value = d.validUTF8(value)
			if string(value) != d.idBuf {
				d.idBuf = string(value)
			}
		}
	case "retry":
		if ms, ok := parseRetry(value); ok {
			d.retry = time.Duration(ms) * time.Millisecond
			d.evRetry = d.retry
		}
	}
	return nil
}

// dispatch ends the event at a blank line and reports whether it has data.
func (d *Decoder) dispatch() (framework.Event, bool) {
	d.lastID = d.idBuf
	retry := d.evRetry
	d.evRetry = 0
	if len(d.data) == 0 {
		d.typ = d.typ[:0]
		return framework.Event{}, false
	}
	if string(d.typ) != d.name {
		d.name = string(d.typ)
	}
	ev := framework.Event{
		ID:    d.idBuf,
		Name:  d.name,
		Data:  bytes.Clone(d.data[:len(d.data)-1]),
		Retry: retry,
	}
	d.data, d.typ = d.data[:0], d.typ[:0]
	if cap(d.data) > keepBuffer {
		d.data = nil
	}
	return ev, true
}

// parseRetry parses a retry value: ASCII digits only, at least one. A value
// too large for a time.Duration saturates.
func parseRetry(v []byte) (int64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	var ms int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		ms = min(ms*10+int64(c-'0'), maxRetryMillis)
	}
	return ms, true
}

// validUTF8 returns v with ill-formed UTF-8 replaced by U+FFFD, as the
// WHATWG "UTF-8 decode" does. The result may alias d.fix.
func (d *Decoder) validUTF8(v []byte) []byte {
	if utf8.Valid(v) {
		return v
	}
	d.fix = appendReplacingInvalid(d.fix[:0], v)
	if cap(d.fix) > keepBuffer {
		fixed := d.fix
		d.fix = nil
		return fixed
	}
	return d.fix
}

// appendReplacingInvalid appends src to dst with each maximal subpart of an
// ill-formed UTF-8 sequence replaced by one U+FFFD: the replacement the
// WHATWG Encoding Standard's UTF-8 decoder (and so a browser) makes. Decoding
// a stream in pieces split before ASCII bytes gives the same text as
// decoding it whole, since an ASCII byte always ends an ill-formed sequence.
func appendReplacingInvalid(dst, src []byte) []byte {
	for len(src) > 0 {
		r, size := utf8.DecodeRune(src)
		if r != utf8.RuneError || size > 1 {
			dst = append(dst, src[:size]...)
			src = src[size:]
			continue
		}
		dst = append(dst, "\uFFFD"...)
		src = src[maximalSubpart(src):]
	}
	return dst
}

// maximalSubpart returns the length of the longest prefix of src, at least
// one byte, that begins a well-formed UTF-8 sequence. src must not begin
// with a whole well-formed sequence.
func maximalSubpart(src []byte) int {
	need, lo, hi := 0, byte(0x80), byte(0xBF)
	switch b := src[0]; {
	case b >= 0xC2 && b <= 0xDF:
		need = 1
	case b >= 0xE0 && b <= 0xEF:
		need = 2
		if b == 0xE0 {
			lo = 0xA0
		} else if b == 0xED {
			hi = 0x9F
		}
	case b >= 0xF0 && b <= 0xF4:
		need = 3
		if b == 0xF0 {
			lo = 0x90
		} else if b == 0xF4 {
			hi = 0x8F
		}
	default:
		return 1
	}
	n := 1
	for n <= need && n < len(src) && src[n] >= lo && src[n] <= hi {
		lo, hi = 0x80, 0xBF
		n++
	}
	return n
}
