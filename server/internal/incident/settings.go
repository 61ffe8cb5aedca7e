package incident

import (
	"time"

	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

// MaxBlockTTL bounds how long one auto-block lasts, whatever a tenant
// setting or a block_ip obligation asks.
const MaxBlockTTL = tenantdata.MaxAutoBlockTTL

// Settings are a tenant environment's incident thresholds (the effective
// policy's incident group).
type Settings struct {
	// FailedLoginsThreshold is how many failed logins of a user within
	// FailedLoginsWindow send a brute-force notification; 0 sends none.
	FailedLoginsThreshold int
	// FailedLoginsWindow is the failed-login window, for messages.
	FailedLoginsWindow time.Duration
	// SuspiciousIPThreshold is how many failed logins from one IP within
	// the window auto-block it; 0 blocks none.
	SuspiciousIPThreshold int
	// AutoBlockTTL is how long an auto-block lasts; the default when zero,
	// at most MaxBlockTTL.
	AutoBlockTTL time.Duration
	// ReportOnly is the environment's report_only mode: reports block no
	// IP, since that would be enforcing; a security_alert says what would
	// have been blocked.
	ReportOnly bool
}

// SettingsFunc returns the settings of a tenant environment.
type SettingsFunc func(tenant, env string) Settings

// DefaultSettings returns the guide's defaults (5 failed logins in 15
// minutes, 10 for an IP, blocked for an hour) for every tenant.
func DefaultSettings(string, string) Settings {
	return Settings{
		FailedLoginsThreshold: tenantdata.DefaultFailedLoginsThreshold,
		FailedLoginsWindow:    tenantdata.DefaultFailedLoginsWindow,
		SuspiciousIPThreshold: tenantdata.DefaultSuspiciousIPThreshold,
		AutoBlockTTL:          tenantdata.DefaultAutoBlockTTL,
	}
}

// normalized fills the window and TTL defaults and applies the TTL bound.
func (s Settings) normalized() Settings {
	if s.FailedLoginsWindow <= 0 {
		s.FailedLoginsWindow = tenantdata.DefaultFailedLoginsWindow
	}
	s.AutoBlockTTL = clampTTL(s.AutoBlockTTL)
	return s
}

// clampTTL is ttl, or the default when not positive, at most MaxBlockTTL.
func clampTTL(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return tenantdata.DefaultAutoBlockTTL
	}
	return min(ttl, MaxBlockTTL)
}

// PolicySettings reads the data.tenants document (tenant → {"environments":
// {env: effective policy}}) once and returns the incident settings of each
// environment, from incident.failed_logins_threshold,
// failed_logins_window_ns, suspicious_ip_threshold, auto_block_ttl_ns and
// report_only.
// A value the document lacks keeps its default; tenants and environments
// it lacks get DefaultSettings. Build it again when the document changes
// (or PolicyIndex.With).
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
func readSettings(tenant, env string, policy map[string]any) Settings {
	s := DefaultSettings(tenant, env)
	s.ReportOnly, _ = policy["report_only"].(bool)
	if n, ok := tenantdata.Int(policy, "incident", "failed_logins_threshold"); ok && n >= 0 {
		s.FailedLoginsThreshold = int(n)
	}
	if n, ok := tenantdata.Int(policy, "incident", "failed_logins_window_ns"); ok && n > 0 {
		s.FailedLoginsWindow = time.Duration(n)
	}
	if n, ok := tenantdata.Int(policy, "incident", "suspicious_ip_threshold"); ok && n >= 0 {
		s.SuspiciousIPThreshold = int(n)
	}
	if n, ok := tenantdata.Int(policy, "incident", "auto_block_ttl_ns"); ok && n > 0 {
		s.AutoBlockTTL = time.Duration(n)
	}
	return s.normalized()
}
