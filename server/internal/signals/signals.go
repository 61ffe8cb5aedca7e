// Package signals computes what the server knows before a policy is
// evaluated, and records what enforcement points report afterwards.
//
// Enricher.Enrich fills decision.Request.Signals (Rego's input.signals, see
// rego/README.md and docs/api.md, section Risk scoring): IP-list membership, the GeoIP
// location, the user's profile (known device, countries, usual hours,
// sensitive actions, impossible travel, failed logins of the user and of
// the IP, suspension, MFA reset) and the tenant's SSO status. It reads the
// store once per request and does not hold locks across calls.
//
// Recorder applies a reported event (docs/api.md, section Report) to the store and
// returns the event's id and the counters incident response acts on.
//
// Windows follow the request's and the event's times, never the wall
// clock; only IP-list expiry uses the wall clock.
package signals

import (
	"context"
	"net/netip"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/ipset"
	"github.com/pdp-dev/pdp/server/internal/store"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

// Geo resolves an address to a location. A nil Geo means no GeoIP
// database is configured.
type Geo interface {
	// Lookup returns the location of addr; ok is false when unknown.
	Lookup(addr netip.Addr) (g decision.GeoSignals, ok bool)
}

// StateReader is the part of store.Store the enricher reads.
type StateReader interface {
	// Read fills dst with the state one request needs.
	Read(ctx context.Context, q store.Query, dst *store.View) error
}

// SSFReader reads the effects of the Shared Signals events that match a
// request; *ssf.Reader implements it.
type SSFReader interface {
	// Read replaces dst with the effects matching req at time at.
	Read(ctx context.Context, req *decision.Request, at time.Time, dst *decision.SSFSignals) error
}

// EventApplier is the part of store.Store the recorder writes.
type EventApplier interface {
	// ApplyEvent records one event.
	ApplyEvent(ctx context.Context, ev *decision.Event, s store.Settings) (store.Outcome, error)
}

// IPLists answers IP-list membership; *ipset.Set and *ipset.Snapshot
// implement it.
type IPLists interface {
	// Lookup returns the address's membership of every list that applies.
	Lookup(tenant, env string, addr netip.Addr, now time.Time) ipset.Result
}

// The defaults of Settings.
const (
	// DefaultSuspiciousIPUsers is how many distinct users failing from one
	// IP within the window make it suspicious (docs/api.md, section Risk scoring).
	DefaultSuspiciousIPUsers = 3
)

// Settings are the per-tenant-environment windows and thresholds the
// signals use.
type Settings struct {
	// Lookback is how far back profile signals look; store.DefaultLookback
	// (90 days) when zero.
	Lookback time.Duration
	// FailureWindow is the failed-login window; store.DefaultFailureWindow
	// (15 minutes) when zero.
	FailureWindow time.Duration
	// SuspiciousIPUsers is how many distinct users failing from an IP
	// within the window make it suspicious; DefaultSuspiciousIPUsers when
	// zero.
	SuspiciousIPUsers int
	// DeviceComplianceKept is true when a Shared Signals device compliance
	// change to not-compliant must not mark the request's device
	// non-compliant: the tenant set shared_signals.device_compliance to
	// report_only or off.
	DeviceComplianceKept bool
}

// Store returns the settings the store applies events with.
func (s Settings) Store() store.Settings {
	return store.Settings{Lookback: s.Lookback, FailureWindow: s.FailureWindow}.Normalized()
}

// Normalized returns s with defaults filled in and bounds applied.
func (s Settings) Normalized() Settings {
	st := s.Store()
	s.Lookback, s.FailureWindow = st.Lookback, st.FailureWindow
	if s.SuspiciousIPUsers <= 0 {
		s.SuspiciousIPUsers = DefaultSuspiciousIPUsers
	}
	return s
}

// SettingsFunc returns the settings of a tenant environment.
type SettingsFunc func(tenant, env string) Settings

// DefaultSettings returns the defaults of every tenant.
func DefaultSettings(string, string) Settings { return Settings{}.Normalized() }

// PolicySettings reads the data.tenants document (tenant → {"environments":
// {env: effective policy}}) once and returns its settings per environment:
// FailureWindow from incident.failed_logins_window_ns, DeviceComplianceKept
// from shared_signals.device_compliance. Tenants and
// environments the document lacks get the defaults. Build it again when
// the document changes (or PolicyIndex.With).
func PolicySettings(tenants map[string]any) SettingsFunc {
	return NewPolicyIndex(tenants).Settings
}

// PolicyIndex holds the settings PolicySettings reads from a data.tenants
// document, so that a document differing in a few tenants is read again
// for those tenants only (With). Its Settings is a SettingsFunc, giving
// DefaultSettings for a tenant environment the document lacks.
type PolicyIndex = tenantdata.SettingsIndex[Settings]

// NewPolicyIndex reads every tenant of the document.
func NewPolicyIndex(tenants map[string]any) *PolicyIndex {
	return tenantdata.NewSettingsIndex(tenants, readSettings, DefaultSettings)
}

// readSettings reads one tenant environment's settings.
func readSettings(_, _ string, policy map[string]any) Settings {
	var s Settings
	if ns, ok := tenantdata.Int(policy, "incident", "failed_logins_window_ns"); ok && ns > 0 {
		s.FailureWindow = time.Duration(ns)
	}
	if ss, ok := policy["shared_signals"].(map[string]any); ok {
		s.DeviceComplianceKept = ss["device_compliance"] != tenantdata.EffectEnforce
	}
	return s.Normalized()
}
