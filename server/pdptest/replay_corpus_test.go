package pdptest

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/replay"
)

// TestCaseCorpusReplaysWithoutChange runs every case of the corpus
// through a server that records its decisions' inputs, then replays the
// log with the same files: every decision replays, none changes.
func TestCaseCorpusReplaysWithoutChange(t *testing.T) {
	t.Parallel()
	files, err := loadCorpus(casesDir, fixturesDir)
	if err != nil {
		t.Fatalf("loading the case corpus:\n%v", err)
	}
	// The parallel subtests end before the cleanup of their parent.
	var total atomic.Int64
	t.Cleanup(func() {
		t.Logf("replayed %d decisions of the corpus", total.Load())
		if total.Load() == 0 {
			t.Error("no decision of the corpus was replayed")
		}
	})
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f.path), ".yaml"), func(t *testing.T) {
			t.Parallel()
			log := filepath.Join(t.TempDir(), "decisions.log")
			opts := []Option{WithConfig(func(c *config.Config) {
				c.DecisionLog, c.DecisionLogInputs, c.DecisionLogMode = log, true, "block"
			})}
			for name, body := range f.tenants {
				opts = append(opts, WithTenant(name+".yaml", string(body)))
			}
			for name, src := range f.policies {
				opts = append(opts, WithPolicy(name, src))
			}
			s := Start(t, opts...)
			for _, c := range f.cases {
				t.Run(c.name, func(t *testing.T) { runCase(t, s, c) })
			}
			s.Stop()

			cand, err := replay.Load(context.Background(), []string{s.PolicyDir}, s.TenantsDir)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := replay.Files(context.Background(), cand, replay.Filter{}, []string{log})
			if err != nil {
				t.Fatal(err)
			}
			total.Add(int64(rep.Decisions))
			if rep.Changed != 0 || rep.Failed != 0 || rep.WithoutInput != 0 {
				t.Errorf("replay of %d decisions: %d changed, %d failed, %d without input; changes %+v samples %+v",
					rep.Decisions, rep.Changed, rep.Failed, rep.WithoutInput, rep.Changes, rep.Samples)
			}
			if rep.CandidateRevision != "" && len(rep.RecordedRevisions) == 1 && rep.RecordedRevisions[rep.CandidateRevision] != rep.Decisions {
				t.Errorf("recorded revisions %v, candidate %s", rep.RecordedRevisions, rep.CandidateRevision)
			}
		})
	}
}
