package app

import (
	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/store/backend"
)

// auditLogOf returns the audit log the backend keeps: the store's chain,
// without the checkpoints' wrapping.
func auditLogOf(b *backend.Backend) (audit.Log, error) { return b.Audit, nil }
