package pdptest_test

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/incident"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// irTenant blocks an IP after 4 failed logins for an hour and suspends on
// privilege escalation; the lenient environment does not suspend.
const irTenant = `
tenant: ir-e2e
plan: enterprise
environments:
  production:
    mfa: {mode: "off"}
    roles:
      viewer: {actions: [login, api.read]}
    incident:
      failed_logins_threshold: 50
      suspicious_ip_threshold: 4
      auto_block_ttl: 1h
      suspend_on_privilege_escalation: true
  lenient:
    mfa: {mode: "off"}
    roles:
      viewer: {actions: [login, api.read]}
    incident:
      suspend_on_privilege_escalation: false
`

var irNow = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

func irCheck(t *testing.T, srv *pdptest.Server, env, user, ip, action string) *pdpv1.CheckResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := srv.Decisions.Check(ctx, &pdpv1.CheckRequest{
		Tenant:      "ir-e2e",
		Environment: env,
		Subject:     &pdpv1.Subject{Id: user, Roles: []string{"viewer"}},
		Network:     &pdpv1.Network{Ip: ip},
		Device:      &pdpv1.Device{Id: "d1", Managed: true, Compliant: true},
		Action:      &pdpv1.Action{Name: action},
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func irCodes(r *pdpv1.CheckResponse) []string {
	var out []string
	for _, x := range r.GetReasons() {
		out = append(out, x.GetCode())
	}
	return out
}

// eventually polls cond: incident actions run off the decision path.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReportedFailuresAutoBlockTheIPUntilTheTTL(t *testing.T) {
	clock := pdptest.NewClock(irNow)
	srv := pdptest.StartWithClock(t, clock, pdptest.WithTenant("ir-e2e.yaml", irTenant))
	const ip = "203.0.113.77"
	if r := irCheck(t, srv, "", "ir-alice", ip, "api.read"); r.GetDecision() != pdpv1.Decision_DECISION_ALLOW {
		t.Fatalf("before any failure: %v %v", r.GetDecision(), irCodes(r))
	}
	ctx := context.Background()
	for i := range 4 {
		_, err := srv.Decisions.Report(ctx, &pdpv1.ReportRequest{
			Tenant:  "ir-e2e",
			Event:   pdpv1.Event_EVENT_LOGIN_FAILED,
			Subject: &pdpv1.Subject{Id: "ir-sprayed-" + strconv.Itoa(i)},
			Network: &pdpv1.Network{Ip: ip},
			Time:    timestamppb.New(irNow.Add(-time.Duration(4-i) * time.Minute)),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var denied *pdpv1.CheckResponse
	eventually(t, "the IP is blocked", func() bool {
		denied = irCheck(t, srv, "", "ir-alice", ip, "api.read")
		return denied.GetDecision() == pdpv1.Decision_DECISION_DENY
	})
	if !slices.Contains(irCodes(denied), "network.ip_denied") {
		t.Errorf("deny reasons %v, want network.ip_denied", irCodes(denied))
	}
	if r := irCheck(t, srv, "", "ir-alice", "198.51.100.77", "api.read"); r.GetDecision() != pdpv1.Decision_DECISION_ALLOW {
		t.Errorf("another IP: %v %v", r.GetDecision(), irCodes(r))
	}

	clock.Advance(time.Hour - time.Second)
	if r := irCheck(t, srv, "", "ir-alice", ip, "api.read"); !slices.Contains(irCodes(r), "network.ip_denied") {
		t.Errorf("a second before the TTL: %v %v", r.GetDecision(), irCodes(r))
	}
	clock.Advance(time.Second)
	if r := irCheck(t, srv, "", "ir-alice", ip, "api.read"); slices.Contains(irCodes(r), "network.ip_denied") {
		t.Errorf("after the TTL: %v %v", r.GetDecision(), irCodes(r))
	}
}

func TestPrivilegeEscalationSuspendsAndNotifiesTheWebhook(t *testing.T) {
	secret := []byte("e2e-webhook-secret")
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, append(secret, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	type delivery struct {
		body      []byte
		signature string
	}
	got := make(chan delivery, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- delivery{body: body, signature: r.Header.Get(incident.SignatureHeader)}
	}))
	t.Cleanup(hook.Close) // after the server stopped
	srv := pdptest.Start(t, pdptest.WithTenant("ir-e2e.yaml", irTenant), pdptest.WithConfig(func(c *config.Config) {
		c.NotifyURL, c.NotifySecretFile = hook.URL, secretFile
	}))

	// Without suspend_on_privilege_escalation: denied, notified, not suspended.
	r := irCheck(t, srv, "lenient", "ir-lenny", "", "admin.users.delete")
	if !slices.Contains(irCodes(r), "incident.privilege_escalation") {
		t.Fatalf("lenient: %v", irCodes(r))
	}
	d := <-got
	var n incident.Notification
	if err := json.Unmarshal(d.body, &n); err != nil {
		t.Fatal(err)
	}
	if n.Kind != incident.KindSecurityAlert || n.Subject != "ir-lenny" || n.DecisionID != r.GetDecisionId() {
		t.Errorf("lenient notification %s", d.body)
	}
	if r := irCheck(t, srv, "lenient", "ir-lenny", "", "api.read"); r.GetDecision() != pdpv1.Decision_DECISION_ALLOW {
		t.Errorf("lenient user suspended: %v", irCodes(r))
	}

	// With it: the next Check of the user is denied as suspended.
	r = irCheck(t, srv, "", "ir-mallory", "192.0.2.9", "admin.users.delete")
	if r.GetDecision() != pdpv1.Decision_DECISION_DENY || !slices.Contains(irCodes(r), "incident.privilege_escalation") {
		t.Fatalf("escalation: %v %v", r.GetDecision(), irCodes(r))
	}
	eventually(t, "the user is suspended", func() bool {
		return slices.Contains(irCodes(irCheck(t, srv, "", "ir-mallory", "192.0.2.9", "api.read")), "incident.user_suspended")
	})
	d = <-got
	if want := incident.Signature(secret, d.body); !hmac.Equal([]byte(d.signature), []byte(want)) {
		t.Errorf("signature %q, want %q", d.signature, want)
	}
	n = incident.Notification{}
	if err := json.Unmarshal(d.body, &n); err != nil {
		t.Fatal(err)
	}
	if n.Kind != incident.KindUserSuspended || n.Tenant != "ir-e2e" || n.Subject != "ir-mallory" || n.IP != "192.0.2.9" ||
		n.Reason != "incident.privilege_escalation" || n.DecisionID != r.GetDecisionId() || n.Details["action"] != "admin.users.delete" {
		t.Errorf("notification %s", d.body)
	}
}

// A webhook that never answers does not hold up Check: the receiver is
// released only when the test ends, so a Check that waited for it would
// never return.
func TestSlowWebhookNeverSlowsCheck(t *testing.T) {
	arrived := make(chan struct{}, 16)
	release := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	t.Cleanup(hook.Close) // cleanups run last first: release, stop the server, close the receiver
	srv := pdptest.Start(t, pdptest.WithTenant("ir-e2e.yaml", irTenant), pdptest.WithConfig(func(c *config.Config) {
		c.NotifyURL, c.NotifyTimeout = hook.URL, time.Minute
	}))
	t.Cleanup(func() { close(release) })
	for i := range 3 {
		r := irCheck(t, srv, "lenient", "ir-slow-"+strconv.Itoa(i), "", "admin.users.delete")
		if !slices.Contains(irCodes(r), "incident.privilege_escalation") {
			t.Fatalf("escalation: %v", irCodes(r))
		}
		if i == 0 {
			<-arrived // the receiver holds the first notification from now on
		}
	}
	if r := irCheck(t, srv, "", "ir-slow-other", "", "api.read"); r.GetDecision() != pdpv1.Decision_DECISION_ALLOW {
		t.Errorf("plain check: %v %v", r.GetDecision(), irCodes(r))
	}
}
