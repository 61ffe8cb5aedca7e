package receiver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/ssf"
	"github.com/pdp-dev/pdp/server/internal/ssf/receiver"
	"github.com/pdp-dev/pdp/server/internal/ssf/receiver/settest"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
)

// The CAEP examples' iat (2021-03-09T15:52:39Z) and the RISC examples'.
var (
	caepIAT = time.Unix(1615305159, 0).UTC()
	riscIAT = time.Unix(1508184845, 0).UTC()
)

// rig is a receiver with one stream, over a memory store and audit log.
type rig struct {
	r     *receiver.Receiver
	store *memory.SSF
	audit audit.Log
	tr    *settest.Transmitter
	path  string // the stream file
	now   time.Time
	mu    sync.Mutex
}

func (g *rig) clock() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.now
}

// newRig configures stream "idp" of tenant acme for the issuer and
// audience, with extra YAML lines, clock at now.
func newRig(t testing.TB, iss, aud string, now time.Time, extra string) *rig {
	t.Helper()
	dir := t.TempDir()
	g := &rig{store: memory.NewSSF(), audit: memory.New(memory.Options{}).AuditLog(), now: now}
	g.tr = settest.NewTransmitter(t, "ES256", "k1")
	jwks := g.tr.WriteJWKS(t, dir, "jwks.json")
	cfg := fmt.Sprintf("- name: idp\n  tenant: acme\n  issuer: %q\n  audience: %q\n  jwks_file: %s\n  delivery: push\n%s", iss, aud, jwks, extra)
	path := filepath.Join(dir, "ssf.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	g.r = receiver.New(receiver.Options{Store: g.store, Audit: g.audit, Now: g.clock})
	if err := g.r.Load(path); err != nil {
		t.Fatal(err)
	}
	g.path = path
	return g
}

func (g *rig) effects(t *testing.T, r ssf.Request) []ssf.Effect {
	t.Helper()
	got, err := g.store.Read(context.Background(), "acme", ssf.Keys(r), g.clock(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (g *rig) applied(t *testing.T) []audit.Event {
	t.Helper()
	evs, _, err := g.audit.List(context.Background(), audit.Query{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestSpecExamplesProduceTheirEffects(t *testing.T) {
	t.Parallel()
	at := time.Unix(1615304991, 0).UTC()
	tests := []struct {
		example string
		iat     time.Time
		match   ssf.Request
		want    ssf.Effect
	}{
		{"caep-session-revoked-simple", caepIAT, ssf.Request{Session: "dMTlD|1600802906337.16|16008.16"},
			ssf.Effect{Event: "session-revoked", Subject: ssf.Subject{Session: "dMTlD|1600802906337.16|16008.16"}, At: at}},
		{"caep-session-revoked-complex", caepIAT, ssf.Request{Session: "dMTlD|1600802906337.16|16008.16", User: "99beb27c-c1c2-4955-882a-e0dc4996fcbc"},
			ssf.Effect{Event: "session-revoked", At: at, Reason: "Landspeed Policy Violation: C076E82F",
				Subject: ssf.Subject{Session: "dMTlD|1600802906337.16|16008.16", User: "99beb27c-c1c2-4955-882a-e0dc4996fcbc", Tenant: "123456789"}}},
		{"caep-session-revoked-user-device", caepIAT, ssf.Request{User: "jane.smith@example.com", Device: "e9297990-14d2-42ec-a4a9-4036db86509a"},
			ssf.Effect{Event: "session-revoked", At: at, Reason: "Policy Violation: C076E822",
				Subject: ssf.Subject{User: "jane.smith@example.com", Device: "e9297990-14d2-42ec-a4a9-4036db86509a", Tenant: "123456789"}}},
		{"caep-credential-change", caepIAT, ssf.Request{User: "jane.smith@example.com"},
			ssf.Effect{Event: "credential-change", Subject: ssf.Subject{User: "jane.smith@example.com"}, At: at, Reason: "User self-enrollment"}},
		{"caep-assurance-level-change", caepIAT, ssf.Request{User: "jane.smith@example.com"},
			ssf.Effect{Event: "assurance-level-change", Subject: ssf.Subject{User: "jane.smith@example.com"}, At: at, Level: "nist-aal2"}},
		{"caep-device-compliance-change", caepIAT, ssf.Request{Device: "e9297990-14d2-42ec-a4a9-4036db86509a"},
			ssf.Effect{Event: "device-compliance-change", At: at, Status: "not-compliant", Reason: "Location Policy Violation: C076E8A3",
				Subject: ssf.Subject{Device: "e9297990-14d2-42ec-a4a9-4036db86509a", Tenant: "123456789"}}},
		{"caep-risk-level-change", caepIAT, ssf.Request{User: "jane.doe@example.com"},
			ssf.Effect{Event: "risk-level-change", Subject: ssf.Subject{User: "jane.doe@example.com"}, At: at, Level: "LOW"}},
		{"risc-account-credential-change-required", riscIAT, ssf.Request{User: "7375626A656374"},
			ssf.Effect{Event: "account-credential-change-required", Subject: ssf.Subject{User: "7375626A656374"}, At: riscIAT}},
		{"risc-account-disabled", riscIAT, ssf.Request{User: "7375626A656374"},
			ssf.Effect{Event: "account-disabled", Subject: ssf.Subject{User: "7375626A656374"}, At: riscIAT, Reason: "hijacking"}},
		{"risc-credential-compromise", riscIAT, ssf.Request{User: "joe.smith@example.com"},
			ssf.Effect{Event: "credential-compromise", Subject: ssf.Subject{User: "joe.smith@example.com"}, At: riscIAT}},
	}
	for _, tt := range tests {
		t.Run(tt.example, func(t *testing.T) {
			t.Parallel()
			claims := settest.Example(t, tt.example)
			g := newRig(t, claims["iss"].(string), claims["aud"].(string), tt.iat.Add(10*time.Second), "")
			if err := g.r.Receive(context.Background(), "idp", []byte(g.tr.Sign(t, claims))); err != nil {
				t.Fatalf("Receive: %v", err)
			}
			got := g.effects(t, tt.match)
			if len(got) != 1 {
				t.Fatalf("effects %+v, want one", got)
			}
			e := got[0]
			if e.Event != tt.want.Event || e.Subject != tt.want.Subject || !e.At.Equal(tt.want.At) || e.Level != tt.want.Level ||
				e.Status != tt.want.Status || e.Reason != tt.want.Reason || e.JTI != claims["jti"] || e.Stream != "idp" || e.Tenant != "acme" {
				t.Fatalf("effect %+v\nwant   %+v", e, tt.want)
			}
			evs := g.applied(t)
			if len(evs) != 1 || evs[0].Action != receiver.AuditAction || evs[0].Tenant != "acme" || evs[0].After["jti"] != claims["jti"] ||
				evs[0].After["stream"] != "idp" || evs[0].Target != tt.want.Subject.String() {
				t.Fatalf("audit %+v, want one %s record", evs, receiver.AuditAction)
			}
		})
	}
}

func TestTokenClaimsChangeExampleNamesATokenTheServerCannotMatch(t *testing.T) {
	t.Parallel()
	claims := settest.Example(t, "caep-token-claims-change-jwt-id")
	g := newRig(t, claims["iss"].(string), claims["aud"].(string), caepIAT, "")
	err := g.r.Receive(context.Background(), "idp", []byte(g.tr.Sign(t, claims)))
	var se *receiver.SETError
	if !errors.As(err, &se) || se.Code != receiver.ErrInvalidRequest || !strings.Contains(se.Description, `"jwt_id" not supported`) {
		t.Fatalf("Receive: %v, want invalid_request for the jwt_id subject", err)
	}
}

// sessionRevoked is a valid SET's claims for the rig of newRig(iss, aud).
func sessionRevoked(jti string, iat time.Time) map[string]any {
	return map[string]any{
		"iss": "https://idp.example.com/", "aud": "https://pdp.example.com/", "jti": jti, "iat": iat.Unix(),
		"sub_id": map[string]any{"format": "email", "email": "Jane@Example.com"},
		"events": map[string]any{"https://schemas.openid.net/secevent/caep/event-type/session-revoked": map[string]any{}},
	}
}

func TestEveryVerificationFailureHasItsCodeAndChangesNothing(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	g := newRig(t, "https://idp.example.com/", "https://pdp.example.com/", now,
		"  events: [\"https://schemas.openid.net/secevent/caep/event-type/session-revoked\", \"https://schemas.openid.net/secevent/caep/event-type/device-compliance-change\"]\n")
	other := settest.NewTransmitter(t, "ES256", "k1") // same kid, another key
	rsa := settest.NewTransmitter(t, "RS256", "k1")   // an RSA key under the EC key's kid
	with := func(change func(c map[string]any)) map[string]any {
		c := sessionRevoked("j1", now)
		change(c)
		return c
	}
	event := func(uri string, payload map[string]any) map[string]any {
		return with(func(c map[string]any) { c["events"] = map[string]any{uri: payload} })
	}
	caep := "https://schemas.openid.net/secevent/caep/event-type/"
	tests := []struct {
		name, set, code string
	}{
		{"not a JWS", "not.a-jws", receiver.ErrInvalidRequest},
		{"typ JWT", g.tr.SignWithHeaders(t, sessionRevoked("j1", now), map[string]any{"typ": "JWT", "kid": "k1"}), receiver.ErrInvalidRequest},
		{"no typ", g.tr.SignWithHeaders(t, sessionRevoked("j1", now), map[string]any{"kid": "k1"}), receiver.ErrInvalidRequest},
		{"unknown crit", g.tr.SignWithHeaders(t, sessionRevoked("j1", now), map[string]any{"typ": "secevent+jwt", "kid": "k1", "crit": []string{"exp"}, "exp": 1}), receiver.ErrInvalidRequest},
		{"alg none", settest.Unsigned(t, sessionRevoked("j1", now)), receiver.ErrAuthenticationFailed},
		{"HMAC", settest.SignHMAC(t, sessionRevoked("j1", now), []byte("a shared secret of 32 bytes!!!!")), receiver.ErrInvalidKey},
		{"unknown kid", settest.NewTransmitter(t, "ES256", "k9").Sign(t, sessionRevoked("j1", now)), receiver.ErrInvalidKey},
		{"RSA signature for an EC key", rsa.Sign(t, sessionRevoked("j1", now)), receiver.ErrInvalidKey},
		{"another key's signature", other.Sign(t, sessionRevoked("j1", now)), receiver.ErrAuthenticationFailed},
		{"wrong iss", g.tr.Sign(t, with(func(c map[string]any) { c["iss"] = "https://evil.example/" })), receiver.ErrInvalidIssuer},
		{"wrong aud", g.tr.Sign(t, with(func(c map[string]any) { c["aud"] = []string{"https://other.example/"} })), receiver.ErrInvalidAudience},
		{"iat in the future", g.tr.Sign(t, with(func(c map[string]any) { c["iat"] = now.Add(2 * time.Minute).Unix() })), receiver.ErrInvalidRequest},
		{"iat before the replay window", g.tr.Sign(t, with(func(c map[string]any) { c["iat"] = now.Add(-8 * 24 * time.Hour).Unix() })), receiver.ErrInvalidRequest},
		{"no iat", g.tr.Sign(t, with(func(c map[string]any) { delete(c, "iat") })), receiver.ErrInvalidRequest},
		{"no jti", g.tr.Sign(t, with(func(c map[string]any) { delete(c, "jti") })), receiver.ErrInvalidRequest},
		{"two events", g.tr.Sign(t, with(func(c map[string]any) {
			c["events"] = map[string]any{caep + "session-revoked": map[string]any{}, caep + "credential-change": map[string]any{}}
		})), receiver.ErrInvalidRequest},
		{"unknown event", g.tr.Sign(t, event("https://example.com/event/made-up", map[string]any{})), receiver.ErrInvalidRequest},
		{"event the stream does not accept", g.tr.Sign(t, event(caep+"credential-change", map[string]any{"credential_type": "password", "change_type": "update"})), receiver.ErrInvalidRequest},
		{"payload against its definition", g.tr.Sign(t, event(caep+"device-compliance-change", map[string]any{"current_status": "broken", "previous_status": "compliant"})), receiver.ErrInvalidRequest},
		{"no sub_id", g.tr.Sign(t, with(func(c map[string]any) { delete(c, "sub_id") })), receiver.ErrInvalidRequest},
		{"complex member the server cannot match", g.tr.Sign(t, with(func(c map[string]any) {
			c["sub_id"] = map[string]any{"format": "complex", "application": map[string]any{"format": "opaque", "id": "app"}}
		})), receiver.ErrInvalidRequest},
	}
	for _, tt := range tests {
		err := g.r.Receive(context.Background(), "idp", []byte(tt.set))
		var se *receiver.SETError
		if !errors.As(err, &se) || se.Code != tt.code {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
		}
	}
	if got := g.effects(t, ssf.Request{Email: "jane@example.com"}); len(got) != 0 {
		t.Fatalf("refused SETs left effects: %+v", got)
	}
	if evs := g.applied(t); len(evs) != 0 {
		t.Fatalf("refused SETs were audited: %+v", evs)
	}
	// The same jti, now valid, applies: nothing above consumed it.
	if err := g.r.Receive(context.Background(), "idp", []byte(g.tr.Sign(t, sessionRevoked("j1", now)))); err != nil {
		t.Fatalf("the valid SET: %v", err)
	}
}

func TestReplayedJTIIsRefused(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	g := newRig(t, "https://idp.example.com/", "https://pdp.example.com/", now, "")
	set := []byte(g.tr.Sign(t, sessionRevoked("j1", now)))
	if err := g.r.Receive(context.Background(), "idp", set); err != nil {
		t.Fatal(err)
	}
	err := g.r.Receive(context.Background(), "idp", set)
	var se *receiver.SETError
	if !errors.As(err, &se) || se.Code != receiver.ErrInvalidRequest || !se.Replay {
		t.Fatalf("replay: %v, want invalid_request marked as a replay", err)
	}
	if evs := g.applied(t); len(evs) != 1 {
		t.Fatalf("%d audit records, want 1", len(evs))
	}
}

// transmitter is a small RFC 8936 poll endpoint: every SET not yet
// acknowledged is delivered again on every poll.
type transmitter struct {
	mu      sync.Mutex
	pending map[string]string
	acked   map[string]int
	errs    map[string]string
	down    bool
	// crash takes the transmitter down once it delivered a batch, so
	// that the receiver's acknowledgements never arrive.
	crash bool
}

func (tm *transmitter) add(jti, set string) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	tm.pending[jti] = set
}

func (tm *transmitter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if tm.down || r.Header.Get("Authorization") != "Bearer poll-secret" {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	var req struct {
		MaxEvents int      `json:"maxEvents"`
		Ack       []string `json:"ack"`
		SetErrs   map[string]struct {
			Err string `json:"err"`
		} `json:"setErrs"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, jti := range req.Ack {
		delete(tm.pending, jti)
		tm.acked[jti]++
	}
	for jti, e := range req.SetErrs {
		delete(tm.pending, jti)
		tm.errs[jti] = e.Err
	}
	sets := map[string]string{}
	for jti, set := range tm.pending {
		if len(sets) < req.MaxEvents {
			sets[jti] = set
		}
	}
	if tm.crash && len(sets) > 0 {
		tm.down = true
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"sets": sets, "moreAvailable": len(sets) < len(tm.pending)})
}

func (tm *transmitter) settled(jtis ...string) bool {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	for _, j := range jtis {
		if tm.acked[j] == 0 && tm.errs[j] == "" {
			return false
		}
	}
	return len(tm.pending) == 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPollAcknowledgesAndResumesAfterARestartWithoutLosingOrDoublingEvents(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	tm := &transmitter{pending: map[string]string{}, acked: map[string]int{}, errs: map[string]string{}, crash: true}
	srv := httptest.NewServer(tm)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("poll-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := newRig(t, "https://idp.example.com/", "https://pdp.example.com/", now, "")
	// The same stream, polled: rewrite the file and load it again.
	cfg := fmt.Sprintf("- name: idp\n  tenant: acme\n  issuer: https://idp.example.com/\n  audience: https://pdp.example.com/\n"+
		"  jwks_file: %s\n  delivery: poll\n  poll_url: %s\n  poll_interval: 1s\n  poll_token_file: %s\n",
		g.tr.WriteJWKS(t, dir, "jwks.json"), srv.URL, token)
	path := filepath.Join(dir, "ssf.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.r.Load(path); err != nil {
		t.Fatal(err)
	}
	tm.add("a", g.tr.Sign(t, sessionRevoked("a", now)))
	tm.add("b", g.tr.Sign(t, sessionRevoked("b", now)))
	tm.add("bad", g.tr.Sign(t, with(sessionRevoked("bad", now), "iss", "https://evil.example/")))

	ctx, cancel := context.WithCancel(context.Background())
	g.r.StartPolling(ctx)
	waitFor(t, "a and b applied", func() bool { return len(g.applied(t)) == 2 })
	// The transmitter went away before the acknowledgements arrived, and
	// the receiver stops (a restart): a and b stay pending there.
	cancel()
	g.r.StopPolling()

	tm.mu.Lock()
	tm.down, tm.crash = false, false
	_, aPending := tm.pending["a"]
	tm.mu.Unlock()
	if !aPending {
		t.Fatal("a was acknowledged although the transmitter was down")
	}
	tm.add("c", g.tr.Sign(t, sessionRevoked("c", now)))
	again := receiver.New(receiver.Options{Store: g.store, Audit: g.audit, Now: g.clock})
	if err := again.Load(path); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	again.StartPolling(ctx2)
	waitFor(t, "every SET settled", func() bool { return tm.settled("a", "b", "c", "bad") })
	again.StopPolling()

	if evs := g.applied(t); len(evs) != 3 {
		t.Fatalf("%d events applied, want a, b and c once each", len(evs))
	}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if tm.errs["bad"] != receiver.ErrInvalidIssuer {
		t.Fatalf("bad was reported as %q, want %s", tm.errs["bad"], receiver.ErrInvalidIssuer)
	}
}

func with(c map[string]any, k string, v any) map[string]any {
	c[k] = v
	return c
}
