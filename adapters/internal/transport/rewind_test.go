package transport

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rxstream/rxstream/framework"
)

func TestRequestRewind(t *testing.T) {
	for _, tc := range []struct {
		query string
		n     int
		want  []Rewind
		bad   string // what the 400 says
	}{
		{"", 1, []Rewind{{}}, ""},
		{"rewind=5", 1, []Rewind{{N: 5}}, ""},
		{"rewind=0", 1, []Rewind{{}}, ""},
		{"since=90s", 1, []Rewind{{Since: 90 * time.Second}}, ""},
		{"rewind=5", 3, []Rewind{{N: 5}, {N: 5}, {N: 5}}, ""},
		{"rewind=5,,1", 3, []Rewind{{N: 5}, {}, {N: 1}}, ""},
		{"rewind=2,&since=,1m", 2, []Rewind{{N: 2}, {Since: time.Minute}}, ""},
		{"rewind=5&rewind=5", 1, []Rewind{{N: 5}}, ""},
		{"rewind=1000&since=", 1, []Rewind{{N: 1000}}, ""},
		{"since=168h", 1, []Rewind{{Since: framework.MaxSince}}, ""},
		{"rewind=5,1", 3, nil, `rewind="5,1" names 2 topics, the request 3`},
		{"rewind=5,1", 1, nil, "names 2 topics, the request 1"},
		{"rewind=5&rewind=6", 1, nil, "rewind given twice"},
		{"rewind=-1", 1, nil, `rewind="-1": want a number of events from 0 to 1000`},
		{"rewind=1001", 1, nil, "rewind=1001: at most 1000 events"},
		{"rewind=1e3", 1, nil, `rewind="1e3"`},
		{"rewind=" + strings.Repeat("9", 100), 1, nil, "…"},
		{"since=-1s", 1, nil, "negative"},
		{"since=169h", 1, nil, "at most 168h0m0s"},
		{"since=30", 1, nil, "want a duration"},
		{"rewind=1&since=1s", 1, nil, "together"},
		{"rewind=1,&since=1s,", 2, nil, "together"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/t?"+tc.query, nil)
		got, err := RequestRewind(r, tc.n)
		if tc.bad != "" {
			var se *StatusError
			if !errors.As(err, &se) || se.Code != 400 || !strings.Contains(se.Message, tc.bad) || !errors.Is(err, framework.ErrInvalidRewind) {
				t.Errorf("%q (%d topics): %v, want a 400 saying %q", tc.query, tc.n, err, tc.bad)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("%q (%d topics): %v, %v; want %v", tc.query, tc.n, got, err, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%q (%d topics): %v, want %v", tc.query, tc.n, got, tc.want)
			}
		}
	}
}

// FuzzParseRewind: whatever a client sends, the answer is a valid rewind
// the Hub accepts, or a 400.
func FuzzParseRewind(f *testing.F) {
	for _, s := range [][2]string{{"10", ""}, {"", "30s"}, {"-1", ""}, {"", "1h30m"}, {"1", "1s"}, {"99999999999999999999", ""}} {
		f.Add(s[0], s[1])
	}
	hub, _ := framework.NewHub(nil)
	defer hub.Close()
	f.Fuzz(func(t *testing.T, rewind, since string) {
		rw, err := ParseRewind(rewind, since)
		if err != nil {
			var se *StatusError
			if !errors.As(err, &se) || se.Code != 400 {
				t.Fatalf("%q %q: %v, not a 400", rewind, since, err)
			}
			return
		}
		s, err := hub.SubscribeWith("t", "", rw.Options(framework.SubscribeOptions{}))
		if err != nil {
			t.Fatalf("%q %q: %+v refused by the hub: %v", rewind, since, rw, err)
		}
		s.Close()
	})
}
