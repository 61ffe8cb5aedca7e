package decisionlog

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

// Mode is what Log does when the queue is full.
type Mode string

// The modes.
const (
	// ModeDrop drops the line and counts it; decisions never wait.
	ModeDrop Mode = "drop"
	// ModeBlock makes the decision wait until the writer has room; no
	// line is lost, and a slow writer slows decisions down.
	ModeBlock Mode = "block"
)

// DefaultBuffer is the queue length when Options.Buffer is 0.
const DefaultBuffer = 4096

// errorLogInterval is the least time between two logged write errors.
const errorLogInterval = time.Minute

// Options configures a Logger.
type Options struct {
	// Writer receives the lines; required. When it is an io.Closer, Close
	// closes it.
	Writer io.Writer
	// Mode is ModeDrop (the default) or ModeBlock.
	Mode Mode
	// Buffer is the queue length; 0 means DefaultBuffer.
	Buffer int
	// Masks rewrite fields before a line is written.
	Masks []Mask
	// OnDrop, when set, is called once per dropped line (for the
	// pdp_decision_log_dropped_total counter); it must be cheap.
	OnDrop func()
	// Logger hears about write errors, at most once a minute; nil
	// discards.
	Logger *slog.Logger
}

// Logger queues decision lines and writes them on its own goroutine. Its
// methods are safe for concurrent use.
type Logger struct {
	w      io.Writer
	mode   Mode
	masks  []Mask
	onDrop func()
	logger *slog.Logger

	queue   chan *Entry
	abort   chan struct{} // closed when Close gives up waiting for room
	done    chan struct{} // closed when the writer has flushed and exited
	mu      sync.RWMutex  // Log holds it shared; Close exclusively
	closed  bool
	once    sync.Once
	dropped atomic.Uint64
	written atomic.Uint64
}

// New starts a Logger.
func New(opts Options) *Logger {
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.Mode == "" {
		opts.Mode = ModeDrop
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Logger{
		w:      opts.Writer,
		mode:   opts.Mode,
		masks:  append([]Mask(nil), opts.Masks...),
		onDrop: opts.OnDrop,
		logger: opts.Logger,
		queue:  make(chan *Entry, opts.Buffer),
		abort:  make(chan struct{}),
		done:   make(chan struct{}),
	}
	go l.run()
	return l
}

// Log queues one line. In ModeDrop it never waits: a full queue drops the
// line. In ModeBlock it waits for room. After Close, lines are dropped.
func (l *Logger) Log(e *Entry) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		l.drop()
		return
	}
	if l.mode == ModeBlock {
		select {
		case l.queue <- e:
		case <-l.abort:
			l.drop()
		}
		return
	}
	select {
	case l.queue <- e:
	default:
		l.drop()
	}
}

func (l *Logger) drop() {
	l.dropped.Add(1)
	if l.onDrop != nil {
		l.onDrop()
	}
}

// Dropped is the number of lines dropped so far.
func (l *Logger) Dropped() uint64 { return l.dropped.Load() }

// Written is the number of lines handed to the writer so far.
func (l *Logger) Written() uint64 { return l.written.Load() }

// Close stops taking lines, writes what is queued, and closes the writer
// when it is an io.Closer. When ctx ends first, senders still waiting for
// room (ModeBlock) give up and their lines count as dropped, and Close
// returns ctx's error. Close may be called more than once.
func (l *Logger) Close(ctx context.Context) error {
	l.once.Do(func() {
		locked := make(chan struct{})
		go func() {
			l.mu.Lock()
			close(locked)
		}()
		select {
		case <-locked:
		case <-ctx.Done():
			close(l.abort)
			<-locked
		}
		l.closed = true
		l.mu.Unlock()
		close(l.queue)
	})
	select {
	case <-l.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if c, ok := l.w.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// run writes queued lines until the queue is closed, flushing whenever it
// runs empty.
func (l *Logger) run() {
	defer close(l.done)
	bw := bufio.NewWriterSize(l.w, 64<<10)
	var lastErr time.Time
	report := func(err error) {
		if err == nil {
			return
		}
		bw.Reset(l.w) // a failed bufio.Writer stays failed; start afresh
		if now := time.Now(); now.Sub(lastErr) >= errorLogInterval {
			lastErr = now
			l.logger.Error("decision log write failed; lines are being lost", "error", err.Error())
		}
	}
	for e := range l.queue {
		apply(l.masks, e)
		line, err := json.Marshal(e)
		if err != nil {
			report(err)
			continue
		}
		_, err = bw.Write(append(line, '\n'))
		report(err)
		l.written.Add(1)
		if len(l.queue) == 0 {
			report(bw.Flush())
		}
	}
	report(bw.Flush())
}

// Decider decides one request; pdpsvc.Decider has the same method.
type Decider interface {
	// Decide returns the decision for req, or why there is none.
	Decide(ctx context.Context, req *decision.Request) (*decision.Decision, error)
}

// Wrap returns a Decider that asks next and logs every decision it makes,
// with the time next took. Errors are not logged here: no decision was
// made.
func (l *Logger) Wrap(next Decider) Decider {
	return &logged{next: next, log: l}
}

type logged struct {
	next Decider
	log  *Logger
}

func (d *logged) Decide(ctx context.Context, req *decision.Request) (*decision.Decision, error) {
	start := time.Now()
	out, err := d.next.Decide(ctx, req)
	if err == nil && out != nil {
		d.log.Log(NewEntry(ctx, req, out, time.Now(), time.Since(start)))
	}
	return out, err
}
