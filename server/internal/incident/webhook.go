package incident

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of WebhookOptions: six attempts spaced about 1s, 2s, 4s, 8s and
// 16s apart span about half a minute, a minute with slow answers.
const (
	DefaultWebhookTimeout    = 5 * time.Second
	DefaultWebhookAttempts   = 6
	DefaultWebhookBaseDelay  = time.Second
	DefaultWebhookMaxDelay   = 30 * time.Second
	DefaultWebhookMaxPending = 1024
	DefaultWebhookWorkers    = 2
)

// Errors of Webhook.Notify.
var (
	// ErrClosed: the notifier was closed.
	ErrClosed = errors.New("incident: notifier closed")
	// ErrTooManyPending: MaxPending deliveries are in progress.
	ErrTooManyPending = errors.New("incident: too many notifications pending")
)

// WebhookOptions configure a Webhook.
type WebhookOptions struct {
	// URL receives the POSTs; required.
	URL string
	// Secret signs each body (SignatureHeader); nil signs nothing.
	Secret []byte
	// Timeout bounds one attempt; DefaultWebhookTimeout when zero.
	Timeout time.Duration
	// Attempts bounds the attempts per notification;
	// DefaultWebhookAttempts when zero.
	Attempts int
	// BaseDelay is the wait after the first failed attempt; it doubles
	// after each further failure, with jitter (between half and one and a
	// half times), up to MaxDelay. A Retry-After the receiver sends with
	// 429 or 503 lengthens the wait, up to MaxDelay.
	BaseDelay time.Duration
	// MaxDelay caps one wait; DefaultWebhookMaxDelay when zero.
	MaxDelay time.Duration
	// MaxPending bounds the notifications taken and not yet delivered or
	// given up; DefaultWebhookMaxPending when zero.
	MaxPending int
	// Workers is how many attempts run at once; DefaultWebhookWorkers when
	// zero. Waiting between attempts holds no worker.
	Workers int
	// Client sends the requests; nil uses one that follows no redirects,
	// so a signed body never goes anywhere but URL.
	Client *http.Client
	// UserAgent is sent with each request; "pdp" when empty.
	UserAgent string
	// Logger receives deliveries given up; nil discards. The secret is
	// never logged.
	Logger *slog.Logger
}

// WebhookStats count what a Webhook did.
type WebhookStats struct {
	// Delivered is how many notifications a receiver accepted (2xx).
	Delivered uint64
	// Retried is how many attempts failed and were tried again.
	Retried uint64
	// GaveUp is how many notifications were dropped after their last
	// attempt, after a permanent refusal (4xx other than 408, 425 and
	// 429, or a redirect), or at shutdown.
	GaveUp uint64
}

// Webhook delivers notifications as signed JSON POSTs with retries. It is
// safe for concurrent use.
type Webhook struct {
	o      WebhookOptions
	url    string
	client *http.Client
	logger *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	ready   chan *delivery // due attempts; capacity MaxPending
	workers sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	pending map[*delivery]struct{}
	idle    chan struct{} // closed when pending empties after Close

	delivered, retried, gaveUp atomic.Uint64
}

type delivery struct {
	n         Notification
	body      []byte
	signature string
	attempts  int
	timer     *time.Timer
}

