package framework

import (
	"sync/atomic"
	"unsafe"
)

// Encoding is one wire form of events, a transport's frame or envelope,
// made by its function: func(dst, topic, ev) appends the form of ev, an
// event of topic, to dst. Make each Encoding once (a package variable)
// with [NewEncoding]; [Event.AppendEncoded] tells them apart by identity.
type Encoding struct {
	f func(dst []byte, topic string, ev Event) []byte
}

// NewEncoding returns the Encoding that f makes. f must depend only on its
// topic and event, and must not keep dst.
func NewEncoding(f func(dst []byte, topic string, ev Event) []byte) *Encoding {
	return &Encoding{f: f}
}

// AppendEncoded appends enc's form of e, an event of topic, to dst and
// returns the extended buffer. An event of a [Hub]'s live fan-out is
// encoded once per encoding, by the first subscriber that asks, and every
// other subscriber of its topic copies those bytes; any other event (read
// from history, made by a producer, or a copy whose fields were changed)
// is encoded on each call. The shared bytes are kept as long as the event
// is.
func (e Event) AppendEncoded(dst []byte, enc *Encoding, topic string) []byte {
	c := e.enc
	if c == nil || !c.same(topic, e) {
		return enc.f(dst, topic, e)
	}
	for i := range c.slots {
		p := c.slots[i].Load()
		if p == nil {
			p = &encoded{enc: enc, b: enc.f(nil, topic, e)}
			if !c.slots[i].CompareAndSwap(nil, p) {
				p = c.slots[i].Load() // another subscriber's, maybe of enc
			}
		}
		if p.enc == enc {
			return append(dst, p.b...)
		}
	}
	return enc.f(dst, topic, e) // more encodings than slots
}

// encodings are the shared wire forms of one live event, made for it and
// its topic. The transports have two forms each (a topic's own, and the
// multiplexed one that names the topic).
type encodings struct {
	topic string
	ev    Event // without enc
	slots [4]atomic.Pointer[encoded]
}

type encoded struct {
	enc *Encoding
	b   []byte
}

// newEncodings returns the shared forms of ev, an event of topic.
func newEncodings(topic string, ev Event) *encodings {
	ev.enc = nil
	return &encodings{topic: topic, ev: ev}
}

// same reports whether e, of topic, is still the event the forms were made
// for: a copy whose ID, name, data or retry hint was changed is not.
func (c *encodings) same(topic string, e Event) bool {
	return topic == c.topic && e.ID == c.ev.ID && e.Name == c.ev.Name && e.Retry == c.ev.Retry &&
		len(e.Data) == len(c.ev.Data) && unsafe.SliceData(e.Data) == unsafe.SliceData(c.ev.Data)
}
