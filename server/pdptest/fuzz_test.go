package pdptest

import (
	"context"
	"errors"
	"path"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/ipset"
	"github.com/pdp-dev/pdp/server/internal/pdpsvc"
	"github.com/pdp-dev/pdp/server/internal/signals"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

// fuzzNow is the clock of requests that carry no time.
var fuzzNow = time.Date(2026, time.March, 4, 10, 0, 0, 0, time.UTC)

// FuzzCheckRequestJSON feeds CheckRequests in protojson form, seeded with
// the request of every case of the corpus, through the server's pipeline
// in process: pdpsvc.ToRequest, the signals enricher (IP lists of the
// corpus tenants, a store holding every report of the corpus) and the
// engine with the corpus tenants and modules. Nothing may panic; a refused
// request is an InvalidArgument fault naming its fields; an accepted one
// always gets a decision, allow, deny or challenge, whose response is
// consistent.
func FuzzCheckRequestJSON(f *testing.F) {
	files, err := loadCorpus(casesDir, fixturesDir)
	if err != nil {
		f.Fatalf("loading the case corpus:\n%v", err)
	}
	for _, cf := range files {
		for _, c := range cf.cases {
			f.Add(c.request)
		}
	}
	p := newCorpusPipeline(f, files)
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &pdpv1.CheckRequest{}
		if protojson.Unmarshal(data, in) != nil {
			return
		}
		req, err := pdpsvc.ToRequest(in, fuzzNow)
		if err != nil {
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Code != fault.InvalidArgument || len(fe.Fields) == 0 {
				t.Fatalf("refusing %s: %v is not InvalidArgument with field violations", data, err)
			}
			return
		}
		d, err := p.decide(req)
		if err != nil {
			t.Fatalf("could not decide %s: %v", data, err)
		}
		checkDecision(t, data, d)
	})
}

// checkDecision holds a decision to the invariants of docs/api.md, section Check.
func checkDecision(t *testing.T, data []byte, d *decision.Decision) {
	t.Helper()
	switch d.Kind {
	case decision.KindAllow, decision.KindDeny, decision.KindChallenge:
	default:
		t.Fatalf("decision %v for %s", d.Kind, data)
	}
	resp := pdpsvc.FromDecision(d)
	switch {
	case resp.GetAllowed() != (resp.GetDecision() == pdpv1.Decision_DECISION_ALLOW):
		t.Fatalf("allowed %v with %s for %s", resp.GetAllowed(), resp.GetDecision(), data)
	case resp.GetWouldDecide() == pdpv1.Decision_DECISION_UNSPECIFIED:
		t.Fatalf("no would_decide for %s", data)
	case resp.GetEnforced() && resp.GetWouldDecide() != resp.GetDecision():
		t.Fatalf("enforced %s but would_decide %s for %s", resp.GetDecision(), resp.GetWouldDecide(), data)
	case resp.GetDecision() == pdpv1.Decision_DECISION_CHALLENGE && len(resp.GetStepUps()) == 0:
		t.Fatalf("challenge without step-ups for %s", data)
	case resp.GetDecision() != pdpv1.Decision_DECISION_ALLOW && len(resp.GetReasons()) == 0:
		t.Fatalf("%s without a reason for %s", resp.GetDecision(), data)
	case resp.GetRisk().GetScore() < 0 || resp.GetRisk().GetScore() > 1:
		t.Fatalf("risk score %v for %s", resp.GetRisk().GetScore(), data)
	case resp.GetDecisionId() == "" || resp.GetPolicyRevision() == "":
		t.Fatalf("decision id %q, revision %q for %s", resp.GetDecisionId(), resp.GetPolicyRevision(), data)
	}
	for _, r := range resp.GetReasons() {
		if r.GetCode() == "" || r.GetRule() == "" || r.GetMessage() == "" {
			t.Fatalf("incomplete reason %v for %s", r, data)
		}
	}
}

// corpusPipeline is the server's decision path without the transport.
type corpusPipeline struct {
	enricher *signals.Enricher
	engine   *engine.Engine
}

// newCorpusPipeline loads the tenants and modules of every case file (the
// first file, in name order, that defines a tenant wins) and records every
// report of the corpus.
func newCorpusPipeline(tb testing.TB, files []*corpusFile) *corpusPipeline {
	tb.Helper()
	ctx := context.Background()
	policies := map[string]*pdpv1.TenantPolicy{}
	modules := map[string]string{}
	for _, cf := range files {
		for name, body := range cf.tenants {
			if _, ok := policies[name]; ok {
				continue
			}
			p, err := tenantdata.Parse(name+".yaml", body)
			if err != nil {
				tb.Fatalf("%s: tenant %s: %v", cf.path, name, err)
			}
			policies[name] = p
		}
		for name, src := range cf.policies {
			modules[path.Join("corpus", path.Base(cf.path), name)] = src
		}
	}
	tenants := tenantdata.Data(policies)

	eng := engine.New(engine.Options{Now: func() time.Time { return fuzzNow }})
	if _, err := eng.Load(ctx, engine.Bundle{Modules: modules, Tenants: tenants}); err != nil {
		tb.Fatalf("loading the corpus into the engine: %v", err)
	}
	ips := ipset.NewSet(nil)
	if err := ips.SetTenantPolicies(tenants); err != nil {
		tb.Fatalf("IP lists of the corpus tenants: %v", err)
	}
	st := memory.New(memory.Options{SweepInterval: -1})
	tb.Cleanup(func() { _ = st.Close() })
	settings := signals.PolicySettings(tenants)
	rec := signals.NewRecorder(signals.RecorderOptions{State: st, Settings: settings, Now: func() time.Time { return fuzzNow }})
	for _, cf := range files {
		for _, c := range cf.cases {
			for _, r := range c.reports {
				// The corpus's reports are history recorded up to its
				// newest one: validate each against a clock at or past it.
				now := fuzzNow
				if at := r.GetTime().AsTime(); at.After(now) {
					now = at
				}
				ev, err := pdpsvc.ToEvent(r, now)
				if err != nil {
					tb.Fatalf("%s: a report is invalid: %v", c.label(), err)
				}
				if _, err := rec.Record(ctx, ev); err != nil {
					tb.Fatalf("%s: recording a report: %v", c.label(), err)
				}
			}
		}
	}
	return &corpusPipeline{
		enricher: signals.NewEnricher(signals.Options{State: st, IPs: ips, Settings: settings, Now: func() time.Time { return fuzzNow }}),
		engine:   eng,
	}
}

// decide enriches and decides one validated request, as the server does.
func (p *corpusPipeline) decide(req *decision.Request) (*decision.Decision, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.enricher.Enrich(ctx, req); err != nil {
		return nil, err
	}
	return p.engine.Decide(ctx, req)
}
