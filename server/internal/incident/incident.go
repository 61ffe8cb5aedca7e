// Package incident carries out incident response (docs/api.md, sections Report and PolicyAdminService,
// the guide's "Incident Response Integration") off the decision path and
// without losing actions.
//
// Two places feed it:
//
//   - After a Report (decide.Service calls Responder.ObserveReport): when a
//     failed login or MFA brings the user's failures within the window to
//     exactly the tenant's failed_logins_threshold, a "brute_force"
//     notification is sent. The user is not suspended: brute force is a
//     challenge or a deny that Rego decides on the next Check. When the
//     failures from the event's IP reach suspicious_ip_threshold and the IP
//     is not auto-blocked already, it is blocked for the tenant: a deny
//     entry for the single address (/32 or /128) with source
//     ipset.SourceAutoBlock expiring auto_block_ttl after the wall clock's
//     now, and an "ip_blocked" notification is sent. In report_only mode
//     nothing is blocked: a "security_alert" says what would have been.
//   - After a Check (decide.Service calls Responder.ObserveDecision): the
//     obligations of an enforced decision are carried out. suspend_user
//     records the suspension in the store (the next Check of that user is
//     denied incident.user_suspended), block_ip blocks the address as
//     above (params.ttl, or the tenant's auto_block_ttl for "0s"), and
//     notify_security sends a "security_alert". A suspension and a
//     notify_security for the same user make one "user_suspended"
//     notification. Report-only decisions never carry suspend_user or
//     block_ip (the core policy drops them); a report-only decision that
//     carries them anyway is not acted on.
//
// Actions go through a bounded queue served by a few workers, so a
// decision never waits for the store, the IP lists or a webhook. When the
// queue is full the producer waits up to Options.EnqueueWait, then runs
// the action itself rather than drop it (Stats.Inline counts those).
// Close drains the queue. Repeated incidents are folded: a user already
// suspended is not suspended again, an IP already auto-blocked is not
// blocked again, and the same notification within Options.DedupWindow is
// sent once (Stats.Suppressed).
//
// Every action is written as a structured log line with the message
// "incident" and recorded through the Auditor. Until the hash-chained audit
// log lands, the Auditor is NopAuditor and the log line is the record.
// Notifications go to a Notifier, normally a Webhook: JSON bodies signed
// with HMAC-SHA256, retried with exponential backoff and jitter.
package incident

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/pdp-dev/pdp/server/internal/store"
)

// Defaults of Options.
const (
	DefaultQueueSize     = 1024
	DefaultWorkers       = 2
	DefaultEnqueueWait   = 50 * time.Millisecond
	DefaultActionTimeout = 5 * time.Second
	DefaultDedupWindow   = time.Minute
)

// Actor is the name the actions are recorded under.
const Actor = "incident response"

// Suspender records a user's suspension; store.Store implements it.
type Suspender interface {
	// SetSuspension records the user's suspension state.
	SetSuspension(ctx context.Context, tenant, userID string, s store.Suspension) error
}

// Options configure a Responder.
type Options struct {
	// Suspender records suspensions; required.
	Suspender Suspender
	// Blocker blocks addresses; required.
	Blocker Blocker
	// Notifier sends notifications; nil sends none (the log line and the
	// audit entry remain).
	Notifier Notifier
	// Auditor records every action; NopAuditor when nil.
	Auditor Auditor
	// Settings returns a tenant environment's thresholds; DefaultSettings
	// when nil. SetSettings replaces it.
	Settings SettingsFunc
	// Logger receives the "incident" lines; nil discards.
	Logger *slog.Logger
	// Now is the wall clock block expiries and notification times are
	// computed from; time.Now when nil.
	Now func() time.Time
	// NewID returns notification ids; a UUIDv7 when nil.
	NewID func() (string, error)
	// QueueSize bounds the action queue; DefaultQueueSize when zero.
	QueueSize int
	// Workers is how many goroutines serve the queue; DefaultWorkers when
	// zero.
	Workers int
	// EnqueueWait is how long a producer waits for room in a full queue
	// before running the action itself; DefaultEnqueueWait when zero.
	EnqueueWait time.Duration
	// ActionTimeout bounds each store and IP-list action;
	// DefaultActionTimeout when zero.
	ActionTimeout time.Duration
	// DedupWindow is how long an identical notification or suspension is
	// folded into the first; DefaultDedupWindow when zero, none when
	// negative.
	DedupWindow time.Duration
}

// Stats count what a Responder did since it started.
type Stats struct {
	// Queued is how many actions went through the queue.
	Queued uint64
	// Inline is how many actions ran in the producer because the queue
	// stayed full (or the Responder was closed).
	Inline uint64
	// Done is how many actions completed, successfully or not.
	Done uint64
	// Failed is how many store or IP-list actions failed.
	Failed uint64
	// Suppressed is how many repeated incidents were folded.
	Suppressed uint64
	// Undelivered is how many notifications the Notifier refused.
	Undelivered uint64
}

