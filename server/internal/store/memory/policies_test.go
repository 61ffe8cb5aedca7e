package memory

import (
	"testing"

	"github.com/pdp-dev/pdp/server/internal/policystore"
	"github.com/pdp-dev/pdp/server/internal/policystore/policystoretest"
)

func TestPolicyConformance(t *testing.T) {
	t.Parallel()
	policystoretest.Run(t, func(t *testing.T) policystore.Store { return NewPolicies() })
}
