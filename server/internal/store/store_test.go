package store

import (
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

func TestDayOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		t    time.Time
		want int64
	}{
		{time.Unix(0, 0), 0},
		{time.Unix(86399, 999), 0},
		{time.Unix(86400, 0), 1},
		{time.Unix(-1, 0), -1},
		{time.Unix(-86400, 0), -1},
		{time.Unix(-86401, 0), -2},
		{time.Date(1970, 1, 2, 1, 0, 0, 0, time.FixedZone("X", 2*3600)), 0},
	}
	for _, tc := range tests {
		if got := DayOf(tc.t); got != tc.want {
			t.Errorf("DayOf(%v) = %d, want %d", tc.t, got, tc.want)
		}
	}
}

func TestSettingsNormalized(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want Settings
	}{
		{Settings{}, Settings{Lookback: DefaultLookback, FailureWindow: DefaultFailureWindow}},
		{Settings{Lookback: -1, FailureWindow: -1}, Settings{Lookback: DefaultLookback, FailureWindow: DefaultFailureWindow}},
		{Settings{Lookback: time.Hour, FailureWindow: time.Minute}, Settings{Lookback: time.Hour, FailureWindow: time.Minute}},
		{Settings{Lookback: 2 * MaxLookback, FailureWindow: 2 * MaxFailureWindow}, Settings{Lookback: MaxLookback, FailureWindow: MaxFailureWindow}},
	}
	for _, tc := range tests {
		if got := tc.in.Normalized(); got != tc.want {
			t.Errorf("%+v.Normalized() = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestIsFailure(t *testing.T) {
	t.Parallel()
	for k := decision.EventUnspecified; k <= decision.EventActivity; k++ {
		want := k == decision.EventLoginFailed || k == decision.EventMFAFailed
		if got := IsFailure(k); got != want {
			t.Errorf("IsFailure(%v) = %v", k, got)
		}
	}
}

func TestInsertTimeKeepsOrderAndBound(t *testing.T) {
	t.Parallel()
	base := time.Unix(1000, 0)
	var list []time.Time
	for _, s := range []int{5, 1, 3, 3, 9, 0} {
		list = insertTime(list, base.Add(time.Duration(s)*time.Second), 5)
	}
	want := []int{1, 3, 3, 5, 9}
	if len(list) != len(want) {
		t.Fatalf("len = %d, want %d", len(list), len(want))
	}
	for i, s := range want {
		if !list[i].Equal(base.Add(time.Duration(s) * time.Second)) {
			t.Errorf("list[%d] = %v, want +%ds", i, list[i], s)
		}
	}
}