// Responder carries out incident response. It is safe for concurrent use.
type Responder struct {
	suspender     Suspender
	blocker       Blocker
	notifier      Notifier
	auditor       Auditor
	settings      atomic.Pointer[SettingsFunc]
	logger        *slog.Logger
	now           func() time.Time
	newID         func() (string, error)
	enqueueWait   time.Duration
	actionTimeout time.Duration
	recent        *recentSet

	mu      sync.RWMutex // closed, and sends on queue
	closed  bool
	queue   chan *job
	workers sync.WaitGroup

	queued, inline, done, failed, suppressed, undelivered atomic.Uint64
}

// New starts a Responder. Close stops it.
func New(o Options) (*Responder, error) {
	var errs []error
	if o.Suspender == nil {
		errs = append(errs, errors.New("incident: Options.Suspender is required"))
	}
	if o.Blocker == nil {
		errs = append(errs, errors.New("incident: Options.Blocker is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	r := &Responder{
		suspender:     o.Suspender,
		blocker:       o.Blocker,
		notifier:      o.Notifier,
		auditor:       o.Auditor,
		logger:        o.Logger,
		now:           o.Now,
		newID:         o.NewID,
		enqueueWait:   positiveOr(o.EnqueueWait, DefaultEnqueueWait),
		actionTimeout: positiveOr(o.ActionTimeout, DefaultActionTimeout),
	}
	if r.auditor == nil {
		r.auditor = NopAuditor{}
	}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.newID == nil {
		r.newID = newUUID
	}
	settings := o.Settings
	if settings == nil {
		settings = DefaultSettings
	}
	r.SetSettings(settings)
	window := o.DedupWindow
	if window == 0 {
		window = DefaultDedupWindow
	}
	r.recent = newRecentSet(window)
	size := o.QueueSize
	if size <= 0 {
		size = DefaultQueueSize
	}
	r.queue = make(chan *job, size)
	n := o.Workers
	if n <= 0 {
		n = DefaultWorkers
	}
	for range n {
		r.workers.Go(func() {
			for j := range r.queue {
				r.run(j)
			}
		})
	}
	return r, nil
}

// SetSettings replaces the per-tenant thresholds, as when the tenant
// documents are reloaded.
func (r *Responder) SetSettings(f SettingsFunc) {
	r.settings.Store(&f)
}

func (r *Responder) settingsOf(tenant, env string) Settings {
	return (*r.settings.Load())(tenant, env).normalized()
}

// Stats returns the counters.
func (r *Responder) Stats() Stats {
	return Stats{
		Queued:      r.queued.Load(),
		Inline:      r.inline.Load(),
		Done:        r.done.Load(),
		Failed:      r.failed.Load(),
		Suppressed:  r.suppressed.Load(),
		Undelivered: r.undelivered.Load(),
	}
}

// Close stops taking actions into the queue (later ones run in the
// caller), waits until the queued ones are done, then closes the Notifier,
// which delivers what it holds. It returns ctx's error when ctx ends
// first; what is left is then logged. Calling it again only waits again.
func (r *Responder) Close(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.queue)
	}
	r.mu.Unlock()
	drained := make(chan struct{})
	go func() {
		r.workers.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-ctx.Done():
		r.logger.Error("incident actions still queued at shutdown", "queued", len(r.queue))
		return ctx.Err()
	}
	if r.notifier != nil {
		return r.notifier.Close(ctx)
	}
	return nil
}

// enqueue hands j to the workers, waiting up to enqueueWait for room, and
// runs it in the caller when there is none or the Responder is closed.
func (r *Responder) enqueue(j *job) {
	r.mu.RLock()
	if !r.closed {
		select {
		case r.queue <- j:
			r.mu.RUnlock()
			r.queued.Add(1)
			return
		default:
		}
		t := time.NewTimer(r.enqueueWait)
		select {
		case r.queue <- j:
			t.Stop()
			r.mu.RUnlock()
			r.queued.Add(1)
			return
		case <-t.C:
		}
	}
	r.mu.RUnlock()
	r.inline.Add(1)
	r.logger.Warn("incident queue full; running the action in the caller", "kind", string(j.kind), "tenant", j.tenant)
	r.run(j)
}

// recentSet remembers keys for a window, to fold repeated incidents.
type recentSet struct {
	window time.Duration
	mu     sync.Mutex
	seen   map[string]time.Time
}

// maxRecent bounds recentSet; past it, expired keys are dropped, and if
// none has expired the set starts over.
const maxRecent = 8192

func newRecentSet(window time.Duration) *recentSet {
	return &recentSet{window: window, seen: make(map[string]time.Time)}
}

// claim records key at now and reports whether it was not already
// recorded within the window.
func (s *recentSet) claim(key string, now time.Time) bool {
	if s.window < 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if at, ok := s.seen[key]; ok && now.Sub(at) < s.window && !now.Before(at) {
		return false
	}
	if len(s.seen) >= maxRecent {
		for k, at := range s.seen {
			if now.Sub(at) >= s.window {
				delete(s.seen, k)
			}
		}
		if len(s.seen) >= maxRecent {
			clear(s.seen)
		}
	}
	s.seen[key] = now
	return true
}

// forget drops key, so that a failed action may be tried again at once.
func (s *recentSet) forget(key string) {
	if s.window < 0 || key == "" {
		return
	}
	s.mu.Lock()
	delete(s.seen, key)
	s.mu.Unlock()
}

func positiveOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func newUUID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// addrString renders an address for logs and notifications; empty when
// invalid.
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
