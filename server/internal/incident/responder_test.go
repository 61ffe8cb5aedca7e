package incident

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/ipset"
	"github.com/pdp-dev/pdp/server/internal/store"
)

var (
	attacker  = netip.MustParseAddr("203.0.113.66")
	attacker6 = netip.MustParseAddr("2001:db8:bad::1")
	bystander = netip.MustParseAddr("198.51.100.1")
)

var strict = Settings{FailedLoginsThreshold: 3, SuspiciousIPThreshold: 4, AutoBlockTTL: 10 * time.Minute}

func TestReportsCrossingTheIPThresholdBlockTheIPUntilTheTTL(t *testing.T) {
	for _, ip := range []netip.Addr{attacker, attacker6} {
		t.Run(ip.String(), func(t *testing.T) {
			f := newFixture(t, strict)
			f.fail(t, "acme", "victim-", ip, t0.Add(-time.Hour), 3)
			f.resp.Close(context.Background()) // wait for the queue
			if m := f.denied("acme", ip); m.Found() {
				t.Fatalf("blocked below the threshold: %+v", m)
			}

			f = newFixture(t, strict)
			f.fail(t, "acme", "victim-", ip, t0.Add(-time.Hour), 4)
			f.drain(t)
			m := f.denied("acme", ip)
			want := netip.PrefixFrom(ip, ip.BitLen())
			if !m.Found() || m.Prefix != want || m.Source != ipset.SourceAutoBlock || m.Scope != (ipset.Scope{Tenant: "acme"}) {
				t.Fatalf("deny match %+v, want %s from %s for tenant acme", m, want, ipset.SourceAutoBlock)
			}
			// The expiry follows the wall clock, not the (older) event times.
			if !m.ExpiresAt.Equal(t0.Add(10 * time.Minute)) {
				t.Errorf("expires at %s, want %s", m.ExpiresAt, t0.Add(10*time.Minute))
			}
			if other := f.ips.Lookup("other", "production", ip, t0).Deny; other.Found() {
				t.Errorf("the block leaks to another tenant: %+v", other)
			}
			if f.denied("acme", bystander).Found() {
				t.Error("a bystander is blocked")
			}

			f.clock.Advance(10*time.Minute - time.Nanosecond)
			if !f.denied("acme", ip).Found() {
				t.Error("block gone before its TTL")
			}
			f.clock.Advance(time.Nanosecond)
			if m := f.denied("acme", ip); m.Found() {
				t.Errorf("block still there after its TTL: %+v", m)
			}

			notes := f.notes.all()
			if len(notes) != 1 {
				t.Fatalf("notifications %+v, want one ip_blocked", notes)
			}
			n := notes[0]
			if n.Kind != KindIPBlocked || n.Tenant != "acme" || n.IP != ip.String() || n.ID == "" ||
				n.Details["failed_logins"] != "4" || n.Details["threshold"] != "4" || n.Details["expires_at"] == "" ||
				!strings.Contains(n.Reason, "4 failed logins from "+ip.String()) {
				t.Errorf("notification %+v", n)
			}
			if got := f.audit.actions(); !slices.Equal(got, []string{"incident.block_ip", "incident.notify"}) {
				t.Errorf("audited %v", got)
			}
		})
	}
}

func TestFurtherFailuresFromABlockedIPDoNotBlockAgain(t *testing.T) {
	f := newFixture(t, strict)
	f.fail(t, "acme", "victim-", attacker, t0, 4)
	// Let the first block land before more failures come in.
	n := <-f.notes.signal
	if n.Kind != KindIPBlocked {
		t.Fatalf("first notification %+v", n)
	}
	f.fail(t, "acme", "more-", attacker, t0.Add(time.Minute), 5)
	f.drain(t)
	if got := len(f.notes.all()); got != 1 {
		t.Errorf("%d notifications, want 1", got)
	}
	// Once the block expires, the next failure over the threshold blocks again.
	f2 := newFixture(t, strict)
	f2.fail(t, "acme", "victim-", attacker, t0, 4)
	<-f2.notes.signal
	f2.clock.Advance(11 * time.Minute)
	f2.fail(t, "acme", "again-", attacker, t0.Add(2*time.Minute), 1)
	f2.drain(t)
	if !f2.denied("acme", attacker).Found() {
		t.Error("not blocked again after the first block expired")
	}
	if got := len(f2.notes.all()); got != 2 {
		t.Errorf("%d notifications, want 2", got)
	}
}

