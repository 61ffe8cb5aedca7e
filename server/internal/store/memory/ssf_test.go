package memory

import (
	"testing"

	"github.com/pdp-dev/pdp/server/internal/ssf"
	"github.com/pdp-dev/pdp/server/internal/ssf/ssftest"
)

func TestSSFConformance(t *testing.T) {
	t.Parallel()
	ssftest.Run(t, func(t *testing.T) ssf.Store { return NewSSF() })
}
