package bolt

import (
	"path/filepath"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/ssf"
	"github.com/pdp-dev/pdp/server/internal/ssf/ssftest"
)

func TestSSFConformance(t *testing.T) {
	t.Parallel()
	ssftest.Run(t, func(t *testing.T) ssf.Store {
		s, err := Open(filepath.Join(t.TempDir(), "pdp.db"), Options{SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s.SSF()
	})
}
