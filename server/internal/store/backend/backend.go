// Package backend opens the store backend --store names (memory, bolt or
// Redis) once, and returns everything it provides: the state of package
// store, the audit log, the tenant policies, the IP rules, the Shared
// Signals effects and, for a
// backend shared between replicas, the watches that report what other
// replicas change.
package backend

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/ssf"
	"github.com/pdp-dev/pdp/server/internal/store"
	"github.com/pdp-dev/pdp/server/internal/store/bolt"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
	"github.com/pdp-dev/pdp/server/internal/store/redis"
	"github.com/pdp-dev/pdp/server/internal/tenantstore"
)

// Backend is an open backend. Close closes all of it.
type Backend struct {
	// State is what signals read and Report writes.
	State store.Store
	// Audit is the hash-chained audit log.
	Audit audit.Log
	// Policies are the tenant policies set through the admin API.
	Policies tenantstore.Store
	// PolicyChanges reports the policies other replicas store; nil unless
	// the backend is shared.
	PolicyChanges tenantstore.Watcher
	// IPRules are the admin rules, imported lists and auto-blocks.
	IPRules iprules.Store
	// RuleChanges reports the rules other replicas change; nil unless the
	// backend is shared.
	RuleChanges iprules.Watcher
	// SSF keeps the effects of applied Shared Signals events and their
	// jtis.
	SSF ssf.Store
}

// OpenTimeout bounds connecting to a Redis store.
const OpenTimeout = 15 * time.Second

// Open opens the backend spec names: memory, bolt (the file's directory
// created) or Redis.
func Open(spec config.StoreSpec, logger *slog.Logger) (*Backend, error) {
	switch spec.Kind {
	case config.StoreMemory:
		st := memory.New(memory.Options{})
		return &Backend{State: st, Audit: st.AuditLog(), Policies: memory.NewPolicies(), IPRules: memory.NewIPRules(), SSF: memory.NewSSF()}, nil
	case config.StoreBolt:
		st, err := bolt.Open(spec.Path, bolt.Options{Logger: logger})
		if err != nil {
			return nil, err
		}
		logger.Info("store opened", "store", "bolt", "path", spec.Path)
		return &Backend{State: st, Audit: st.AuditLog(), Policies: st.Policies(), IPRules: st.IPRules(), SSF: st.SSF()}, nil
	case config.StoreRedis:
		ctx, cancel := context.WithTimeout(context.Background(), OpenTimeout)
		defer cancel()
		st, err := redis.Open(ctx, spec.URL, redis.Options{})
		if err != nil {
			return nil, err
		}
		c := st.Config()
		logger.Info("store opened", "store", "redis", "addrs", c.Addrs, "db", c.DB, "tls", c.TLS,
			"prefix", c.Prefix, "cluster", st.Cluster())
		policies, rules := st.Policies(), st.IPRules(st.Notifier())
		return &Backend{State: st, Audit: st.AuditLog(), Policies: policies, PolicyChanges: policies, IPRules: rules, RuleChanges: rules, SSF: st.SSF()}, nil
	}
	return nil, fmt.Errorf("--store: unknown kind %q", spec.Kind)
}

// Close closes the backend; the stores it provided fail from then on.
func (b *Backend) Close() error { return b.State.Close() }
