package replay_test

import (
	"context"
	"io"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/decisionlog"
	"github.com/pdp-dev/pdp/server/internal/replay"
	"github.com/pdp-dev/pdp/server/internal/telemetry"
)

// candidateDirs is the demo set with a deny CIDR added and a timeout
// raised: a candidate that changes some decisions.
func candidateDirs(t *testing.T) (string, string) {
	t.Helper()
	policyDir, tenantsDir := demoSet(t)
	acme := filepath.Join(tenantsDir, "acme.yaml")
	edit(t, acme, "ip_denylist:\n      - 203.0.113.66/32", "ip_denylist:\n      - 203.0.113.66/32\n      - 192.0.2.0/25")
	edit(t, acme, "inactivity_timeout: 8h", "inactivity_timeout: 10h")
	return policyDir, tenantsDir
}

// shadowCounts reads pdp_shadow_decisions_total from /metrics: the
// count of each "from -> to", over every tenant.
func shadowCounts(t *testing.T, m *telemetry.Metrics) map[string]int64 {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	out := map[string]int64{}
	re := regexp.MustCompile(`(?m)^pdp_shadow_decisions_total\{from="([^"]*)",tenant="[^"]*",to="([^"]*)"\} (\d+)$`)
	for _, m := range re.FindAllSubmatch(body, -1) {
		n, _ := strconv.ParseInt(string(m[3]), 10, 64)
		out[string(m[1])+" -> "+string(m[2])] += n
	}
	return out
}

