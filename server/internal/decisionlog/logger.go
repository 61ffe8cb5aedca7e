package decisionlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// Mode is what happens to a decision whose line cannot be queued or
// written.
type Mode string

// The modes.
const (
	// ModeDrop never holds a decision back: a line that finds the queue
	// full, or whose write fails, is dropped and counted.
	ModeDrop Mode = config.DecisionLogDrop
	// ModeBlock answers no decision whose line is not written: Wrap waits
	// for room in the queue and then for the write, and fails the call
	// with UNAVAILABLE when the line could not be written. A slow writer
	// slows decisions down.
	ModeBlock Mode = config.DecisionLogBlock
)

// DefaultBuffer is the queue length when Options.Buffer is 0.
const DefaultBuffer = 4096

// errorLogInterval is the least time between two logged write errors.
const errorLogInterval = time.Minute

// maxBatchBytes ends a batch of lines, so that one write stays bounded.
const maxBatchBytes = 64 << 10

// ErrNotRecorded is wrapped by the errors of lines that were not written.
var ErrNotRecorded = errors.New("decision log: line not written")

// The errors of lines that were never queued.
var (
	errClosed    = fmt.Errorf("%w: the log is closed", ErrNotRecorded)
	errQueueFull = fmt.Errorf("%w: the queue is full", ErrNotRecorded)
)

// UnavailableMessage is what a client whose decision was withheld sees.
const UnavailableMessage = "the decision log could not record the decision"

// Options configures a Logger.
type Options struct {
	// Writer receives the lines; required. When it is an io.Closer, Close
	// closes it. A write that fails partway leaves a torn line, which is
	// cut off a file that Open returned, and otherwise completed before
	// the next line is written.
	Writer io.Writer
	// Mode is ModeDrop (the default) or ModeBlock.
	Mode Mode
	// Buffer is the queue length; 0 means DefaultBuffer.
	Buffer int
	// Masks rewrite fields before a line is written.
	Masks []Mask
	// Inputs records in each line the input document the policy
	// evaluated (--decision-log-inputs), so that pdp replay and pdp
	// explain can decide it again.
	Inputs bool
	// OnDrop, when set, is called once per line lost without failing a
	// call (for the pdp_decision_log_dropped_total counter); it must be
	// cheap.
	OnDrop func()
	// OnFail, when set, is called once per decision withheld because its
	// line could not be written (ModeBlock; for the
	// pdp_decision_log_failed_total counter); it must be cheap.
	OnFail func()
	// Logger hears about write errors, at most once a minute, and when
	// writing works again; nil discards.
	Logger *slog.Logger
}

// Logger queues decision lines and writes them on its own goroutine. Its
// methods are safe for concurrent use.
type Logger struct {
	w      io.Writer
	mode   Mode
	masks  []Mask
	inputs bool
	onDrop func()
	onFail func()
	logger *slog.Logger

	queue   chan *Entry
	abort   chan struct{} // closed when Close gives up waiting for room
	done    chan struct{} // closed when the writer has flushed and exited
	mu      sync.RWMutex  // senders hold it shared; Close exclusively
	closed  bool
	once    sync.Once
	dropped atomic.Uint64
	failed  atomic.Uint64
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
		inputs: opts.Inputs,
		onDrop: opts.OnDrop,
		onFail: opts.OnFail,
		logger: opts.Logger,
		queue:  make(chan *Entry, opts.Buffer),
		abort:  make(chan struct{}),
		done:   make(chan struct{}),
	}
	go l.run()
	return l
}

// Log queues one line without learning whether it is written. In ModeDrop
// it never waits: a full queue drops the line. In ModeBlock it waits for
// room. A line that is not written (logged after Close, or its write
// failed) is dropped and counted.
func (l *Logger) Log(e *Entry) {
	e.done = nil
	if l.enqueue(context.Background(), e) != nil {
		l.drop()
	}
}

// Record logs one line. In ModeDrop it is Log and returns nil. In
// ModeBlock it waits for room and then for the write, and returns nil
// once the line is written, an error wrapping ErrNotRecorded when it was
// not (the log is closed or the write failed), or ctx's error when ctx
// ends first (the line may still be written).
func (l *Logger) Record(ctx context.Context, e *Entry) error {
	if l.mode != ModeBlock {
		l.Log(e)
		return nil
	}
	done := donePool.Get().(chan error)
	e.done = done
	err := l.enqueue(ctx, e)
	if err == nil {
		select {
		case err = <-done:
			donePool.Put(done)
		case <-ctx.Done():
			// The writer still owns done and will send to it: not reused.
			return ctx.Err()
		}
	} else {
		donePool.Put(done)
	}
	if errors.Is(err, ErrNotRecorded) {
		l.fail()
	}
	return err
}

// donePool recycles the channels on which ModeBlock senders learn the
// fate of their line; each carries exactly one result per use.
var donePool = sync.Pool{New: func() any { return make(chan error, 1) }}

