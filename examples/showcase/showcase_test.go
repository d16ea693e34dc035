package main

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newServer(t *testing.T) (*app, *httptest.Server) {
	t.Helper()
	return newServerWith(t, config{})
}

func newServerWith(t *testing.T, cfg config) (*app, *httptest.Server) {
	t.Helper()
	cfg.log = slog.New(slog.DiscardHandler)
	a, err := newApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(a.e)
	srv.Config = a.e.Server // carries the shutdown hooks
	srv.Config.Handler = a.e
	srv.Start()
	t.Cleanup(func() {
		srv.Config.Shutdown(t.Context())
		srv.Close()
		a.hub.Close()
	})
	return a, srv
}

// readEvents reads n SSE events (as "id|data" strings) from a response.
func readEvents(t *testing.T, body io.Reader, n int) []string {
	t.Helper()
	var got []string
	var id, data []string
	sc := bufio.NewScanner(body)
	for len(got) < n && sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != nil {
				got = append(got, strings.Join(id, "")+"|"+strings.Join(data, "\n"))
			}
			id, data = nil, nil
		case strings.HasPrefix(line, "id: "):
			id = []string{line[4:]}
		case strings.HasPrefix(line, "data: "):
			data = append(data, line[6:])
		}
	}
	return got
}

func TestInterval(t *testing.T) {
	_, srv := newServer(t)
	for _, tc := range []struct {
		name, lastID string
		want         []string
	}{
		{"fresh", "", []string{"0|new message", "1|new message", "2|new message"}},
		{"resumed", "41", []string{"42|new message", "43|new message"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/sse/interval?every=10ms", nil)
			if tc.lastID != "" {
				req.Header.Set("Last-Event-ID", tc.lastID)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if got := readEvents(t, resp.Body, len(tc.want)); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	for _, q := range []string{"every=soon", "every=1ms"} {
		resp, err := http.Get(srv.URL + "/sse/interval?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", q, resp.StatusCode)
		}
	}
}

func TestPublishAndResume(t *testing.T) {
	_, srv := newServer(t)
	var ids []string
	for _, body := range []string{"one", "line 1\nline 2 你好", "three"} {
		resp, err := http.Post(srv.URL+"/topics/chat", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ ID string }
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != 200 || out.ID == "" {
			t.Fatalf("publish: %d %q", resp.StatusCode, out.ID)
		}
		ids = append(ids, out.ID)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/topics/chat/sse", nil)
	req.Header.Set("Last-Event-ID", ids[0])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := readEvents(t, resp.Body, 2)
	want := []string{ids[1] + "|line 1\nline 2 你好", ids[2] + "|three"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %q, want %q", got, want)
	}

	for _, tc := range []struct {
		path string
		body string
		want int
	}{
		{"/topics/bad%20name", "x", http.StatusBadRequest},
		{"/topics/chat", strings.Repeat("x", maxPublish+1), http.StatusRequestEntityTooLarge},
		{"/topics/chat", "\xff\xfe", http.StatusBadRequest},
	} {
		resp, err := http.Post(srv.URL+tc.path, "text/plain", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("POST %s: %d, want %d", tc.path, resp.StatusCode, tc.want)
		}
	}
}

func TestPage(t *testing.T) {
	_, srv := newServer(t)
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{"<title>rxstream showcase</title>", `id="sse-interval"`, `id="sse-topic"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("page lacks %s", want)
		}
	}
	for _, tc := range []struct {
		query      string
		status     int
		has, lacks []string
	}{
		{"panels=chat", 200, []string{`id="chat"`}, []string{`id="sse-interval"`, `id="poll-long"`, `id="ws-echo"`}},
		{"panels=sse,poll", 200, []string{`id="sse-interval"`, `id="poll-long"`}, []string{`id="chat"`, `id="ws-echo"`}},
		{"panels=nope", 400, []string{`no panel \"nope\" (the panels are chat, sse, poll, ws)`}, nil},
	} {
		resp, err := http.Get(srv.URL + "/?" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.query, resp.StatusCode, tc.status)
		}
		for _, want := range tc.has {
			if !strings.Contains(string(b), want) {
				t.Errorf("%s: page lacks %s", tc.query, want)
			}
		}
		for _, unwanted := range tc.lacks {
			if strings.Contains(string(b), unwanted) {
				t.Errorf("%s: page has %s", tc.query, unwanted)
			}
		}
	}
}
