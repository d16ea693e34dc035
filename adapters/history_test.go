package adapters_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/framework"
)

// historyAnswer is an answer of the history route.
type historyAnswer struct {
	status     int
	retryAfter string
	Message    string
	Events     []struct{ ID, Event, Data string }
	Cursor     string
	More       bool
	Truncated  bool
	Gap        *framework.Gap
	raw        string
}

func getHistory(t *testing.T, base, room string, q url.Values) historyAnswer {
	t.Helper()
	u := base + "/rooms/" + room + "/history"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a historyAnswer
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatal(err)
	}
	a.status, a.retryAfter, a.raw = resp.StatusCode, resp.Header.Get("Retry-After"), string(raw)
	if a.status == 200 && resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	return a
}

func (a historyAnswer) data() string {
	var d []string
	for _, ev := range a.Events {
		d = append(d, ev.Data)
	}
	return strings.Join(d, " ")
}

// TestHistoryRoute pages through a topic's history over HTTP, on both
// routers: back from the newest into the events the history limits
// discarded (said so), forward after a cursor (a gap first, as in poll
// answers), and every refusal through the front end.
func TestHistoryRoute(t *testing.T) {
	for _, router := range routers {
		t.Run(router, func(t *testing.T) {
			b := &flaky{Broker: must(framework.NewMemoryBroker(&framework.MemoryOptions{MaxEvents: 5}))}
			hub := must(framework.NewHub(&framework.HubOptions{Broker: b}))
			t.Cleanup(func() { hub.Close() })
			var asked []string
			ts := httptest.NewServer(mount(t, router, hub, func(r *http.Request, topic string, a adapters.Action) error {
				asked = append(asked, a.String()+" "+topic)
				if topic == "admin" {
					return errors.New("admins only")
				}
				return nil
			}))
			t.Cleanup(ts.Close)
			var ids []string
			for i := 1; i <= 8; i++ { // 4..8 retained
				ids = append(ids, must(hub.Publish(context.Background(), "chat", framework.Text(strconv.Itoa(i)))))
			}
			q := func(kv ...string) url.Values {
				v := url.Values{}
				for i := 0; i < len(kv); i += 2 {
					v.Add(kv[i], kv[i+1])
				}
				return v
			}

			asked = nil
			a := getHistory(t, ts.URL, "chat", q("limit", "2"))
			if a.status != 200 || a.data() != "8 7" || !a.More || a.Truncated || a.Cursor != ids[6] || a.Events[0].ID != ids[7] {
				t.Fatalf("the newest page: %s", a.raw)
			}
			if len(asked) != 1 || asked[0] != "subscribe chat" {
				t.Fatalf("the hook was asked %v, want subscribe chat", asked)
			}
			if a = getHistory(t, ts.URL, "chat", q("before", a.Cursor, "limit", "2")); a.data() != "6 5" || !a.More {
				t.Fatalf("the second page: %s", a.raw)
			}
			if a = getHistory(t, ts.URL, "chat", q("before", a.Cursor, "limit", "2")); a.data() != "4" || a.More || !a.Truncated {
				t.Fatalf("the last page: %s", a.raw)
			}
			if a = getHistory(t, ts.URL, "chat", q("before", a.Cursor)); a.status != 200 || a.Events == nil || len(a.Events) != 0 || !a.Truncated || !strings.Contains(a.raw, `"events":[]`) {
				t.Fatalf("before the oldest retained: %s", a.raw)
			}
			a = getHistory(t, ts.URL, "chat", q("after", "0", "limit", "3"))
			if a.data() != "4 5 6" || a.Gap == nil || a.Gap.Last != "0" || a.Gap.Next != ids[3] || !a.More {
				t.Fatalf("after 0: %s", a.raw)
			}
			if a = getHistory(t, ts.URL, "chat", q("after", a.Cursor)); a.data() != "7 8" || a.Gap != nil || a.More || a.Cursor != ids[7] {
				t.Fatalf("after 6: %s", a.raw)
			}
			if a = getHistory(t, ts.URL, "empty", nil); a.status != 200 || len(a.Events) != 0 || a.More || a.Truncated {
				t.Fatalf("a topic without events: %s", a.raw)
			}

			for _, tc := range []struct {
				room   string
				q      url.Values
				status int
				says   string
			}{
				{"a..b", nil, 400, "invalid topic"},
				{"admin", nil, 403, "admins only"},
				{"chat", q("before", "not a cursor"), 400, "invalid cursor"},
				{"chat", q("after", "x-"), 400, "invalid cursor"},
				{"chat", q("before", ids[5], "after", ids[4]), 400, "together"},
				{"chat", q("before", ids[5], "before", ids[4]), 400, "before given twice"},
				{"chat", q("limit", "0"), 400, `limit="0": want 1 to 1000`},
				{"chat", q("limit", "-3"), 400, `limit="-3"`},
				{"chat", q("limit", "1001"), 400, `limit="1001"`},
				{"chat", q("limit", "many"), 400, `limit="many"`},
			} {
				if a := getHistory(t, ts.URL, tc.room, tc.q); a.status != tc.status || !strings.Contains(a.Message, tc.says) {
					t.Errorf("%s %v: %d %q, want %d saying %q", tc.room, tc.q, a.status, a.Message, tc.status, tc.says)
				}
			}
			resp, err := http.Post(ts.URL+"/rooms/chat/history", "text/plain", strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET" {
				t.Errorf("POST: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
			}
			b.down.Store(true)
			if a := getHistory(t, ts.URL, "chat", nil); a.status != 503 || a.retryAfter == "" {
				t.Errorf("broker down: %d, Retry-After %q", a.status, a.retryAfter)
			}
		})
	}
}