// enqueue puts e on the queue: at once in ModeDrop, waiting for room in
// ModeBlock until ctx ends or Close gives up.
func (l *Logger) enqueue(ctx context.Context, e *Entry) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return errClosed
	}
	if l.mode == ModeBlock {
		select {
		case l.queue <- e:
			return nil
		case <-l.abort:
			return errClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	select {
	case l.queue <- e:
		return nil
	default:
		return errQueueFull
	}
}

func (l *Logger) drop() {
	l.dropped.Add(1)
	if l.onDrop != nil {
		l.onDrop()
	}
}

func (l *Logger) fail() {
	l.failed.Add(1)
	if l.onFail != nil {
		l.onFail()
	}
}

// Dropped is the number of lines lost so far without failing a call.
func (l *Logger) Dropped() uint64 { return l.dropped.Load() }

// Failed is the number of Record calls so far that returned an error
// wrapping ErrNotRecorded.
func (l *Logger) Failed() uint64 { return l.failed.Load() }

// Close stops taking lines, writes what is queued, and closes the writer
// when it is an io.Closer. When ctx ends first, senders still waiting for
// room (ModeBlock) give up and their lines are not written, and Close
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

// batch is the lines of one write.
type batch struct {
	buf     bytes.Buffer
	enc     *json.Encoder
	entries []*Entry
	ends    []int // where each entry's line ends in buf; -1 when it could not be encoded
}

// run writes queued lines in batches, each of what the queue holds when
// the previous write returns, until the queue is closed.
func (l *Logger) run() {
	defer close(l.done)
	out := newLineWriter(l.w)
	b := &batch{}
	b.enc = json.NewEncoder(&b.buf)
	var lastErr time.Time
	failing := false
	report := func(err error) {
		if err == nil {
			if failing {
				failing = false
				l.logger.Info("decision log writes again", "dropped", l.Dropped(), "failed", l.Failed())
			}
			return
		}
		failing = true
		if now := time.Now(); now.Sub(lastErr) >= errorLogInterval {
			lastErr = now
			l.logger.Error("decision log write failed; lines are not being written", "mode", string(l.mode), "error", err.Error())
		}
	}
	for e := range l.queue {
		l.add(b, e)
	gather:
		for b.buf.Len() < maxBatchBytes {
			select {
			case e, ok := <-l.queue:
				if !ok {
					break gather
				}
				l.add(b, e)
			default:
				break gather
			}
		}
		report(l.write(out, b))
	}
	report(out.mend())
}

// add masks and encodes e into b.
func (l *Logger) add(b *batch, e *Entry) {
	apply(l.masks, e)
	start := b.buf.Len()
	end := -1
	if err := b.enc.Encode(e); err != nil {
		b.buf.Truncate(start)
	} else {
		end = b.buf.Len()
	}
	b.entries = append(b.entries, e)
	b.ends = append(b.ends, end)
}

// write writes b, settles the fate of each of its lines and empties it.
func (l *Logger) write(out *lineWriter, b *batch) error {
	whole, err := out.write(b.buf.Bytes())
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrNotRecorded, err)
	}
	var encErr error
	for i, e := range b.entries {
		var res error
		switch end := b.ends[i]; {
		case end < 0:
			if encErr == nil {
				encErr = fmt.Errorf("%w: the line cannot be encoded", ErrNotRecorded)
			}
			res = encErr
		case end > whole:
			res = err
		default:
			l.written.Add(1)
		}
		switch {
		case e.done != nil:
			e.done <- res
		case res != nil:
			l.drop()
		}
		b.entries[i] = nil
	}
	b.entries, b.ends = b.entries[:0], b.ends[:0]
	b.buf.Reset()
	if err == nil {
		err = encErr
	}
	return err
}

// LogDecision writes the entry of d, decided for req in took:
// decide.Service calls it for every decision. Errors are not logged: no decision was
// made. In ModeBlock a line that could not be written is an Unavailable
// fault, and the decision must not be returned.
func (l *Logger) LogDecision(ctx context.Context, req *decision.Request, d *decision.Decision, took time.Duration) error {
	e := NewEntry(ctx, req, d, time.Now(), took)
	if l.inputs {
		l.addInput(e, req, d)
	}
	if err := l.Record(ctx, e); err != nil {
		if errors.Is(err, ErrNotRecorded) {
			return fault.Wrap(err, fault.Unavailable, UnavailableMessage)
		}
		return err
	}
	return nil
}

// addInput records the input d was decided with. An input that cannot be
// built (the engine would have refused it before deciding) leaves the
// line without one rather than losing the line.
func (l *Logger) addInput(e *Entry, req *decision.Request, d *decision.Decision) {
	// The engine set req.Time to the time it decided at; a request it
	// did not decide is logged at the line's time.
	at := e.Time
	input, err := engine.InputJSON(req, func() time.Time { return at })
	if err != nil {
		l.logger.Warn("decision log: the input of a decision cannot be recorded", "decision_id", d.ID, "error", err.Error())
		return
	}
	e.InputFormat, e.Input = InputFormat, input
}
