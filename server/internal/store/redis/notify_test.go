package redis

import (
	"context"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/store/redis/redistest"
)

// collect subscribes and returns the channel its changes arrive on.
func collect(t *testing.T, n *Notifier) (<-chan Change, *Subscription) {
	t.Helper()
	ch := make(chan Change, 64)
	sub := n.Subscribe(context.Background(), func(c Change) { ch <- c })
	t.Cleanup(sub.Close)
	select {
	case <-sub.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("subscription not ready within 5s")
	}
	return ch, sub
}

func next(t *testing.T, ch <-chan Change) Change {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(time.Second):
		t.Fatal("no change delivered within one second")
		return Change{}
	}
}

// publishUntil publishes c until want arrives on ch: after a reconnect
// the subscriber may not be back yet.
func publishUntil(t *testing.T, n *Notifier, c Change, ch <-chan Change, want func(Change) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		_ = n.Publish(context.Background(), c)
		select {
		case got := <-ch:
			if want(got) {
				return
			}
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%+v never arrived", c)
}

func TestNotifierDeliversBetweenTwoClients(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := openStore(t, srv, Options{})
	b := sameKeys(t, srv, a)
	pub, subN := a.Notifier(), b.Notifier()
	if pub.Channel() != a.cfg.Prefix+":changes" {
		t.Errorf("channel %q", pub.Channel())
	}
	ch, _ := collect(t, subN)
	ownCh, _ := collect(t, pub)

	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	sent := []Change{
		{Kind: KindIPRules, Tenant: "acme", At: at},
		{Kind: KindTenantPolicy, Tenant: "globex", At: at},
		{Kind: KindIPRules, At: at}, // global rules
	}
	start := time.Now()
	for _, c := range sent {
		if err := pub.Publish(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range sent {
		got := next(t, ch)
		if got.Kind != want.Kind || got.Tenant != want.Tenant || !got.At.Equal(want.At) || got.Origin != pub.Origin() {
			t.Errorf("got %+v, want %+v from %s", got, want, pub.Origin())
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("delivery took %v, want well under a second", d)
	}
	// The publisher hears itself too, and can tell by the origin.
	if c := next(t, ownCh); c.Origin != pub.Origin() {
		t.Errorf("own change has origin %q, want %q", c.Origin, pub.Origin())
	}
	if err := pub.Publish(context.Background(), Change{}); err == nil {
		t.Error("Publish accepted a change without kind")
	}
}

func TestNotifierResubscribesAfterADroppedConnection(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := openStore(t, srv, Options{})
	b := sameKeys(t, srv, a)
	pub := a.Notifier()
	ch, _ := collect(t, b.Notifier())

	// The server drops every Pub/Sub connection.
	ctx := context.Background()
	if err := a.client.Do(ctx, a.client.B().ClientKill().TypePubsub().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c.Kind != KindResync {
		t.Fatalf("first change after the reconnect is %+v, want a resync", c)
	}
	publishUntil(t, pub, Change{Kind: KindIPRules, Tenant: "acme"}, ch, func(c Change) bool { return c.Kind == KindIPRules })

	// The server restarts: the subscription comes back on its own.
	srv.Restart()
	publishUntil(t, pub, Change{Kind: KindTenantPolicy, Tenant: "acme"}, ch, func(c Change) bool {
		return c.Kind == KindTenantPolicy
	})
}

func TestSubscriptionEnds(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := openStore(t, srv, Options{})
	n := s.Notifier()
	calls := make(chan Change, 8)
	sub := n.Subscribe(context.Background(), func(c Change) { calls <- c })
	<-sub.Ready()
	sub.Close()
	if err := n.Publish(context.Background(), Change{Kind: KindIPRules}); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-calls:
		t.Errorf("a closed subscription delivered %+v", c)
	case <-time.After(100 * time.Millisecond):
	}

	// Closing the store ends the subscriptions on it.
	other := n.Subscribe(context.Background(), func(Change) {})
	<-other.Ready()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-other.Done():
	case <-time.After(5 * time.Second):
		t.Error("the subscription outlived its store")
	}
}
