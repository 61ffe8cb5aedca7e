package redis

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/store"
	"github.com/pdp-dev/pdp/server/internal/store/redis/redistest"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want Config
	}{
		{"redis://127.0.0.1:6379/0", Config{Addrs: []string{"127.0.0.1:6379"}, ServerName: "127.0.0.1", Prefix: "pdp"}},
		{"redis://localhost", Config{Addrs: []string{"localhost:6379"}, ServerName: "localhost", Prefix: "pdp"}},
		{"rediss://u:p%40ss@cache.internal:6380/3?prefix=prod", Config{
			Addrs: []string{"cache.internal:6380"}, DB: 3, Username: "u", Password: "p@ss", TLS: true,
			ServerName: "cache.internal", Prefix: "prod"}},
		{"redis://:secret@[::1]:7000", Config{Addrs: []string{"[::1]:7000"}, Password: "secret", ServerName: "::1", Prefix: "pdp"}},
		{"redis://n1:7000/0?addr=n2:7001&addr=n3", Config{
			Addrs: []string{"n1:7000", "n2:7001", "n3:6379"}, ServerName: "n1", Prefix: "pdp"}},
	}
	for _, tc := range tests {
		got, err := ParseURL(tc.url)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.url, err)
			continue
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("ParseURL(%q) (-want +got):\n%s", tc.url, d)
		}
	}
}

func TestParseURLRejects(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"http://h:1/0":              "scheme",
		"redis://h:1/x":             "database number",
		"redis://h:1/-1":            "database number",
		"redis://h:1/0/1":           "path",
		"redis://:secret@h:99999/0": "port",
		"redis:///0":                "missing host",
		"redis://h:1/0?db=2":        "unknown parameter",
		"redis://h:1/0?prefix=a{b}": "prefix",
		"redis://h:1/0?addr=:5":     "missing host",
		"redis://h:1/0?prefix=":     "prefix",
		"redis://h:1/%zz":           "bad URL",
		"redis:h":                   "bad URL",
	}
	for raw, want := range tests {
		_, err := ParseURL(raw)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseURL(%q) = %v, want an error about %s", raw, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseURL(%q) repeats the password: %v", raw, err)
		}
	}
}

func benchStore(b *testing.B) *Store {
	srv := redistest.Start(b)
	return openStore(b, srv, Options{})
}

func BenchmarkRead(b *testing.B) {
	s := benchStore(b)
	ip := ipA
	for i := range 20 {
		mustApply(b, s, event(decision.EventLoginSucceeded, "acme", "u42", t0.Add(time.Duration(i)*time.Hour), ip))
		mustApply(b, s, event(decision.EventLoginFailed, "acme", fmt.Sprintf("x%d", i), t0.Add(time.Duration(i)*time.Second), ip))
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var v store.View
		q := store.Query{Tenant: "acme", UserID: "u42", IP: ip, At: t0.Add(24 * time.Hour)}
		for pb.Next() {
			if err := s.Read(context.Background(), q, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkReadSerial is one caller: a round trip per Read.
func BenchmarkReadSerial(b *testing.B) {
	s := benchStore(b)
	mustApply(b, s, event(decision.EventLoginSucceeded, "acme", "u42", t0, ipA))
	var v store.View
	q := store.Query{Tenant: "acme", UserID: "u42", IP: ipA, At: t0}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Read(context.Background(), q, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyEvent is one writer: a load and a compare-and-set per event.
func BenchmarkApplyEvent(b *testing.B) {
	s := benchStore(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		mustApply(b, s, event(decision.EventLoginFailed, "acme", "u1", t0.Add(time.Duration(i)*time.Second), ipA))
	}
}

// BenchmarkApplyEventParallel is many writers of different users failing
// from different IPs.
func BenchmarkApplyEventParallel(b *testing.B) {
	s := benchStore(b)
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := n.Add(1)
		user := fmt.Sprintf("u%d", w)
		ip := ipA.Next()
		for range w {
			ip = ip.Next()
		}
		for i := 0; pb.Next(); i++ {
			mustApply(b, s, event(decision.EventLoginFailed, "acme", user, t0.Add(time.Duration(i)*time.Second), ip))
		}
	})
}
