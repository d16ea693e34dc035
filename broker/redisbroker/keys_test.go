package redisbroker_test

import (
	"errors"
	"testing"

	"github.com/rxstream/rxstream/broker/redisbroker"
	"github.com/rxstream/rxstream/framework"
)

func TestTopicKeys(t *testing.T) {
	for _, tc := range []struct {
		topic, stream string
		ok            bool
	}{
		{"news", "rxstream:{news}", true},
		{"orders.eu", "rxstream:{orders.eu}", true},
		{"a-b_C9", "rxstream:{a-b_C9}", true},
		{"", "", false},
		{"a..b", "", false},
		{"a{b}", "", false},
		{"a b", "", false},
	} {
		t.Run(tc.topic, func(t *testing.T) {
			k, err := redisbroker.TopicKeys("rxstream", "", tc.topic)
			if !tc.ok {
				if !errors.Is(err, framework.ErrInvalidTopic) {
					t.Fatalf("TopicKeys(%q) error = %v; want ErrInvalidTopic", tc.topic, err)
				}
				return
			}
			if err != nil || k.Stream != tc.stream || k.Meta != tc.stream+":meta" || k.Idem != tc.stream+":idem:" {
				t.Fatalf("TopicKeys(%q) = %+v, %v; want stream %q", tc.topic, k, err, tc.stream)
			}
		})
	}
}

func TestIDMapping(t *testing.T) {
	for _, tc := range []struct {
		id  string
		seq uint64
		ok  bool
	}{
		{"0-0", 0, true},
		{"0-1", 1, true},
		{"1-0", 1 << 20, true},
		{"1796129721981-0", 1796129721981 << 20, true},
		{"1796129721981-7", 1796129721981<<20 | 7, true},
		{"1796129721981-1048575", 1796129721981<<20 | 1048575, true},
		{"17592186044415-1048575", 1<<64 - 1, true},
		{"1796129721981-1048576", 0, false}, // SEQ of 2^20
		{"17592186044416-0", 0, false},      // MS of 2^44
		{"5", 0, false},
		{"a-1", 0, false},
		{"1-", 0, false},
		{"-1-2", 0, false},
	} {
		t.Run(tc.id, func(t *testing.T) {
			seq, err := redisbroker.FromID(tc.id)
			if !tc.ok {
				if err == nil {
					t.Fatalf("FromID(%q) = %d; want an error", tc.id, seq)
				}
				return
			}
			if err != nil || seq != tc.seq {
				t.Fatalf("FromID(%q) = %d, %v; want %d", tc.id, seq, err, tc.seq)
			}
			if got := redisbroker.ToID(seq); got != tc.id {
				t.Fatalf("ToID(%d) = %q; want %q", seq, got, tc.id)
			}
		})
	}
	// Order is kept: a later ID in the same or a later millisecond is a
	// larger sequence number.
	ids := []string{"0-0", "0-1048575", "1-0", "1-1", "1796129721981-0", "1796129721981-5", "1796129721982-0"}
	var prev uint64
	for i, id := range ids {
		s, _ := redisbroker.FromID(id)
		if i > 0 && s <= prev {
			t.Fatalf("%s maps to %d, not above %s's %d", id, s, ids[i-1], prev)
		}
		prev = s
	}
}

func FuzzFromID(f *testing.F) {
	for _, s := range []string{"0-0", "1796129721981-7", "17592186044415-1048575", "1-1048576", "x", "1-2-3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		seq, err := redisbroker.FromID(id)
		if err != nil {
			return
		}
		// What parses is the one spelling of its sequence number, or a
		// spelling with leading zeros or a plus sign of the same number.
		back := redisbroker.ToID(seq)
		again, err := redisbroker.FromID(back)
		if err != nil || again != seq {
			t.Fatalf("FromID(%q) = %d; ToID gives %q, which reads as %d, %v", id, seq, back, again, err)
		}
	})
}

func TestTopicKeysTagged(t *testing.T) {
	k, err := redisbroker.TopicKeys("rxstream", "rx", "orders.eu")
	if err != nil || k.Stream != "rxstream:{rx}:orders.eu" || k.Meta != "rxstream:{rx}:orders.eu:meta" || k.Idem != "rxstream:{rx}:orders.eu:idem:" {
		t.Fatalf("TopicKeys with a tag: %+v, %v", k, err)
	}
}
