package tenantdata

import "maps"

// Index holds a value derived from each tenant environment of a
// data.tenants document, so that a document differing in a few tenants
// is read again for those tenants only (With). Values are read with
// Get; an Index never changes once made.
type Index[S any] struct {
	read func(tenant, env string, policy map[string]any) S
	m    map[envKey]S
	envs map[string][]string // tenant → its environments in m
}

type envKey struct{ tenant, env string }

// NewIndex derives read's value for every tenant environment of the
// document (tenant → {"environments": {env: effective policy}}).
func NewIndex[S any](tenants map[string]any, read func(tenant, env string, policy map[string]any) S) *Index[S] {
	x := &Index[S]{read: read, m: make(map[envKey]S), envs: make(map[string][]string)}
	x.add(tenants)
	return x
}

// With returns the index of the document tenants, which differs from x's
// only in the tenants named in changed (added, changed or removed).
func (x *Index[S]) With(tenants map[string]any, changed map[string]bool) *Index[S] {
	next := &Index[S]{read: x.read, m: maps.Clone(x.m), envs: maps.Clone(x.envs)}
	of := make(map[string]any, len(changed))
	for tenant := range changed {
		for _, env := range next.envs[tenant] {
			delete(next.m, envKey{tenant, env})
		}
		delete(next.envs, tenant)
		if t, ok := tenants[tenant]; ok {
			of[tenant] = t
		}
	}
	next.add(of)
	return next
}

func (x *Index[S]) add(tenants map[string]any) {
	Environments(tenants, func(tenant, env string, policy map[string]any) {
		x.m[envKey{tenant, env}] = x.read(tenant, env, policy)
		x.envs[tenant] = append(x.envs[tenant], env)
	})
}

// Get is the value of a tenant environment; false when the document
// lacks it.
func (x *Index[S]) Get(tenant, env string) (S, bool) {
	s, ok := x.m[envKey{tenant, env}]
	return s, ok
}

// SettingsIndex is an Index of settings that answers every tenant
// environment: one the document lacks gets the defaults.
type SettingsIndex[S any] struct {
	x   *Index[S]
	def func(tenant, env string) S
}

// NewSettingsIndex reads every tenant environment of the document with
// read; def gives the settings of the others.
func NewSettingsIndex[S any](tenants map[string]any, read func(tenant, env string, policy map[string]any) S, def func(tenant, env string) S) *SettingsIndex[S] {
	return &SettingsIndex[S]{NewIndex(tenants, read), def}
}

// With returns the index of the document tenants, which differs from x's
// only in the tenants named in changed (added, changed or removed); x
// does not change.
func (x *SettingsIndex[S]) With(tenants map[string]any, changed map[string]bool) *SettingsIndex[S] {
	return &SettingsIndex[S]{x.x.With(tenants, changed), x.def}
}

// Settings is the settings of a tenant environment, the defaults for one
// the document lacks.
func (x *SettingsIndex[S]) Settings(tenant, env string) S {
	if s, ok := x.x.Get(tenant, env); ok {
		return s
	}
	return x.def(tenant, env)
}
