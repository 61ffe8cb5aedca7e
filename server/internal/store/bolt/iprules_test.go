package bolt

import (
	"path/filepath"
	"testing"

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
