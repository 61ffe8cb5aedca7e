package gctune

import (
	"context"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		live, headroom int64
		max, want      int
	}{
		{16 * mib, 64 * mib, 1000, 400},  // a small heap may grow by 64 MiB
		{10 * mib, 64 * mib, 1000, 640},  //
		{1 * mib, 64 * mib, 1000, 1000},  // capped
		{64 * mib, 64 * mib, 1000, 100},  // the default once live ≥ headroom
		{512 * mib, 64 * mib, 1000, 100}, // never below the default
		{0, 64 * mib, 800, 800},          // nothing live yet
		{3, 10, 1000, 334},               // rounds up
		{16 * mib, 64 * mib, 50, 100},    // a cap below 100 is 100
	}
	for _, tt := range tests {
		if got := Percent(tt.live, tt.headroom, tt.max); got != tt.want {
			t.Errorf("Percent(%d, %d, %d) = %d, want %d", tt.live, tt.headroom, tt.max, got, tt.want)
		}
	}
}

func gogc() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// Not parallel: it changes the process's GOGC.
func TestRunRaisesAndRestores(t *testing.T) {
	before := gogc()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, Options{Headroom: 1 << 40, Interval: time.Millisecond, MaxPercent: 700})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for gogc() != 700 {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC %d, want 700 while running", gogc())
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if got := gogc(); got != before {
		t.Fatalf("GOGC %d after Run, want %d restored", got, before)
	}
}

func TestRunWithoutHeadroomLeavesGOGC(t *testing.T) {
	before := gogc()
	Run(context.Background(), Options{}) // returns at once
	if got := gogc(); got != before {
		t.Fatalf("GOGC %d, want %d", got, before)
	}
}
