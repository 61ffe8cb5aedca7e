package memory

import (
	"testing"

	"github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/iprules/iprulestest"
)

func TestIPRulesConformance(t *testing.T) {
	iprulestest.Run(t, func(t *testing.T) iprules.Store { return NewIPRules() })
}
