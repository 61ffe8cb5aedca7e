package checkpoint

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/pdp-dev/pdp/server/internal/audit"
)

// Defaults of Options.
const (
	// DefaultRetry is the first wait after a failed checkpoint; it doubles
	// after each further failure up to MaxRetry.
	DefaultRetry = time.Second
	// MaxRetry is the longest wait between two attempts.
	MaxRetry = time.Minute
	// opTimeout bounds one head read and one write.
	opTimeout = 10 * time.Second
)

// The instruments, as OpenTelemetry names them; /metrics shows
// pdp_audit_checkpoints_total and pdp_audit_checkpoint_failures_total.
const (
	writtenName  = "pdp.audit.checkpoints"
	failuresName = "pdp.audit.checkpoint.failures"
)

// Options configures New.
type Options struct {
	// Log is the chain whose head is checkpointed.
	Log audit.Header
	// Signer signs the checkpoints.
	Signer *Signer
	// Dest receives them; Close closes it.
	Dest Destination
	// Interval is the least time between two checkpoints: changes within
	// it are covered by the next one. 0 checkpoints after every change
	// (changes made while a checkpoint is written share the next one).
	Interval time.Duration
	// Retry is the first wait after a failure; 0 means DefaultRetry.
	Retry time.Duration
	// Logger receives failures; nil discards.
	Logger *slog.Logger
	// Meter provides the counters; nil counts nothing.
	Meter metric.MeterProvider
	// Now stamps the checkpoints; nil means time.Now.
	Now func() time.Time
}

// Checkpointer writes checkpoints of a chain's head in the background:
// one at Start, one after changes (Changed, or every Append through Wrap),
// at most one per Interval, and one at Close. Appends never wait for it: a
// change only marks a checkpoint due. A failed checkpoint is logged,
// counted and retried with a growing wait until one succeeds.
type Checkpointer struct {
	opts     Options
	logger   *slog.Logger
	written  metric.Int64Counter
	failures metric.Int64Counter
	notify   chan struct{}
	stop     chan struct{}
	done     chan struct{}
	start    sync.Once
	closed   sync.Once

	mu   sync.Mutex // serialises checkpoints of the loop and Close
	last audit.Head // the head last checkpointed
	have bool
}

// New returns a checkpointer; Start starts it.
func New(opts Options) (*Checkpointer, error) {
	if opts.Log == nil || opts.Signer == nil || opts.Dest == nil {
		return nil, errors.New("checkpoint: Options.Log, Signer and Dest are required")
	}
	if opts.Interval < 0 {
		return nil, errors.New("checkpoint: Options.Interval is negative")
	}
	if opts.Retry <= 0 {
		opts.Retry = DefaultRetry
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Meter == nil {
		opts.Meter = noop.NewMeterProvider()
	}
	c := &Checkpointer{
		opts: opts, logger: opts.Logger,
		notify: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	meter := opts.Meter.Meter("github.com/pdp-dev/pdp/server")
	var err1, err2 error
	c.written, err1 = meter.Int64Counter(writtenName,
		metric.WithDescription("Signed audit checkpoints written."))
	c.failures, err2 = meter.Int64Counter(failuresName,
		metric.WithDescription("Audit checkpoints that could not be read, signed or written; each is retried."))
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return c, nil
}

// Start reads the chain's head and starts the background writer, which
// writes that head as the start checkpoint at once: a change made after
// Start returns is never taken for the state at start.
func (c *Checkpointer) Start() {
	c.start.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		h, err := c.opts.Log.Head(ctx)
		cancel()
		var at *audit.Head
		if err == nil {
			at = &h // otherwise the writer reads it, and retries
		}
		go c.run(at)
	})
}

// Changed marks a checkpoint due; it never blocks.
func (c *Checkpointer) Changed() {
	select {
	case c.notify <- struct{}{}:
	default: // one is already due
	}
}

// Signer is the signer of the checkpoints, whose public key verifies them.
func (c *Checkpointer) Signer() *Signer { return c.opts.Signer }