// NewWebhook starts a Webhook. Close stops it.
func NewWebhook(o WebhookOptions) (*Webhook, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("incident: the webhook URL must be an absolute http or https URL")
	}
	o.Timeout = positiveOr(o.Timeout, DefaultWebhookTimeout)
	o.BaseDelay = positiveOr(o.BaseDelay, DefaultWebhookBaseDelay)
	o.MaxDelay = positiveOr(o.MaxDelay, DefaultWebhookMaxDelay)
	if o.Attempts <= 0 {
		o.Attempts = DefaultWebhookAttempts
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultWebhookMaxPending
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWebhookWorkers
	}
	if o.UserAgent == "" {
		o.UserAgent = "pdp"
	}
	w := &Webhook{o: o, url: u.String(), client: o.Client, logger: o.Logger,
		ready: make(chan *delivery, o.MaxPending), pending: make(map[*delivery]struct{})}
	if w.client == nil {
		w.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if w.logger == nil {
		w.logger = slog.New(slog.DiscardHandler)
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	for range o.Workers {
		w.workers.Go(w.work)
	}
	return w, nil
}

// Notify takes n for delivery and returns at once.
func (w *Webhook) Notify(n Notification) error {
	if n.Details == nil {
		n.Details = map[string]string{}
	}
	body, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("incident: encoding notification: %w", err)
	}
	d := &delivery{n: n, body: body}
	if w.o.Secret != nil {
		d.signature = Signature(w.o.Secret, body)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if len(w.pending) >= w.o.MaxPending {
		return ErrTooManyPending
	}
	w.pending[d] = struct{}{}
	w.ready <- d // never blocks: ready holds pending deliveries only
	return nil
}

// Stats returns the counters.
func (w *Webhook) Stats() WebhookStats {
	return WebhookStats{Delivered: w.delivered.Load(), Retried: w.retried.Load(), GaveUp: w.gaveUp.Load()}
}

func (w *Webhook) work() {
	for {
		select {
		case d := <-w.ready:
			w.attempt(d)
		case <-w.ctx.Done():
			return
		}
	}
}

// attempt makes one attempt and finishes d or schedules the next one.
func (w *Webhook) attempt(d *delivery) {
	d.attempts++
	retryAfter, permanent, err := w.post(d)
	if err == nil {
		w.delivered.Add(1)
		w.finish(d)
		return
	}
	if permanent || d.attempts >= w.o.Attempts || w.ctx.Err() != nil {
		w.gaveUp.Add(1)
		w.logger.Error("incident notification not delivered", "notification_id", d.n.ID, "kind", string(d.n.Kind),
			"tenant", d.n.Tenant, "attempts", d.attempts, "error", err.Error())
		w.finish(d)
		return
	}
	w.retried.Add(1)
	delay := max(w.backoff(d.attempts), retryAfter)
	delay = min(delay, w.o.MaxDelay)
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.pending[d]; !ok {
		return // given up at shutdown meanwhile
	}
	d.timer = time.AfterFunc(delay, func() {
		select {
		case w.ready <- d:
		case <-w.ctx.Done():
		}
	})
}

// backoff is the jittered wait after the given number of failed attempts.
func (w *Webhook) backoff(failed int) time.Duration {
	d := w.o.BaseDelay
	for i := 1; i < failed && d < w.o.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, w.o.MaxDelay)
	return d/2 + rand.N(d)
}

// post sends d once. A nil error means delivered; permanent means trying
// again cannot help; retryAfter is the wait the receiver asked for.
func (w *Webhook) post(d *delivery) (retryAfter time.Duration, permanent bool, err error) {
	ctx, cancel := context.WithTimeout(w.ctx, w.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(d.body))
	if err != nil {
		return 0, true, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", w.o.UserAgent)
	req.Header.Set("X-PDP-Notification-Id", d.n.ID)
	req.Header.Set("X-PDP-Attempt", strconv.Itoa(d.attempts))
	if d.signature != "" {
		req.Header.Set(SignatureHeader, d.signature)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may carry a token
		}
		return 0, false, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return 0, false, nil
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return parseRetryAfter(resp.Header.Get("Retry-After")), false, fmt.Errorf("webhook answered %d", code)
	case code == http.StatusRequestTimeout || code == http.StatusTooEarly || code >= 500:
		return 0, false, fmt.Errorf("webhook answered %d", code)
	}
	return 0, true, fmt.Errorf("webhook answered %d", code)
}

// parseRetryAfter reads a Retry-After of whole seconds; 0 otherwise.
func parseRetryAfter(v string) time.Duration {
	s, err := strconv.Atoi(v)
	if err != nil || s <= 0 {
		return 0
	}
	return time.Duration(s) * time.Second
}

// finish forgets d once it is delivered or given up.
func (w *Webhook) finish(d *delivery) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.pending, d)
	if w.closed && len(w.pending) == 0 && w.idle != nil {
		close(w.idle)
		w.idle = nil
	}
}

// Close refuses new notifications and waits until the pending ones are
// delivered or given up, with their usual retries, until ctx ends. Then
// attempts in flight are cancelled and what is left is logged as not
// delivered, and ctx's error is returned.
func (w *Webhook) Close(ctx context.Context) error {
	w.mu.Lock()
	w.closed = true
	var idle chan struct{}
	if len(w.pending) > 0 {
		if w.idle == nil {
			w.idle = make(chan struct{})
		}
		idle = w.idle
	}
	w.mu.Unlock()
	var err error
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	w.cancel()
	w.workers.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	for d := range w.pending {
		if d.timer != nil {
			d.timer.Stop()
		}
		w.gaveUp.Add(1)
		w.logger.Error("incident notification not delivered at shutdown", "notification_id", d.n.ID,
			"kind", string(d.n.Kind), "tenant", d.n.Tenant, "attempts", d.attempts)
		delete(w.pending, d)
	}
	return err
}