func TestUserFailuresReachingTheThresholdNotifyWithoutSuspending(t *testing.T) {
	f := newFixture(t, Settings{FailedLoginsThreshold: 3, SuspiciousIPThreshold: 10})
	f.fail(t, "acme", "alice", bystander, t0, 5) // 3 is the threshold: only the crossing notifies
	f.drain(t)
	notes := f.notes.all()
	if len(notes) != 1 {
		t.Fatalf("notifications %+v, want one brute_force", notes)
	}
	n := notes[0]
	if n.Kind != KindBruteForce || n.Subject != "alice" || n.IP != bystander.String() || n.Details["failed_logins"] != "3" ||
		n.Details["event_id"] == "" || n.Details["window"] != "15m0s" {
		t.Errorf("notification %+v", n)
	}
	if s := f.suspension(t, "acme", "alice"); s.Suspended {
		t.Errorf("brute force suspended the user: %+v", s)
	}
	if f.denied("acme", bystander).Found() {
		t.Error("one user's failures blocked the IP below the IP threshold")
	}
}

func TestReportOnlyTenantsAreToldWhatWouldBeBlocked(t *testing.T) {
	ro := strict
	ro.ReportOnly = true
	f := newFixture(t, ro)
	f.fail(t, "acme", "victim-", attacker, t0, 6)
	f.drain(t)
	if m := f.denied("acme", attacker); m.Found() {
		t.Fatalf("report-only tenant blocked an IP: %+v", m)
	}
	notes := f.notes.all()
	if len(notes) != 1 || notes[0].Kind != KindSecurityAlert || notes[0].Details["would"] != "block_ip" ||
		notes[0].Details["enforced"] != "false" {
		t.Errorf("notifications %+v, want one security_alert", notes)
	}
	if got := f.audit.actions(); !slices.Equal(got, []string{"incident.notify"}) {
		t.Errorf("audited %v", got)
	}
}

func TestZeroThresholdsDisableReportActions(t *testing.T) {
	f := newFixture(t, Settings{})
	f.fail(t, "acme", "victim-", attacker, t0, 30)
	f.fail(t, "acme", "bob", attacker, t0, 30)
	f.drain(t)
	if n := f.notes.all(); len(n) != 0 || f.denied("acme", attacker).Found() {
		t.Errorf("disabled thresholds acted: %+v", n)
	}
}

func TestPrivilegeEscalationSuspendsAndNotifiesOnce(t *testing.T) {
	f := newFixture(t, strict)
	h := decider(f.resp, staticDecider{escalation("mallory", true)})
	d, err := h.Decide(context.Background(), request("acme", "mallory", attacker))
	if err != nil || d.Kind != decision.KindDeny {
		t.Fatalf("decision %+v %v", d, err)
	}
	f.drain(t)
	s := f.suspension(t, "acme", "mallory")
	if !s.Suspended || s.By != Actor || !s.At.Equal(t0) || s.Reason != "incident.privilege_escalation (admin.users.delete)" {
		t.Errorf("suspension %+v", s)
	}
	notes := f.notes.all()
	if len(notes) != 1 {
		t.Fatalf("notifications %+v, want one user_suspended", notes)
	}
	n := notes[0]
	if n.Kind != KindUserSuspended || n.Subject != "mallory" || n.DecisionID != "dec-1" || n.Reason != "incident.privilege_escalation" ||
		n.Details["action"] != "admin.users.delete" || n.Details["environment"] != "production" {
		t.Errorf("notification %+v", n)
	}
	if got := f.audit.actions(); !slices.Equal(got, []string{"incident.suspend_user", "incident.notify"}) {
		t.Errorf("audited %v", got)
	}
}

