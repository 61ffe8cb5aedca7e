package incident

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var secret = []byte("s3cr3t-for-tests")

// hit is one request the test receiver got.
type hit struct {
	body      []byte
	signature string
	id        string
	attempt   string
}

// receiver answers with statuses in turn (the last one repeats) and
// records what it got.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	hits     []hit
	arrived  chan hit
	srv      *httptest.Server
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	rc := &receiver{statuses: statuses, arrived: make(chan hit, 64)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := hit{body: body, signature: r.Header.Get(SignatureHeader), id: r.Header.Get("X-PDP-Notification-Id"),
			attempt: r.Header.Get("X-PDP-Attempt")}
		rc.mu.Lock()
		rc.hits = append(rc.hits, h)
		code := rc.statuses[min(len(rc.hits), len(rc.statuses))-1]
		rc.mu.Unlock()
		if code == http.StatusFound {
			http.Redirect(w, r, "/elsewhere", code)
		} else {
			w.WriteHeader(code)
		}
		rc.arrived <- h
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) all() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.hits)
}

func newTestWebhook(t *testing.T, url string, adjust func(*WebhookOptions)) (*Webhook, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	o := WebhookOptions{URL: url, Secret: secret, BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}
	if adjust != nil {
		adjust(&o)
	}
	w, err := NewWebhook(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(context.Background()) })
	return w, logs
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func sample() Notification {
	return Notification{ID: "n-1", Time: t0, Tenant: "acme", Kind: KindIPBlocked, Subject: "alice", IP: "203.0.113.66",
		Reason: "10 failed logins", DecisionID: "dec-1", Details: map[string]string{"expires_at": "2026-03-10T11:30:00Z"}}
}

func TestWebhookSendsSignedJSON(t *testing.T) {
	rc := newReceiver(t, http.StatusNoContent)
	w, _ := newTestWebhook(t, rc.srv.URL+"/hook", nil)
	if err := w.Notify(sample()); err != nil {
		t.Fatal(err)
	}
	h := <-rc.arrived
	mac := Signature(secret, h.body)
	if !strings.HasPrefix(h.signature, "sha256=") || !hmac.Equal([]byte(h.signature), []byte(mac)) {
		t.Errorf("signature %q, want %q", h.signature, mac)
	}
	if h.id != "n-1" || h.attempt != "1" {
		t.Errorf("headers: id %q attempt %q", h.id, h.attempt)
	}
	var m map[string]any
	if err := json.Unmarshal(h.body, &m); err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(maps.Keys(m))
	if want := []string{"decision_id", "details", "id", "ip", "kind", "reason", "subject", "tenant", "time"}; !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	var n Notification
	if err := json.Unmarshal(h.body, &n); err != nil {
		t.Fatal(err)
	}
	if n.Kind != KindIPBlocked || n.Tenant != "acme" || !n.Time.Equal(t0) || n.Details["expires_at"] == "" {
		t.Errorf("body %s", h.body)
	}
	w.Close(context.Background())
	if st := w.Stats(); st.Delivered != 1 || st.Retried != 0 || st.GaveUp != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestWebhookWithoutSecretSignsNothing(t *testing.T) {
	rc := newReceiver(t, http.StatusOK)
	w, _ := newTestWebhook(t, rc.srv.URL, func(o *WebhookOptions) { o.Secret = nil })
	n := sample()
	n.Details = nil
	if err := w.Notify(n); err != nil {
		t.Fatal(err)
	}
	h := <-rc.arrived
	if h.signature != "" {
		t.Errorf("signature %q without a secret", h.signature)
	}
	if !bytes.Contains(h.body, []byte(`"details":{}`)) {
		t.Errorf("details not an object: %s", h.body)
	}
}

func TestWebhookRetriesAfterServerErrors(t *testing.T) {
	rc := newReceiver(t, 500, 502, 429, http.StatusAccepted)
	w, _ := newTestWebhook(t, rc.srv.URL, nil)
	if err := w.Notify(sample()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	hits := rc.all()
	if len(hits) != 4 {
		t.Fatalf("%d attempts, want 4", len(hits))
	}
	for i, h := range hits {
		if h.id != "n-1" || h.attempt != string(rune('1'+i)) || !bytes.Equal(h.body, hits[0].body) || h.signature != hits[0].signature {
			t.Errorf("attempt %d: %+v", i+1, h)
		}
	}
	if st := w.Stats(); st.Delivered != 1 || st.Retried != 3 || st.GaveUp != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestWebhookGivesUpAfterTheBoundedAttempts(t *testing.T) {
	rc := newReceiver(t, http.StatusServiceUnavailable)
	w, logs := newTestWebhook(t, rc.srv.URL, nil)
	if err := w.Notify(sample()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(rc.all()); got != DefaultWebhookAttempts {
		t.Errorf("%d attempts, want %d", got, DefaultWebhookAttempts)
	}
	if st := w.Stats(); st.GaveUp != 1 || st.Delivered != 0 || st.Retried != DefaultWebhookAttempts-1 {
		t.Errorf("stats %+v", st)
	}
	out := logs.String()
	if !strings.Contains(out, "incident notification not delivered") || !strings.Contains(out, "503") {
		t.Errorf("give-up not logged:\n%s", out)
	}
	if strings.Contains(out, string(secret)) {
		t.Error("the secret was logged")
	}
}

func TestWebhookDoesNotRetryPermanentRefusals(t *testing.T) {
	for _, code := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusFound} {
		rc := newReceiver(t, code)
		w, _ := newTestWebhook(t, rc.srv.URL, nil)
		if err := w.Notify(sample()); err != nil {
			t.Fatal(err)
		}
		w.Close(context.Background())
		if got := len(rc.all()); got != 1 {
			t.Errorf("%d: %d attempts, want 1 (and no redirect followed)", code, got)
		}
		if st := w.Stats(); st.GaveUp != 1 {
			t.Errorf("%d: stats %+v", code, st)
		}
	}
}

func TestWebhookCloseGivesUpPendingAtTheDeadline(t *testing.T) {
	rc := newReceiver(t, http.StatusInternalServerError)
	w, logs := newTestWebhook(t, rc.srv.URL, func(o *WebhookOptions) { o.BaseDelay, o.MaxDelay = time.Hour, time.Hour })
	if err := w.Notify(sample()); err != nil {
		t.Fatal(err)
	}
	<-rc.arrived // the first attempt failed; the next waits an hour
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close: %v", err)
	}
	if st := w.Stats(); st.GaveUp != 1 {
		t.Errorf("stats %+v", st)
	}
	// Given up at shutdown while waiting, or in the attempt Close cancelled.
	if !strings.Contains(logs.String(), "not delivered") {
		t.Errorf("logs:\n%s", logs.String())
	}
	if err := w.Notify(sample()); !errors.Is(err, ErrClosed) {
		t.Errorf("Notify after Close: %v", err)
	}
}

func TestWebhookBoundsPending(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	defer srv.Close()
	w, _ := newTestWebhook(t, srv.URL, func(o *WebhookOptions) { o.MaxPending = 1 })
	if err := w.Notify(sample()); err != nil {
		t.Fatal(err)
	}
	<-arrived
	if err := w.Notify(sample()); !errors.Is(err, ErrTooManyPending) {
		t.Errorf("second Notify: %v", err)
	}
	close(release)
}

func TestBackoffDoublesWithJitterUpToTheCap(t *testing.T) {
	w := &Webhook{o: WebhookOptions{BaseDelay: time.Second, MaxDelay: 10 * time.Second}}
	for failed, d := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 9: 10 * time.Second} {
		for range 50 {
			got := w.backoff(failed)
			if got < d/2 || got >= d*3/2 {
				t.Fatalf("after %d failures: %s outside [%s, %s)", failed, got, d/2, d*3/2)
			}
		}
	}
	if got := parseRetryAfter("7"); got != 7*time.Second {
		t.Errorf("Retry-After 7: %s", got)
	}
	if got := parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"); got != 0 {
		t.Errorf("Retry-After date: %s", got)
	}
}

func TestNewWebhookRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "hooks.test/x", "ftp://hooks.test", "http://"} {
		if _, err := NewWebhook(WebhookOptions{URL: u}); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
}

func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "secret")
	if err := os.WriteFile(p, []byte("  hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadSecretFile(p); err != nil || string(got) != "hunter2" {
		t.Errorf("got %q %v", got, err)
	}
	if err := os.WriteFile(p, []byte("\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSecretFile(p); err == nil {
		t.Error("blank secret accepted")
	}
	if _, err := ReadSecretFile(filepath.Join(dir, "none")); err == nil {
		t.Error("missing file accepted")
	}
}

// A webhook that does not answer never holds up a decision: the test's
// receiver is released only after Decide has returned, so a Decide that
// waited for the webhook would never return.
func TestSlowWebhookNeverSlowsDecide(t *testing.T) {
	arrived := make(chan Notification, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n Notification
		_ = json.NewDecoder(r.Body).Decode(&n)
		arrived <- n
		<-release
	}))
	defer srv.Close()
	defer close(release)
	hook, _ := newTestWebhook(t, srv.URL, func(o *WebhookOptions) { o.Timeout = time.Minute })
	f := newFixture(t, strict, func(o *Options) { o.Notifier = hook })
	h := decider(f.resp, staticDecider{escalation("mallory", true)})

	decided := make(chan error, 1)
	go func() {
		_, err := h.Decide(context.Background(), request("acme", "mallory", attacker))
		decided <- err
	}()
	if err := <-decided; err != nil {
		t.Fatal(err)
	}
	n := <-arrived
	if n.Kind != KindUserSuspended || n.Subject != "mallory" {
		t.Errorf("webhook got %+v", n)
	}
}
