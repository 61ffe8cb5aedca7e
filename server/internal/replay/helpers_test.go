package replay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decide"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/decisionlog"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/ipset"
	"github.com/pdp-dev/pdp/server/internal/reload"
	"github.com/pdp-dev/pdp/server/internal/replay"
	"github.com/pdp-dev/pdp/server/internal/signals"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
)

// demoSet copies the demo policies and tenant files into a fresh
// directory, so that a test may change them.
func demoSet(t testing.TB) (policyDir, tenantsDir string) {
	t.Helper()
	root := t.TempDir()
	policyDir, tenantsDir = filepath.Join(root, "policies"), filepath.Join(root, "tenants")
	if err := os.CopyFS(policyDir, os.DirFS("../../demo/policies")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(tenantsDir, os.DirFS("../../demo/tenants")); err != nil {
		t.Fatal(err)
	}
	return policyDir, tenantsDir
}

// edit replaces old by new in a file, once; the file must hold old.
func edit(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not hold %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// server is the decision path of pdp serve for one policy set: the
// engine, signal enrichment with the tenant files' IP lists and a store,
// the decision service and, when logging, the decision log.
type server struct {
	svc *decide.Service
	log *decisionlog.Logger
}

func newServer(t *testing.T, policyDir, tenantsDir string, log *decisionlog.Logger) *server {
	t.Helper()
	return newShadowedServer(t, policyDir, tenantsDir, log, nil)
}

// newShadowedServer is newServer with a shadow evaluation.
func newShadowedServer(t *testing.T, policyDir, tenantsDir string, log *decisionlog.Logger, shadow *replay.Shadow) *server {
	t.Helper()
	opts, _ := decisionPath(t, policyDir, tenantsDir, nil)
	if log != nil {
		opts.DecisionLog = log
	}
	if shadow != nil {
		opts.Shadow = shadow
	}
	svc, err := decide.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &server{svc: svc, log: log}
}

// decisionPath loads the policy set of policyDir and tenantsDir into a new
// engine as pdp serve does, and returns the decision service's options
// for it: the engine, and signal enrichment and recording with the tenant
// files' IP lists and a new store. settings, when not nil, makes the
// signal settings of the tenant files (as the app wires them); else they
// are the defaults. The enricher is returned for a shadow evaluation.
func decisionPath(t *testing.T, policyDir, tenantsDir string, settings func(tenants map[string]any) signals.SettingsFunc) (decide.Options, *signals.Enricher) {
	t.Helper()
	eng := engine.New(engine.Options{})
	var set reload.Set
	if _, err := reload.New(eng, reload.Options{PolicyDirs: []string{policyDir}, TenantsDir: tenantsDir,
		OnLoad: func(s reload.Set) { set = s }}).Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	ips, err := ipset.FromTenantPolicies(set.Tenants)
	if err != nil {
		t.Fatal(err)
	}
	st := memory.New(memory.Options{})
	t.Cleanup(func() { _ = st.Close() })
	var of signals.SettingsFunc
	if settings != nil {
		of = settings(set.Tenants)
	}
	e := signals.NewEnricher(signals.Options{IPs: ips, State: st, Settings: of})
	return decide.Options{
		Evaluator: eng,
		Enricher:  e,
		Applier:   signals.NewRecorder(signals.RecorderOptions{State: st, Settings: of}),
	}, e
}

// decideAll decides a copy of every request.
func (s *server) decideAll(t *testing.T, reqs []decision.Request) []*decision.Decision {
	t.Helper()
	out := make([]*decision.Decision, len(reqs))
	for i := range reqs {
		req := reqs[i] // the service fills the copy's signals
		d, err := s.svc.Check(context.Background(), &req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		out[i] = d
	}
	return out
}

// record decides every request with the set and writes the decision log
// to a file, with inputs and masks; it returns the file and the decisions.
func record(t *testing.T, policyDir, tenantsDir string, reqs []decision.Request, masks ...string) (string, []*decision.Decision) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "decisions.log")
	w, err := decisionlog.Open(path, decisionlog.Rotation{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := decisionlog.ParseMasks(masks)
	if err != nil {
		t.Fatal(err)
	}
	log := decisionlog.New(decisionlog.Options{Writer: w, Mode: decisionlog.ModeBlock, Masks: m, Inputs: true})
	ds := newServer(t, policyDir, tenantsDir, log).decideAll(t, reqs)
	if err := log.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return path, ds
}

// replayed replays the log with the set of the directories.
func replayed(t *testing.T, log, policyDir, tenantsDir string, f replay.Filter) *replay.Report {
	t.Helper()
	c, err := replay.Load(context.Background(), []string{policyDir}, tenantsDir)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := replay.Files(context.Background(), c, f, []string{log})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// base is the time of the first generated request.
var base = time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)

// generate returns n requests over every tenant, environment, role,
// provider, address range, action and idle time of the demo set,
// deterministically.
func generate(n int) []decision.Request {
	r := rand.New(rand.NewPCG(17, 4))
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	tenants := []struct{ tenant, env, domain string }{
		{"acme", "production", "acme.com"}, {"acme", "production", "acme.com"}, {"acme", "production", "acme-partner.io"},
		{"acme", "staging", "acme.com"}, {"acme", "development", "acme.com"}, {"acme", "sandbox", "acme.com"},
		{"globex", "production", "globex.example"}, {"initech", "production", "initech.example"},
	}
	out := make([]decision.Request, n)
	for i := range out {
		tn := tenants[r.IntN(len(tenants))]
		at := base.Add(time.Duration(i) * 37 * time.Second)
		var ip netip.Addr
		switch r.IntN(4) {
		case 0:
			ip = netip.AddrFrom4([4]byte{203, 0, 113, byte(r.IntN(256))})
		case 1:
			ip = netip.AddrFrom4([4]byte{198, 51, 100, byte(r.IntN(256))})
		case 2:
			ip = netip.AddrFrom4([4]byte{192, 0, 2, byte(r.IntN(256))})
		default:
			ip = netip.MustParseAddr(fmt.Sprintf("2001:db8:ac3e::%x", r.IntN(4096)))
		}
		user := fmt.Sprintf("u-%d", r.IntN(200))
		methods := []string{"pwd"}
		if r.IntN(3) > 0 {
			methods = append(methods, pick("otp", "webauthn"))
		}
		out[i] = decision.Request{
			Tenant:      tn.tenant,
			Environment: tn.env,
			Subject: decision.Subject{
				ID: user, Email: user + "@" + tn.domain, Roles: []string{pick("admin", "engineer", "analyst", "viewer", "owner", "member")},
				MFAEnrolled: r.IntN(5) > 0, CreatedAt: base.AddDate(-1, 0, 0), Tenant: tn.tenant,
			},
			Authentication: decision.Authentication{
				Provider: pick("google", "microsoft", "saml:okta", "password", "github"), Methods: methods,
				AuthenticatedAt: at.Add(-time.Duration(r.IntN(600)) * time.Minute),
				MFAVerifiedAt:   at.Add(-time.Duration(r.IntN(900)) * time.Minute),
			},
			Network: decision.Network{IP: ip, Country: pick("DE", "PT", "US", "FR")},
			Device:  decision.Device{ID: fmt.Sprintf("d-%d", r.IntN(50)), Platform: "macos", Managed: r.IntN(3) > 0, Compliant: r.IntN(4) > 0},
			Action:  decision.Action{Name: pick("login", "api.read", "api.write", "export.reports", "admin.users.delete", "cache.flush")},
			Session: decision.Session{
				ID: fmt.Sprintf("s-%d", i), StartedAt: at.Add(-12 * time.Hour),
				LastActivityAt: at.Add(-time.Duration(r.IntN(10*60)) * time.Minute),
			},
			Time: at,
		}
	}
	return out
}

// changedIDs are the ids of the recorded decisions that the live
// decisions of another set decide differently (outcome, reasons or
// step-ups): what a replay must find.
func changedIDs(recorded, live []*decision.Decision) []string {
	var ids []string
	for i, r := range recorded {
		reasons := make([]string, len(r.Reasons))
		for j, x := range r.Reasons {
			reasons[j] = x.Code
		}
		steps := make([]string, len(r.StepUps))
		for j, x := range r.StepUps {
			steps[j] = string(x.Kind)
		}
		if d := replay.Compare(replay.OutcomeOf(r), reasons, steps, live[i]); d.Changed() {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

func diffIDs(rep *replay.Report) []string {
	ids := make([]string, 0, len(rep.Diffs))
	for _, d := range rep.Diffs {
		ids = append(ids, d.DecisionID)
	}
	return ids
}

// eachLine decodes every line of a decision log file.
func eachLine(t *testing.T, path string, fn func(map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		fn(m)
	}
}