func TestRepeatedEscalationsAreFolded(t *testing.T) {
	f := newFixture(t, strict)
	h := decider(f.resp, staticDecider{escalation("mallory", true)})
	for range 5 {
		if _, err := h.Decide(context.Background(), request("acme", "mallory", attacker)); err != nil {
			t.Fatal(err)
		}
	}
	// Once suspended, the enricher says so and no suspension is asked for;
	// the alert about the attempt is folded within the window.
	req := request("acme", "mallory", attacker)
	req.Signals.Profile.Suspended = true
	if _, err := h.Decide(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	var kinds []string
	for _, n := range f.notes.all() {
		kinds = append(kinds, string(n.Kind))
	}
	slices.Sort(kinds)
	if want := []string{"security_alert", "user_suspended"}; !slices.Equal(kinds, want) {
		t.Fatalf("notifications %v, want %v", kinds, want)
	}
	if st := f.resp.Stats(); st.Suppressed != 4 || st.Done != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestReportOnlyDecisionsAreNotActedOn(t *testing.T) {
	f := newFixture(t, strict)
	d := escalation("mallory", true)
	d.Enforced, d.Kind = false, decision.KindAllow
	d.Obligations = append(d.Obligations, decision.Obligation{Kind: decision.ObligationBlockIP,
		Params: map[string]string{"ip": attacker.String(), "ttl": "60s"}})
	h := decider(f.resp, staticDecider{d})
	if _, err := h.Decide(context.Background(), request("acme", "mallory", attacker)); err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	if s := f.suspension(t, "acme", "mallory"); s.Suspended {
		t.Error("report-only decision suspended the user")
	}
	if f.denied("acme", attacker).Found() {
		t.Error("report-only decision blocked the IP")
	}
	// notify_security is not enforcing: the alert still goes out, marked.
	notes := f.notes.all()
	if len(notes) != 1 || notes[0].Kind != KindSecurityAlert || notes[0].Details["enforced"] != "false" {
		t.Errorf("notifications %+v", notes)
	}
}

func TestBlockIPObligation(t *testing.T) {
	f := newFixture(t, strict)
	d := decision.Decision{Kind: decision.KindAllow, ID: "dec-9", Enforced: true, WouldDecide: decision.KindAllow,
		Obligations: []decision.Obligation{
			{Kind: decision.ObligationBlockIP, Params: map[string]string{"ip": attacker.String(), "ttl": "90s", "reason": "10 failed logins"}},
			{Kind: decision.ObligationBlockIP, Params: map[string]string{"ip": "::ffff:198.51.100.9", "ttl": "0s"}},
			{Kind: decision.ObligationBlockIP, Params: map[string]string{"ip": "not-an-ip"}},
		}}
	h := decider(f.resp, staticDecider{d})
	if _, err := h.Decide(context.Background(), request("acme", "checker", bystander)); err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	if m := f.denied("acme", attacker); !m.ExpiresAt.Equal(t0.Add(90 * time.Second)) {
		t.Errorf("obligation ttl: %+v", m)
	}
	mapped := netip.MustParseAddr("198.51.100.9")
	if m := f.denied("acme", mapped); !m.Found() || m.Prefix.Bits() != 32 || !m.ExpiresAt.Equal(t0.Add(strict.AutoBlockTTL)) {
		t.Errorf("ttl 0s takes the tenant's: %+v", m)
	}
	if f.denied("acme", bystander).Found() {
		t.Error("the requester was blocked instead of the obligation's ip")
	}
	if got := len(f.notes.all()); got != 2 {
		t.Errorf("%d notifications, want 2", got)
	}
}

// blockingSuspender waits for release before each suspension.
type blockingSuspender struct {
	entered chan string
	release chan struct{}
	mu      sync.Mutex
	users   []string
}

func (b *blockingSuspender) SetSuspension(_ context.Context, _, user string, _ store.Suspension) error {
	b.entered <- user
	<-b.release
	b.mu.Lock()
	b.users = append(b.users, user)
	b.mu.Unlock()
	return nil
}

func TestDecisionsDoNotWaitForActionsAndAFullQueueRunsInline(t *testing.T) {
	bs := &blockingSuspender{entered: make(chan string, 8), release: make(chan struct{})}
	f := newFixture(t, strict, func(o *Options) {
		o.Suspender, o.Workers, o.QueueSize, o.EnqueueWait = bs, 1, 1, time.Millisecond
	})
	decide := func(user string) {
		h := decider(f.resp, staticDecider{escalation(user, true)})
		if _, err := h.Decide(context.Background(), request("acme", user, attacker)); err != nil {
			t.Error(err)
		}
	}
	// The worker takes the first job and blocks in the store; the decision
	// has returned all the same.
	decide("u1")
	if got := <-bs.entered; got != "u1" {
		t.Fatalf("first suspension for %s", got)
	}
	// The second waits in the queue; the decision returns at once.
	decide("u2")
	// The third finds the queue full and runs in the caller.
	inline := make(chan struct{})
	go func() {
		decide("u3")
		close(inline)
	}()
	if got := <-bs.entered; got != "u3" {
		t.Fatalf("inline suspension for %s, want u3", got)
	}
	close(bs.release)
	<-inline
	f.drain(t)
	st := f.resp.Stats()
	if st.Inline != 1 || st.Queued != 2 || st.Done != 3 {
		t.Errorf("stats %+v", st)
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if len(bs.users) != 3 {
		t.Errorf("suspended %v, want all three", bs.users)
	}
}

// failingSuspender always fails.
type failingSuspender struct{}

func (failingSuspender) SetSuspension(context.Context, string, string, store.Suspension) error {
	return errors.New("store down")
}

func TestFailedSuspensionIsReportedAndRetriedByTheNextDecision(t *testing.T) {
	f := newFixture(t, strict, func(o *Options) { o.Suspender = failingSuspender{}; o.Workers = 1 })
	h := decider(f.resp, staticDecider{escalation("mallory", true)})
	for range 2 {
		if _, err := h.Decide(context.Background(), request("acme", "mallory", attacker)); err != nil {
			t.Fatal(err)
		}
		<-f.notes.signal // the first attempt has failed before the second decision
	}
	f.drain(t)
	notes := f.notes.all()
	if len(notes) != 2 || !strings.Contains(notes[0].Details["error"], "store down") {
		t.Errorf("notifications %+v", notes)
	}
	if st := f.resp.Stats(); st.Failed != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestReportActionsAreInForceWhenReportReturns(t *testing.T) {
	f := newFixture(t, strict)
	for i := range 20 {
		ip := netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})
		f.fail(t, "acme", "v"+strconv.Itoa(i)+"-", ip, t0, 4)
		if !f.denied("acme", ip).Found() {
			t.Fatalf("%s not blocked when its threshold-crossing report returned", ip)
		}
	}
	if st := f.resp.Stats(); st.Done != 20 || st.Queued != 0 {
		t.Errorf("stats %+v: report actions must run in the caller", st)
	}
	f.drain(t)
	if !f.notes.closed {
		t.Error("notifier not closed")
	}
}

func TestCloseDrainsAndLaterActionsRunInline(t *testing.T) {
	f := newFixture(t, strict)
	h := decider(f.resp, staticDecider{escalation("mallory", true)})
	if _, err := h.Decide(context.Background(), request("acme", "mallory", attacker)); err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	if !f.notes.closed {
		t.Error("notifier not closed")
	}
	if st := f.resp.Stats(); st.Done != 1 {
		t.Errorf("stats %+v after Close", st)
	}
	late := decider(f.resp, staticDecider{escalation("late", true)})
	if _, err := late.Decide(context.Background(), request("acme", "late", attacker)); err != nil {
		t.Fatal(err)
	}
	if !f.suspension(t, "acme", "late").Suspended {
		t.Error("an action after Close was lost")
	}
	if st := f.resp.Stats(); st.Inline != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestNewRequiresSuspenderAndBlocker(t *testing.T) {
	_, err := New(Options{})
	if err == nil || !strings.Contains(err.Error(), "Suspender") || !strings.Contains(err.Error(), "Blocker") {
		t.Errorf("got %v", err)
	}
}

func TestPolicySettings(t *testing.T) {
	doc := map[string]any{
		"acme": map[string]any{"environments": map[string]any{
			"production": map[string]any{"incident": map[string]any{
				"failed_logins_threshold": int64(7), "failed_logins_window_ns": int64(time.Hour),
				"suspicious_ip_threshold": int64(20), "auto_block_ttl_ns": int64(2 * time.Hour),
			}},
			"staging": map[string]any{"incident": map[string]any{"auto_block_ttl_ns": float64(1000 * 24 * time.Hour)}},
			"dev":     map[string]any{"report_only": true},
		}},
	}
	f := PolicySettings(doc)
	if got := f("acme", "production"); got != (Settings{7, time.Hour, 20, 2 * time.Hour, false}) {
		t.Errorf("production %+v", got)
	}
	if got := f("acme", "staging"); got.AutoBlockTTL != MaxBlockTTL || got.FailedLoginsThreshold != 5 {
		t.Errorf("staging %+v", got)
	}
	def := DefaultSettings("", "")
	if got := f("acme", "dev"); got.ReportOnly != true || got.SuspiciousIPThreshold != def.SuspiciousIPThreshold {
		t.Errorf("dev %+v", got)
	}
	if got := f("other", "production"); got != def || def != (Settings{5, 15 * time.Minute, 10, time.Hour, false}) {
		t.Errorf("unknown tenant %+v", got)
	}
}

func TestPolicyIndexWithReadsOnlyTheChangedTenants(t *testing.T) {
	threshold := func(n int64) map[string]any {
		return map[string]any{"incident": map[string]any{"failed_logins_threshold": n}}
	}
	before := map[string]any{
		"acme":    map[string]any{"environments": map[string]any{"production": threshold(1), "staging": threshold(2)}},
		"globex":  map[string]any{"environments": map[string]any{"production": threshold(3)}},
		"initech": map[string]any{"environments": map[string]any{"production": threshold(4)}},
	}
	after := map[string]any{
		"acme":   map[string]any{"environments": map[string]any{"production": threshold(6)}},
		"globex": map[string]any{"environments": map[string]any{"production": threshold(7)}},
		"hooli":  map[string]any{"environments": map[string]any{"dev": map[string]any{"report_only": true}}},
	}
	old := NewPolicyIndex(before)
	// globex is not named: it keeps what the index read before.
	got := old.With(after, map[string]bool{"acme": true, "initech": true, "hooli": true})
	want := NewPolicyIndex(after)
	for _, tenant := range []string{"acme", "initech", "hooli", "other"} {
		for _, env := range []string{"production", "staging", "dev"} {
			if w, g := want.Settings(tenant, env), got.Settings(tenant, env); w != g {
				t.Errorf("%s/%s: With %+v, a new index %+v", tenant, env, g, w)
			}
		}
	}
	if n := got.Settings("globex", "production").FailedLoginsThreshold; n != 3 {
		t.Errorf("globex, not named, has threshold %d, want the 3 read before", n)
	}
	if n := old.Settings("acme", "staging").FailedLoginsThreshold; n != 2 {
		t.Errorf("With changed the index it started from: acme/staging threshold %d", n)
	}
}
