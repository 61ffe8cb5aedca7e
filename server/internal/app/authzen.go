package app

import (
	"context"
	"maps"

	"go.opentelemetry.io/otel/trace"

	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/authzen"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/engine"
)

// buildAuthZEN builds the AuthZEN API on the decision service of every
// door; searches decide their candidates on searches, the same service
// without incident response.
func (p *parts) buildAuthZEN(cfg config.Config, o options, tp trace.TracerProvider, decisions, searches authzen.Checker) (*authzen.Handler, error) {
	acr := maps.Clone(authzen.DefaultACR)
	maps.Copy(acr, cfg.Gateway.StepUpACR)
	return authzen.New(authzen.Options{
		Checker:        decisions,
		Searcher:       searches,
		Directory:      directory{engine: p.engine, users: p.state.store.State},
		Scope:          authn.DecisionTenant,
		DefaultTenant:  cfg.AuthZENTenant,
		PublicURL:      cfg.PublicURL,
		ACR:            acr,
		MaxBodyBytes:   int64(cfg.MaxRequestBytes),
		Timeout:        max(authzen.DefaultTimeout, cfg.CheckTimeout),
		Now:            o.now,
		Logger:         o.logger,
		TracerProvider: tp,
		MeterProvider:  p.metrics.MeterProvider(),
	})
}

// directory is the search's directory: what the loaded policy set lists
// for the tenant environment, and the users the store has a profile of
// (subjects of type "user").
type directory struct {
	engine *engine.Engine
	users  interface {
		Users(ctx context.Context, tenant string, limit int) ([]string, bool, error)
	}
}

func (d directory) Candidates(ctx context.Context, tenant, environment string) (*authzen.Candidates, error) {
	dir, err := d.engine.Directory(ctx, tenant, environment)
	if err != nil {
		return nil, err
	}
	entities := func(in []engine.Entity) []authzen.Entity {
		out := make([]authzen.Entity, len(in))
		for i, e := range in {
			out[i] = authzen.Entity{Type: e.Type, ID: e.ID, Properties: e.Properties}
		}
		return out
	}
	c := &authzen.Candidates{Subjects: entities(dir.Subjects), Resources: entities(dir.Resources), Actions: dir.Actions}
	ids, _, err := d.users.Users(ctx, tenant, authzen.MaxCandidates)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		c.Subjects = append(c.Subjects, authzen.Entity{Type: "user", ID: id})
	}
	return c, nil
}
