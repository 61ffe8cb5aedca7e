package app

import (
	"context"
	"fmt"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/incident"
	"github.com/pdp-dev/pdp/server/internal/store"
)

// auditLogOf returns the audit log the store keeps; every backend keeps
// one.
func auditLogOf(st store.Store) (audit.Log, error) {
	a, ok := st.(interface{ AuditLog() audit.Log })
	if !ok {
		return nil, fmt.Errorf("store %T keeps no audit log", st)
	}
	return a.AuditLog(), nil
}

// incidentAuditor records incident response's actions (auto-blocks,
// suspensions, notifications) in the audit log. The action's details
// become the event's After, since an incident action has no prior state
// worth recording.
type incidentAuditor struct{ log audit.Log }

var _ incident.Auditor = incidentAuditor{}

// Record implements incident.Auditor.
func (a incidentAuditor) Record(ctx context.Context, e incident.AuditEntry) error {
	var after map[string]any
	if len(e.Details) > 0 {
		after = make(map[string]any, len(e.Details))
		for k, v := range e.Details {
			after[k] = v
		}
	}
	_, err := a.log.Append(ctx, audit.Entry{
		Time: e.Time, Actor: e.Actor, Action: e.Action, Tenant: e.Tenant,
		Target: e.Target, Reason: e.Reason, After: after,
	})
	return err
}
