package bolt

import (
	"context"
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/iprules/iprulestest"
)

func TestIPRulesConformance(t *testing.T) {
	iprulestest.Run(t, func(t *testing.T) iprules.Store {
		s, err := Open(filepath.Join(t.TempDir(), "pdp.db"), Options{SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s.IPRules()
	})
}

// An import cut short by a crash left its staging in the file; opening
// the file drops it, and none of it was ever live.
func TestAnImportCutShortByACrashIsDroppedAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pdp.db")
	s, err := Open(path, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.IPRules().Stage(context.Background(), "crashed", "acme", "deny", "import:feed", iprulestest.FeedRules(1000)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // the process dies before Publish or Discard
		t.Fatal(err)
	}
	s, err = Open(path, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketIPImports) != nil {
			t.Error("the staging of a crashed import is still in the file after open")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if all, err := s.IPRules().All(context.Background()); err != nil || len(all) != 0 {
		t.Fatalf("All = %d rules, %v; want none", len(all), err)
	}
	if added, dups, err := s.IPRules().Publish(context.Background(), "crashed"); err != nil || added+dups != 0 {
		t.Fatalf("Publish of the crashed import = %d added, %d duplicates, %v; want nothing", added, dups, err)
	}
}