// Wrap returns log with every successful Append (and Commit, when log is
// an audit.Committer, which the result then is too) marking a checkpoint
// due.
func (c *Checkpointer) Wrap(log audit.Log) audit.Log {
	n := notifying{Log: log, c: c}
	if cm, ok := log.(audit.Committer); ok {
		return committing{notifying: n, cm: cm}
	}
	return n
}

type notifying struct {
	audit.Log
	c *Checkpointer
}

func (n notifying) Append(ctx context.Context, e audit.Entry) (audit.Event, error) {
	ev, err := n.Log.Append(ctx, e)
	if err == nil {
		n.c.Changed()
	}
	return ev, err
}

// committing keeps a Committer's commits of a change and its record as one.
type committing struct {
	notifying
	cm audit.Committer
}

var _ audit.Committer = committing{}

func (n committing) Commit(ctx context.Context, e audit.Entry, change func(ctx context.Context, e *audit.Entry) error) (audit.Event, error) {
	ev, err := n.cm.Commit(ctx, e, change)
	if err == nil {
		n.c.Changed()
	}
	return ev, err
}

// Close stops the background writer, writes the shutdown checkpoint and
// closes the destination, giving up when ctx ends first.
func (c *Checkpointer) Close(ctx context.Context) error {
	var err error
	c.closed.Do(func() {
		c.start.Do(func() { close(c.done) }) // never started: no writer to wait for
		close(c.stop)
		select {
		case <-c.done:
		case <-ctx.Done():
			err = errors.Join(errors.New("checkpoint: a checkpoint write did not finish; no shutdown checkpoint"), ctx.Err())
			return
		}
		// A Destination's Write takes no context, so the last write runs
		// apart and Close stops waiting for it when ctx ends.
		last := make(chan error, 1)
		go func() {
			e := c.checkpoint(ctx, true, nil)
			if e != nil {
				c.fail(e)
			}
			last <- errors.Join(e, c.opts.Dest.Close())
		}()
		select {
		case err = <-last:
		case <-ctx.Done():
			err = errors.Join(errors.New("checkpoint: the shutdown checkpoint did not finish"), ctx.Err())
		}
	})
	return err
}

// run writes the start checkpoint (of the head at, when Start read it),
// then one per burst of changes, until Close.
func (c *Checkpointer) run(at *audit.Head) {
	defer close(c.done)
	var (
		due     = true // the start checkpoint
		force   = true
		next    time.Time
		backoff time.Duration
	)
	for first := true; ; first = false {
		select {
		case <-c.stop:
			if !first {
				return // Close writes the last one
			}
			// The start checkpoint is tried even then, before Close's.
		default:
		}
		if due && !time.Now().Before(next) {
			due = false
			if err := c.checkpoint(context.Background(), force, at); err != nil {
				c.fail(err)
				due = true
				backoff = min(max(2*backoff, c.opts.Retry), MaxRetry)
				next = time.Now().Add(backoff)
			} else {
				force, backoff, at = false, 0, nil
				next = time.Now().Add(c.opts.Interval)
			}
		}
		var (
			timer *time.Timer
			wake  <-chan time.Time
		)
		if due {
			timer = time.NewTimer(time.Until(next))
			wake = timer.C
		}
		select {
		case <-c.stop:
			return
		case <-c.notify:
			due = true
		case <-wake:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// checkpoint signs and writes the head at, or when at is nil the chain's
// current head, unless it is the head last written and force is false.
func (c *Checkpointer) checkpoint(ctx context.Context, force bool, at *audit.Head) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	var h audit.Head
	if at != nil {
		h = *at
	} else {
		var err error
		if h, err = c.opts.Log.Head(ctx); err != nil {
			return err
		}
	}
	if c.have && h == c.last && !force {
		return nil
	}
	line, err := c.opts.Signer.Sign(h, c.opts.Now())
	if err != nil {
		return err
	}
	if err := c.opts.Dest.Write(line); err != nil {
		return err
	}
	c.last, c.have = h, true
	c.written.Add(context.Background(), 1)
	return nil
}

func (c *Checkpointer) fail(err error) {
	c.failures.Add(context.Background(), 1)
	c.logger.Error("audit checkpoint not written; retrying", "error", err.Error())
}
