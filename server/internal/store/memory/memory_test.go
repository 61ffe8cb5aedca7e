package memory

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/store"
	"github.com/pdp-dev/pdp/server/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return New(Options{}) })
}

func TestSweepDropsIdleState(t *testing.T) {
	t.Parallel()
	wall := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(Options{SweepInterval: -1, ProfileRetention: time.Hour, IPRetention: time.Minute, Now: func() time.Time { return wall }})
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	ip := netip.MustParseAddr("192.0.2.1")
	at := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) // event time plays no part in sweeping
	for _, user := range []string{"idle", "suspended", "reset"} {
		e := &decision.Event{Tenant: "acme", Kind: decision.EventLoginFailed, Subject: decision.Subject{ID: user}, Time: at}
		e.Network.IP = ip
		if _, err := s.ApplyEvent(ctx, e, store.Settings{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetSuspension(ctx, "acme", "suspended", store.Suspension{Suspended: true, At: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetMFA(ctx, "acme", "reset", at); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		now            time.Time
		profiles, ips  int
		leftP, leftIPs int
	}{
		{wall.Add(time.Minute), 0, 0, 3, 1},
		{wall.Add(time.Minute + 1), 0, 1, 3, 0},
		{wall.Add(time.Hour + 1), 1, 0, 2, 0},
	}
	for _, tc := range tests {
		p, i := s.Sweep(tc.now)
		lp, li := s.Len()
		if p != tc.profiles || i != tc.ips || lp != tc.leftP || li != tc.leftIPs {
			t.Errorf("Sweep(%v) dropped %d, %d leaving %d, %d; want %d, %d leaving %d, %d",
				tc.now.Sub(wall), p, i, lp, li, tc.profiles, tc.ips, tc.leftP, tc.leftIPs)
		}
	}
}

func TestSweeperStopsOnClose(t *testing.T) {
	t.Parallel()
	s := New(Options{SweepInterval: time.Millisecond})
	time.Sleep(5 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkRead(b *testing.B) {
	s := New(Options{SweepInterval: -1})
	b.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	ip := netip.MustParseAddr("198.51.100.7")
	for u := range 1000 {
		for i := range 20 {
			e := &decision.Event{Tenant: "acme", Kind: decision.EventLoginSucceeded, Time: at.Add(time.Duration(i) * time.Hour)}
			e.Subject.ID = fmt.Sprintf("u%d", u)
			e.Device.ID = fmt.Sprintf("d%d", i%5)
			e.Network.Country = "PT"
			e.Network.IP = ip
			e.Action.Name = "login"
			if _, err := s.ApplyEvent(ctx, e, store.Settings{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var v store.View
		q := store.Query{Tenant: "acme", UserID: "u42", IP: ip, At: at.Add(24 * time.Hour)}
		for pb.Next() {
			if err := s.Read(ctx, q, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkApplyEvent(b *testing.B) {
	s := New(Options{SweepInterval: -1})
	b.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	e := &decision.Event{Tenant: "acme", Kind: decision.EventLoginSucceeded, Time: at}
	e.Subject.ID = "u1"
	e.Device.ID = "d1"
	e.Network.Country = "PT"
	e.Action.Name = "login"
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e.Time = at.Add(time.Duration(i) * time.Second)
		if _, err := s.ApplyEvent(ctx, e, store.Settings{}); err != nil {
			b.Fatal(err)
		}
	}
}
