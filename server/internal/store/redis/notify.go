package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// The kinds of Change.
const (
	// KindIPRules says a tenant's (or, with no tenant, the global) IP
	// rules changed.
	KindIPRules = "ip_rules"
	// KindTenantPolicy says a tenant's policy changed.
	KindTenantPolicy = "tenant_policy"
	// KindResync is delivered by a Subscription itself after it reconnects:
	// messages published while it was away are lost, so the receiver should
	// rebuild its whole view.
	KindResync = "resync"
)

// Change is one notification: what changed, for which tenant, and who
// said so. It carries no data; receivers read the new state from the store.
type Change struct {
	// Kind is what changed: KindIPRules, KindTenantPolicy, KindResync, or a
	// kind a later version adds (receivers ignore kinds they do not know).
	Kind string `json:"kind"`
	// Tenant is whose state changed; empty for global state.
	Tenant string `json:"tenant,omitempty"`
	// Origin identifies the publishing replica, so it can skip its own.
	Origin string `json:"origin,omitempty"`
	// At is when the publisher made the change.
	At time.Time `json:"at"`
}

// Notifier publishes and receives Changes on one Pub/Sub channel,
// PREFIX:changes ("pdp:changes"), shared by every replica and tenant:
// changes are rare and small, so one channel keeps subscriptions to one
// per replica. A Redis Cluster forwards PUBLISH to every node, so a
// subscriber on any node hears every replica.
type Notifier struct {
	store   *Store
	client  rueidis.Client
	channel string
	origin  string
}

// Notifier returns the store's notifier. It shares the store's
// connections, and Subscriptions end when the store closes.
func (s *Store) Notifier() *Notifier {
	var id [8]byte
	_, _ = rand.Read(id[:])
	return &Notifier{store: s, client: s.client, channel: s.cfg.Prefix + ":changes", origin: hex.EncodeToString(id[:])}
}

// Channel is the Pub/Sub channel name.
func (n *Notifier) Channel() string { return n.channel }

// Origin is the identifier Publish puts in changes that name none.
func (n *Notifier) Origin() string { return n.origin }

// Publish sends c to every subscriber, filling in Origin and At when
// empty. Delivery is at most once: a subscriber that is disconnected at
// the time misses it and receives KindResync when it is back.
func (n *Notifier) Publish(ctx context.Context, c Change) error {
	if c.Kind == "" {
		return errors.New("notifier: change without kind")
	}
	if c.Origin == "" {
		c.Origin = n.origin
	}
	if c.At.IsZero() {
		c.At = time.Now().UTC()
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := n.client.Do(ctx, n.client.B().Publish().Channel(n.channel).Message(rueidis.BinaryString(b)).Build()).Error(); err != nil {
		return fmt.Errorf("notifier: publish on %s: %w", n.channel, err)
	}
	return nil
}

// Subscription is a running Subscribe.
type Subscription struct {
	cancel context.CancelFunc
	ready  chan struct{}
	done   chan struct{}

	mu      sync.Mutex // serialises fn and guards stopped
	stopped bool
}

// Subscribe calls fn with every Change published from now on, one call at
// a time, until ctx ends or Close is called. It subscribes on a connection
// of its own and, whenever that connection drops, subscribes again with a
// backoff of 10ms doubling to 1s; after each such reconnect it calls fn
// with a KindResync change before any other. Messages that do not decode
// are dropped. fn must not call Close. The subscription also ends when the
// store is closed.
func (n *Notifier) Subscribe(ctx context.Context, fn func(Change)) *Subscription {
	ctx, cancel := context.WithCancel(ctx)
	sub := &Subscription{cancel: cancel, ready: make(chan struct{}), done: make(chan struct{})}
	if !n.store.track(ctx, cancel) {
		cancel()
		close(sub.done)
		return sub
	}
	go func() {
		defer n.store.subs.Done()
		sub.run(ctx, n, fn)
	}()
	return sub
}

// Ready is closed once the first subscription is in place: changes
// published after that are delivered.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Done is closed once the subscription has ended for good.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Close ends the subscription; once it returns fn is not called again.
func (s *Subscription) Close() {
	s.cancel()
	<-s.done
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
}

func (s *Subscription) deliver(fn func(Change), c Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		fn(c)
	}
}

func (s *Subscription) run(ctx context.Context, n *Notifier, fn func(Change)) {
	defer close(s.done)
	var readyOnce sync.Once
	resync := false
	backoff := 10 * time.Millisecond
	for ctx.Err() == nil {
		subscribed, _ := s.session(ctx, n, fn, resync, func() { readyOnce.Do(func() { close(s.ready) }) })
		if subscribed {
			resync, backoff = true, 10*time.Millisecond
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}

// session subscribes on a dedicated connection and returns when the
// connection drops or ctx ends (the store's Close ends it too), reporting
// whether the subscription was confirmed and why it ended.
func (s *Subscription) session(ctx context.Context, n *Notifier, fn func(Change), resync bool, ready func()) (bool, error) {
	dc, release := n.client.Dedicate()
	defer release()
	confirmed := make(chan struct{})
	var once sync.Once
	// The hooks run one at a time on the connection's goroutine, so the
	// resync change precedes every message of this session.
	wait := dc.SetPubSubHooks(rueidis.PubSubHooks{
		OnSubscription: func(ps rueidis.PubSubSubscription) {
			if ps.Kind != "subscribe" || ps.Channel != n.channel {
				return
			}
			once.Do(func() {
				if resync {
					s.deliver(fn, Change{Kind: KindResync, At: time.Now().UTC()})
				}
				close(confirmed)
			})
		},
		OnMessage: func(m rueidis.PubSubMessage) {
			var c Change
			if json.Unmarshal([]byte(m.Message), &c) == nil && c.Kind != "" {
				s.deliver(fn, c)
			}
		},
	})
	if err := dc.Do(ctx, dc.B().Subscribe().Channel(n.channel).Build()).Error(); err != nil {
		return false, err
	}
	select {
	case <-confirmed:
		ready()
	case err := <-wait:
		return false, err
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case err := <-wait:
		return true, err
	case <-ctx.Done():
		return true, ctx.Err()
	}
}
