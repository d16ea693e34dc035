package sse

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rxstream/rxstream/framework"
)

// benchData returns about n bytes of JSON-like UTF-8 text, in lines of
// about lineLen bytes (ended by LF) when lineLen is positive.
func benchData(n, lineLen int) []byte {
	const text = `{"user":"alice","text":"服务器回复: 你好","n":12345},`
	var b []byte
	line := 0
	for len(b) < n {
		for _, r := range text {
			if len(b) >= n {
				break
			}
			if lineLen > 0 && line >= lineLen-4 {
				b, line = append(b, '\n'), 0
			}
			b = utf8.AppendRune(b, r)
			line += utf8.RuneLen(r)
		}
	}
	return b
}

var benchSizes = []struct {
	name    string
	size    int
	lineLen int
}{
	{"64B", 64, 0},
	{"1KiB", 1 << 10, 0},
	{"1KiB-lines", 1 << 10, 64},
}

func BenchmarkAppendEvent(b *testing.B) {
	for _, bs := range benchSizes {
		b.Run(bs.name, func(b *testing.B) {
			ev := framework.Event{ID: "1718000000000-42", Name: "chat", Retry: 3 * time.Second, Data: benchData(bs.size, bs.lineLen)}
			dst := make([]byte, 0, 4<<10)
			b.ReportAllocs()
			b.SetBytes(int64(len(ev.Data)))
			for b.Loop() {
				var err error
				if dst, err = AppendEvent(dst[:0], ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecoder(b *testing.B) {
	const events = 100
	for _, bs := range benchSizes {
		b.Run(bs.name, func(b *testing.B) {
			data := benchData(bs.size, bs.lineLen)
			var stream []byte
			for i := range events {
				var err error
				ev := framework.Event{ID: strconv.Itoa(1000 + i), Name: "chat", Data: data}
				if stream, err = AppendEvent(stream, ev); err != nil {
					b.Fatal(err)
				}
				stream = AppendComment(stream, "")
			}
			r := bytes.NewReader(stream)
			b.ReportAllocs()
			b.SetBytes(int64(len(stream)))
			for b.Loop() {
				r.Reset(stream)
				d := NewDecoder(r)
				n := 0
				for {
					_, err := d.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				if n != events {
					b.Fatalf("decoded %d events, want %d", n, events)
				}
			}
		})
	}
	b.Run("CR-lines", func(b *testing.B) {
		stream := []byte(strings.Repeat("data: "+strings.Repeat("x", 57)+"\r", 1<<10) + "\r")
		r := bytes.NewReader(stream)
		b.ReportAllocs()
		b.SetBytes(int64(len(stream)))
		for b.Loop() {
			r.Reset(stream)
			d := NewDecoder(r)
			if _, err := d.Next(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
