package memory

import (
	"testing"

	"github.com/pdp-dev/pdp/server/internal/tenantstore"
	"github.com/pdp-dev/pdp/server/internal/tenantstore/tenantstoretest"
)

func TestPolicyConformance(t *testing.T) {
	t.Parallel()
	tenantstoretest.Run(t, func(t *testing.T) tenantstore.Store { return NewPolicies() })
}