// TestShadowUnderLoadChangesNoAnswerAndCountsWhatAReplayFinds decides
// the same requests concurrently with and without a shadow candidate: the
// answers are the same, and what the shadow counts (its impact, its
// metric, its log lines) is what a replay of the decisions' log lines
// with the same candidate reports.
func TestShadowUnderLoadChangesNoAnswerAndCountsWhatAReplayFinds(t *testing.T) {
	t.Parallel()
	reqs := generate(800)
	livePolicies, liveTenants := demoSet(t)
	candPolicies, candTenants := candidateDirs(t)
	cand, err := replay.Load(context.Background(), []string{candPolicies}, candTenants)
	if err != nil {
		t.Fatal(err)
	}

	metrics, err := telemetry.NewMetrics(telemetry.MetricsOptions{WithoutRuntimeMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "decisions.log")
	w, err := decisionlog.Open(path, decisionlog.Rotation{})
	if err != nil {
		t.Fatal(err)
	}
	log := decisionlog.New(decisionlog.Options{Writer: w, Mode: decisionlog.ModeBlock, Inputs: true, Buffer: 1 << 14})
	shadow, err := replay.NewShadow(replay.ShadowOptions{Sample: 1, Queue: len(reqs), Workers: 2, Log: log, Meter: metrics.MeterProvider()})
	if err != nil {
		t.Fatal(err)
	}
	shadow.SetGlobal(cand, "--shadow-policy-dir")
	shadowed := newShadowedServer(t, livePolicies, liveTenants, log, shadow)
	plain := newServer(t, livePolicies, liveTenants, nil)

	// Both servers decide every request at once from several goroutines.
	with, without := make([]*decision.Decision, len(reqs)), make([]*decision.Decision, len(reqs))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < len(reqs); i += 8 {
				a, b := reqs[i], reqs[i]
				var err error
				if with[i], err = shadowed.svc.Check(context.Background(), &a); err != nil {
					t.Error(err)
				}
				if without[i], err = plain.svc.Check(context.Background(), &b); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for i := range reqs {
		if a, b := replay.OutcomeOf(with[i]), replay.OutcomeOf(without[i]); a != b || !cmp.Equal(with[i].Reasons, without[i].Reasons) {
			t.Fatalf("request %d: answered %v %v with a shadow, %v %v without", i, a, with[i].Reasons, b, without[i].Reasons)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := shadow.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	shadow.Close()
	if err := log.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if shadow.Dropped() != 0 {
		t.Fatalf("%d dropped with a queue as long as the traffic", shadow.Dropped())
	}

	impact, _ := shadow.GlobalImpact()
	rep, err := replay.Files(context.Background(), cand, replay.Filter{}, []string{path})
	if err != nil {
		t.Fatal(err)
	}
	if impact.Evaluated != int64(len(reqs)) || rep.Decisions != len(reqs) {
		t.Fatalf("shadow evaluated %d, replay %d, want %d each", impact.Evaluated, rep.Decisions, len(reqs))
	}
	if rep.Changed == 0 {
		t.Fatal("the candidate changes nothing: the test proves nothing")
	}
	replayed := map[replay.Transition]int64{}
	for _, d := range rep.Diffs {
		replayed[replay.Transition{From: d.From.String(), To: d.To.String()}]++
	}
	if impact.Changed != int64(rep.Changed) || !cmp.Equal(impact.Transitions, replayed) {
		t.Errorf("shadow: %d changed %v; replay of the same traffic: %d changed %v", impact.Changed, impact.Transitions, rep.Changed, replayed)
	}

	// The metric counts every shadow decision by outcome.
	counts := shadowCounts(t, metrics)
	var total int64
	for k, n := range counts {
		total += n
		if from, to, _ := strings.Cut(k, " -> "); from != to && n != replayed[replay.Transition{From: from, To: to}] {
			t.Errorf("pdp_shadow_decisions_total %s = %d, replay %d", k, n, replayed[replay.Transition{From: from, To: to}])
		}
	}
	if total != int64(len(reqs)) {
		t.Errorf("pdp_shadow_decisions_total sums to %d, want %d", total, len(reqs))
	}

	// The log holds one shadow line per changed decision, naming it.
	lines := 0
	changed := map[string]bool{}
	for _, d := range rep.Diffs {
		changed[d.DecisionID] = true
	}
	eachLine(t, path, func(l map[string]any) {
		if of, ok := l["shadow_of"].(string); ok {
			lines++
			if !changed[of] || l["shadow"] == nil {
				t.Errorf("shadow line of %s (%v): not a changed decision, or without the candidate's result", of, l["shadow"])
			}
		}
	})
	if lines != rep.Changed {
		t.Errorf("%d shadow lines, want %d", lines, rep.Changed)
	}
}

func TestShadowSamplesAShareAndSkipsTenantsWithoutACandidate(t *testing.T) {
	t.Parallel()
	policyDir, tenantsDir := demoSet(t)
	cand, err := replay.Load(context.Background(), []string{policyDir}, tenantsDir)
	if err != nil {
		t.Fatal(err)
	}
	shadow, err := replay.NewShadow(replay.ShadowOptions{Sample: 0.25, Queue: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer shadow.Close()
	if _, err := shadow.PutTenant(context.Background(), "globex", "", func(context.Context) (*replay.Candidate, error) { return cand, nil }); err != nil {
		t.Fatal(err)
	}
	srv := newShadowedServer(t, policyDir, tenantsDir, nil, shadow)
	reqs := generate(800)
	srv.decideAll(t, reqs)
	if err := shadow.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	globex := 0
	for _, r := range reqs {
		if r.Tenant == "globex" {
			globex++
		}
	}
	impact, ok := shadow.TenantImpact("globex")
	if !ok || impact.Evaluated == 0 || impact.Evaluated >= int64(globex) {
		t.Errorf("evaluated %d of globex's %d decisions at a 25%% sample", impact.Evaluated, globex)
	}
	if impact.Changed != 0 {
		t.Errorf("the live set in shadow changed %d decisions", impact.Changed)
	}
	if _, ok := shadow.GlobalImpact(); ok {
		t.Error("a global impact without a global candidate")
	}
	if got, ok := shadow.DeleteTenant("globex"); !ok || got.Evaluated != impact.Evaluated {
		t.Errorf("DeleteTenant = %v %v", got, ok)
	}
}
