package transport

import (
	"net/http"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		n                int
		min, max, floor  time.Duration
		wantMin, wantMax time.Duration
	}{
		{1, time.Second, 30 * time.Second, 0, 500 * time.Millisecond, time.Second},
		{2, time.Second, 30 * time.Second, 0, time.Second, 2 * time.Second},
		{4, time.Second, 30 * time.Second, 0, 4 * time.Second, 8 * time.Second},
		{40, time.Second, 30 * time.Second, 0, 15 * time.Second, 30 * time.Second},
		{1, time.Second, 30 * time.Second, 7 * time.Second, 7 * time.Second, 7 * time.Second},
		{3, time.Second, 3 * time.Second, 0, 1500 * time.Millisecond, 3 * time.Second},
	}
	for _, tt := range tests {
		for range 100 {
			d := Backoff(tt.n, tt.min, tt.max, tt.floor)
			if d < tt.wantMin || d > tt.wantMax {
				t.Fatalf("Backoff(%d, %v, %v, %v) = %v, want [%v, %v]", tt.n, tt.min, tt.max, tt.floor, d, tt.wantMin, tt.wantMax)
			}
		}
	}
}

func TestRetryAfter(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", 2 * time.Second: "2", 2001 * time.Millisecond: "3"} {
		if got := RetryAfter(d); got != want {
			t.Errorf("RetryAfter(%v) = %q, want %q", d, got, want)
		}
	}
	for v, want := range map[string]time.Duration{"": 0, "3": 3 * time.Second, "-1": 0, "x": 0, "0": 0,
		time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat): 0} {
		if got := ParseRetryAfter(v); got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
	if got := ParseRetryAfter(time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)); got < 59*time.Minute || got > time.Hour {
		t.Errorf("ParseRetryAfter(date in an hour) = %v", got)
	}
}
