package receiver_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/ssf/receiver"
	"github.com/pdp-dev/pdp/server/internal/ssf/receiver/settest"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
)

// TestJWKSURIIsFetchedAgainForAnUnknownKidAtMostEveryTenSeconds rotates
// the transmitter's key: a SET under the new kid makes the receiver fetch
// the set again, unless it fetched it less than MinKeyRefresh ago.
func TestJWKSURIIsFetchedAgainForAnUnknownKidAtMostEveryTenSeconds(t *testing.T) {
	t.Parallel()
	old, rotated := settest.NewTransmitter(t, "ES256", "k1"), settest.NewTransmitter(t, "RS256", "k2")
	var serving atomic.Pointer[settest.Transmitter]
	serving.Store(old)
	var fetches atomic.Int32
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(serving.Load().JWKS(t))
	}))
	t.Cleanup(jwks.Close)
	dir := t.TempDir()
	path := filepath.Join(dir, "ssf.yaml")
	cfg := fmt.Sprintf("- name: idp\n  tenant: acme\n  issuer: https://idp.example.com/\n  audience: https://pdp.example.com/\n  jwks_uri: %s\n  delivery: push\n", jwks.URL)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	r := receiver.New(receiver.Options{Store: memory.NewSSF(), Audit: memory.New(memory.Options{}).AuditLog(), Now: clock, HTTPClient: jwks.Client()})
	if err := r.Load(path); err != nil {
		t.Fatal(err)
	}
	receive := func(tr *settest.Transmitter, jti string) error {
		return r.Receive(context.Background(), "idp", []byte(tr.Sign(t, sessionRevoked(jti, clock()))))
	}
	if err := receive(old, "j1"); err != nil || fetches.Load() != 1 {
		t.Fatalf("first SET: %v after %d fetches, want applied after 1", err, fetches.Load())
	}
	serving.Store(rotated)
	advance(time.Second)
	if err := receive(rotated, "j2"); err == nil || fetches.Load() != 1 {
		t.Fatalf("a new kid a second after the fetch: %v after %d fetches, want invalid_key without fetching", err, fetches.Load())
	}
	advance(receiver.MinKeyRefresh)
	if err := receive(rotated, "j3"); err != nil || fetches.Load() != 2 {
		t.Fatalf("the new kid %s later: %v after %d fetches, want applied after 2", receiver.MinKeyRefresh, err, fetches.Load())
	}
}

// TestTheStreamFileIsWatched edits the stream file and waits for the
// receiver to serve the new stream; a broken edit keeps the streams.
func TestTheStreamFileIsWatched(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	g := newRig(t, "https://idp.example.com/", "https://pdp.example.com/", now, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- g.r.Watch(ctx, 10*time.Millisecond) }()
	dir := t.TempDir()
	jwks := g.tr.WriteJWKS(t, dir, "jwks.json")
	path := g.path
	for _, content := range []string{
		"not: [a list",
		fmt.Sprintf("- name: idp\n  tenant: acme\n  issuer: x\n  audience: y\n  jwks_file: %s\n  delivery: push\n"+
			"- name: idp2\n  tenant: globex\n  issuer: x\n  audience: y\n  jwks_file: %s\n  delivery: push\n", jwks, jwks),
	} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitFor(t, "stream idp2", func() bool { return len(g.r.Streams()) == 2 && g.r.HasStreams("globex") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
