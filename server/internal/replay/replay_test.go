package replay_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pdp-dev/pdp/server/internal/replay"
)

// recorded is a few thousand decisions of the demo set.
const recorded = 2000

func TestReplayWithTheRecordedSetChangesNothing(t *testing.T) {
	t.Parallel()
	policyDir, tenantsDir := demoSet(t)
	log, ds := record(t, policyDir, tenantsDir, generate(recorded))
	rep := replayed(t, log, policyDir, tenantsDir, replay.Filter{})
	if rep.Decisions != recorded || rep.Changed != 0 || rep.Failed != 0 || rep.WithoutInput != 0 {
		t.Fatalf("decisions %d changed %d failed %d without input %d, want %d 0 0 0; first changes %+v",
			rep.Decisions, rep.Changed, rep.Failed, rep.WithoutInput, recorded, rep.Diffs[:min(3, len(rep.Diffs))])
	}
	if rep.Approximate != 0 {
		t.Errorf("%d approximate without masks", rep.Approximate)
	}
	if want := map[string]int{ds[0].PolicyRevision: recorded}; !cmp.Equal(want, rep.RecordedRevisions) || rep.CandidateRevision != ds[0].PolicyRevision {
		t.Errorf("revisions recorded %v, candidate %s; want all and the candidate %s", rep.RecordedRevisions, rep.CandidateRevision, ds[0].PolicyRevision)
	}
	kinds := map[string]bool{}
	for _, d := range ds {
		kinds[replay.OutcomeOf(d).String()] = true
	}
	if len(kinds) < 4 {
		t.Errorf("the recorded decisions have only the outcomes %v: the test would miss changes", kinds)
	}
}

// TestReplayFindsExactlyTheChangedDecisions mutates the set and checks
// that the replay finds exactly the decisions the mutated set decides
// differently when it decides the same requests live, enrichment included.
func TestReplayFindsExactlyTheChangedDecisions(t *testing.T) {
	t.Parallel()
	reqs := generate(recorded)
	recPolicies, recTenants := demoSet(t)
	log, before := record(t, recPolicies, recTenants, reqs)
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, policyDir, tenantsDir string)
		// each checks one change of the mutation.
		each func(t *testing.T, d replay.Diff)
	}{{
		name: "a raised inactivity timeout",
		mutate: func(t *testing.T, _, tenantsDir string) {
			edit(t, filepath.Join(tenantsDir, "acme.yaml"), "inactivity_timeout: 8h", "inactivity_timeout: 10h")
		},
		each: func(t *testing.T, d replay.Diff) {
			if d.Tenant != "acme" || d.Environment != "staging" {
				t.Errorf("%s: %s/%s changed; only acme staging's timeout did", d.DecisionID, d.Tenant, d.Environment)
			}
		},
	}, {
		name: "a dropped provider",
		mutate: func(t *testing.T, _, tenantsDir string) {
			edit(t, filepath.Join(tenantsDir, "acme.yaml"), "allowed: [microsoft, google, \"saml:okta\"]", "allowed: [microsoft, \"saml:okta\"]")
		},
		each: func(t *testing.T, d replay.Diff) {
			if d.Tenant != "acme" || d.Environment != "production" || !slices.Contains(d.ReasonsAppeared, "authn.provider_not_allowed") {
				t.Errorf("%s: %s/%s %+v; want acme production with authn.provider_not_allowed appearing", d.DecisionID, d.Tenant, d.Environment, d)
			}
		},
	}, {
		name: "an added deny CIDR",
		mutate: func(t *testing.T, _, tenantsDir string) {
			edit(t, filepath.Join(tenantsDir, "acme.yaml"), "ip_denylist:\n      - 203.0.113.66/32", "ip_denylist:\n      - 203.0.113.66/32\n      - 192.0.2.0/25")
		},
		each: func(t *testing.T, d replay.Diff) {
			if d.Tenant != "acme" || d.Environment != "production" || !slices.Contains(d.ReasonsAppeared, "network.ip_denied") || d.To.Decision != "deny" {
				t.Errorf("%s: %s/%s %+v; want acme production denied with network.ip_denied", d.DecisionID, d.Tenant, d.Environment, d)
			}
		},
	}, {
		name: "a mutated author module",
		mutate: func(t *testing.T, policyDir, _ string) {
			edit(t, filepath.Join(policyDir, "custom.rego"),
				`export_action if data.pdp.action_matches("export.*", input.action.name)`,
				"export_action if data.pdp.action_matches(\"export.*\", input.action.name)\n\nexport_action if input.action.name == \"api.write\"")
		},
		each: func(t *testing.T, d replay.Diff) {
			if d.Action != "api.write" || !slices.Contains(d.ReasonsAppeared, "custom.export_requires_managed_device") {
				t.Errorf("%s: %s %+v; want api.write with custom.export_requires_managed_device appearing", d.DecisionID, d.Action, d)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			policyDir, tenantsDir := demoSet(t)
			tc.mutate(t, policyDir, tenantsDir)
			after := newServer(t, policyDir, tenantsDir, nil).decideAll(t, reqs)
			want := changedIDs(before, after)
			if len(want) == 0 {
				t.Fatal("the mutation changes no decision of the generated requests: the test proves nothing")
			}
			rep := replayed(t, log, policyDir, tenantsDir, replay.Filter{})
			if diff := cmp.Diff(want, diffIDs(rep)); diff != "" {
				t.Fatalf("%d changed decisions, want %d (-want +got):\n%s", rep.Changed, len(want), diff)
			}
			if rep.Changed != len(want) || rep.Decisions != recorded {
				t.Errorf("changed %d of %d, want %d of %d", rep.Changed, rep.Decisions, len(want), recorded)
			}
			for _, d := range rep.Diffs {
				tc.each(t, d)
			}
		})
	}
}
