// Package receiver receives OpenID Shared Signals events (CAEP 1.0, RISC
// 1.0): Security Event Tokens (RFC 8417) pushed to
// POST /ssf/streams/{name}/events (RFC 8935) or polled from the
// transmitter (RFC 8936), for the streams of the --ssf-config file. Each
// token is verified (see Receiver.verify for every check and its RFC 8935
// error code) and applied through the state store (ssf.Store) together
// with its audit record, ssf.event_applied; the next decision of every
// replica reads the effect (ssf.Reader).
package receiver

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/filewatch"
	"github.com/pdp-dev/pdp/server/internal/ssf"
)

// AuditAction is the audit trail's action for an applied event.
const AuditAction = "ssf.event_applied"

// Options configure a Receiver.
type Options struct {
	// Store applies the events; required.
	Store ssf.Store
	// Audit records every applied event; required.
	Audit audit.Log
	// HTTPClient fetches jwks_uri key sets and polls; nil: a client with
	// a 30s timeout.
	HTTPClient *http.Client
	// Meter provides the metrics; nil counts nothing.
	Meter metric.MeterProvider
	// Logger hears about loads, refusals and poll failures; nil discards.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// stream is a configured stream with its keys.
type stream struct {
	cfg  Stream
	keys *keySource
}

// streams is one loaded stream file.
type streams struct {
	byName  map[string]*stream
	tenants map[string]bool
}

// Receiver verifies and applies the events of the configured streams. It
// is safe for concurrent use.
type Receiver struct {
	opts    Options
	logger  *slog.Logger
	now     func() time.Time
	client  *http.Client
	current atomic.Pointer[streams]
	loadMu  sync.Mutex
	path    string
	metrics metrics

	pollMu  sync.Mutex
	pollers map[string]*poller // by stream name
	pollCtx context.Context
}

// New returns a receiver with no streams; Load gives it its file.
func New(opts Options) *Receiver {
	r := &Receiver{opts: opts, logger: opts.Logger, now: opts.Now, client: opts.HTTPClient, pollers: map[string]*poller{}}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.client == nil {
		r.client = &http.Client{Timeout: 30 * time.Second}
	}
	mp := opts.Meter
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	r.metrics = newMetrics(mp)
	r.current.Store(&streams{byName: map[string]*stream{}, tenants: map[string]bool{}})
	return r
}

// Load reads the stream file at path and puts it in force; on error the
// streams in force stay. Key files are read again; a jwks_uri stream that
// did not change keeps its fetched keys.
func (r *Receiver) Load(path string) error {
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	list, err := readConfig(path)
	if err != nil {
		return err
	}
	old := r.current.Load()
	next := &streams{byName: map[string]*stream{}, tenants: map[string]bool{}}
	for _, cfg := range list {
		st := &stream{cfg: cfg}
		if prev := old.byName[cfg.Name]; prev != nil && cfg.JWKSURI != "" && sameStream(prev.cfg, cfg) {
			st.keys = prev.keys
		} else if st.keys, err = newKeySource(&st.cfg, r.client, r.now); err != nil {
			return err
		}
		next.byName[cfg.Name] = st
		next.tenants[cfg.Tenant] = true
	}
	r.path = path
	r.current.Store(next)
	r.logger.Info("SSF streams loaded", "file", path, "streams", len(list))
	r.syncPollers()
	return nil
}

// sameStream reports whether two configurations of a stream are equal.
func sameStream(a, b Stream) bool { return reflect.DeepEqual(a, b) }

// Watch loads the stream file again whenever it changes, until ctx ends.
// A file that fails to load is logged and the streams in force stay.
func (r *Receiver) Watch(ctx context.Context, debounce time.Duration) error {
	return filewatch.Watch(ctx, []string{r.path}, debounce, r.logger, func() {
		if err := r.Load(r.path); err != nil {
			r.logger.Error("SSF stream file rejected; the streams in force stay", "error", err.Error())
		}
	})
}

// HasStreams reports whether tenant has a stream; ssf.Reader reads the
// store only for those.
func (r *Receiver) HasStreams(tenant string) bool { return r.current.Load().tenants[tenant] }

// Streams lists the names of the streams in force, sorted.
func (r *Receiver) Streams() []string {
	cur := r.current.Load()
	out := make([]string, 0, len(cur.byName))
	for name := range cur.byName {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Receive verifies one SET of the named stream and applies it. It returns
// nil when the SET was applied (or, for a stream verification event,
// accepted), a *SETError when it is refused, and any other error when the
// store or the audit log failed (the transmitter should send it again).
func (r *Receiver) Receive(ctx context.Context, name string, raw []byte) error {
	st := r.current.Load().byName[name]
	if st == nil {
		return errUnknownStream
	}
	r.metrics.received.Add(ctx, 1, metric.WithAttributes(attribute.String("stream", name)))
	err := r.receive(ctx, st, raw)
	var se *SETError
	switch {
	case err == nil:
	case errors.As(err, &se):
		r.metrics.refused.Add(ctx, 1, metric.WithAttributes(attribute.String("stream", name), attribute.String("reason", se.Code)))
		r.logger.InfoContext(ctx, "SET refused", "stream", name, "err", se.Code, "description", se.Description)
	default:
		r.logger.ErrorContext(ctx, "SET not applied", "stream", name, "error", err.Error())
	}
	return err
}

func (r *Receiver) receive(ctx context.Context, st *stream, raw []byte) error {
	now := r.now().UTC()
	e, uri, serr := r.verify(ctx, st, raw, now)
	if serr != nil {
		return serr
	}
	if eventTypes[uri].principal == principalNone && e.Event == "verification" {
		return nil // SSF stream verification: received, nothing to apply
	}
	cfg := &st.cfg
	e.Tenant, e.Stream, e.Received = cfg.Tenant, cfg.Name, now
	e.Until = e.At.Add(cfg.Retention)
	if !e.Until.After(now) {
		e.Until = now.Add(time.Second) // still counted once: the jti is kept
	}
	entry := audit.Entry{
		Time: now, Actor: "ssf stream " + cfg.Name, Action: AuditAction, Tenant: cfg.Tenant,
		Target: e.Subject.String(), Reason: uri,
		After: map[string]any{"stream": cfg.Name, "event": uri, "jti": e.JTI, "subject": e.Subject.String(),
			"event_time": e.At.Format(time.RFC3339Nano)},
	}
	apply := func(ctx context.Context) error { return r.opts.Store.Apply(ctx, e, now.Add(cfg.ReplayWindow)) }
	var err error
	if c, ok := r.opts.Audit.(audit.Committer); ok {
		_, err = c.Commit(ctx, entry, func(ctx context.Context, _ *audit.Entry) error { return apply(ctx) })
		if errors.Is(err, audit.ErrLinkPending) {
			err = nil // stored with its record; the log links it later
		}
	} else if err = apply(ctx); err == nil {
		_, err = r.opts.Audit.Append(ctx, entry)
	}
	if errors.Is(err, ssf.ErrReplay) {
		se := refuse(ErrInvalidRequest, "jti %q was received before", e.JTI)
		se.Replay = true
		return se
	}
	if err != nil {
		return err
	}
	r.metrics.applied.Add(ctx, 1, metric.WithAttributes(attribute.String("stream", cfg.Name), attribute.String("event", e.Event)))
	r.logger.InfoContext(ctx, "SET applied", "stream", cfg.Name, "tenant", cfg.Tenant, "event", e.Event,
		"jti", e.JTI, "subject", e.Subject.String())
	return nil
}

// metrics are the receiver's counters.
type metrics struct {
	received, applied, refused metric.Int64Counter
}

func newMetrics(mp metric.MeterProvider) metrics {
	meter := mp.Meter("github.com/pdp-dev/pdp/server")
	var m metrics
	// The names are constants, so creating the counters cannot fail.
	m.received, _ = meter.Int64Counter("pdp.ssf.events.received",
		metric.WithDescription("Security Event Tokens received, by stream."))
	m.applied, _ = meter.Int64Counter("pdp.ssf.events.applied",
		metric.WithDescription("Security Event Tokens applied, by stream and event type."))
	m.refused, _ = meter.Int64Counter("pdp.ssf.events.refused",
		metric.WithDescription("Security Event Tokens refused, by stream and RFC 8935 error code (reason)."))
	return m
}
