// Package tenantdata reads, checks and expands a tenant's settings, its
// tenant policy (pdp.v1.TenantPolicy), into the data.tenants document Rego
// reads: the files of --tenants DIR and the body of the PutTenantPolicy
// admin RPC. (Rego modules, the other kind of policy, are package engine's.)
//
// The life of a policy:
//
//	Parse     YAML or JSON bytes -> *pdpv1.TenantPolicy (durations such as
//	          "4h", both field spellings, unknown fields refused)
//	Validate  every invalid value at once, as fault.InvalidArgument with one
//	          field violation per problem, named by proto path
//	CheckPlan settings beyond the tenant's plan, as fault.FailedPrecondition
//	Effective the data.tenants[tenant] document Rego reads: presets applied,
//	          every default filled in, values canonical
//	ETag      a stable hash of the policy's content
//	LoadDir   all of the above for every file of a directory
//	Data      the whole data.tenants document; Environments and Int read
//	          it back for the state derived from it (IP lists, signal
//	          windows, incident thresholds)
//
// # File format
//
// A file is one YAML or JSON mapping in the shape of pdp.v1.TenantPolicy.
// Field names may be written in snake_case (inactivity_timeout) or
// lowerCamelCase (inactivityTimeout). Durations are strings such as "4h",
// "90m", "1h30m" or "14400s"; timestamps are RFC 3339. Choice words are
// lowercase (plan: enterprise, mode: all, preset: production) and compliance
// profiles capitals (HIPAA, PCI_DSS, SOX, GDPR); other casings ("Enterprise",
// "pci-dss", "Monday") are rewritten to the canonical word by Normalize.
//
// YAML is read with YAML 1.2 rules, so "off", "no" and "NO" (Norway) stay
// strings instead of turning into booleans, and a key written twice is an
// error. Files are limited to MaxFileSize bytes and MaxDepth levels of
// nesting.
//
// # Plans
//
// The plan gates which settings a tenant may write; the preset baselines and
// defaults apply on every plan. Any setting present in an environment is
// checked, whatever its value (writing allow_direct_query: false on the free
// plan is refused too, so that a downgrade never leaves settings that look
// active but are not allowed).
//
//	setting                                   free  paid  enterprise
//	preset                                     yes   yes   yes
//	allow_direct_query                          -    yes   yes
//	key_isolation                               -    yes   yes
//	roles                                      yes   yes   yes
//	cache_ttl                                   -    yes   yes
//	inactivity_timeout                          -     -    yes
//	role_inactivity_timeouts                    -     -    yes
//	session_warning                             -     -    yes
//	mfa                                         -     -    yes
//	auth_providers                              -     -    yes
//	email_domains                               -     -    yes
//	ip_allowlist, ip_denylist                   -     -    yes
//	countries                                   -     -    yes
//	risk, sensitive_actions                     -     -    yes
//	incident                                    -     -    yes
//	compliance                                  -     -    yes
//	report_only                                 -     -    yes
//	report_only_rules                           -     -    yes
//	shared_signals                              -     -    yes
//
// Paid plans get the guide's "basic security": direct-query control, cache
// key isolation and role-based access. Everything the guide lists as
// enterprise-only (inactivity logout, 2FA, provider enforcement, SSO email
// domains, IP lists) is enterprise, and so are the controls it files under
// network, compliance and advanced patterns (countries, zero-trust risk,
// incident response, compliance profiles), plus report-only mode and the
// effects of Shared Signals events (shared_signals: each of them enforce,
// report_only or off; a report_only effect adds its reason codes to the
// effective report_only_rules).
//
// # Presets
//
// Each environment starts from a preset's baseline. The preset defaults to
// the environment's name when that is development, staging or production,
// and to production otherwise. Fields set in the file override the baseline:
// proto3 optional fields and non-zero scalars when present, lists when
// non-empty (they replace, never append), maps key by key, messages field by
// field.
//
//	setting               development  staging            production
//	allow_direct_query    true         false              false
//	key_isolation         false        true               true
//	inactivity_timeout    12h          8h                 4h
//	mfa.mode              off          privileged         all
//	mfa.privileged_roles  []           [admin]            []
//
// Defaults shared by every preset: session_warning 5m; mfa.grace_period 0
// and mfa.max_age 12h (a second factor older than a working day is asked
// again); risk step_up_threshold 0.7, deny_threshold 0.9 and the weights
// unusual_time 0.2, unusual_location 0.3, unusual_behavior 0.3,
// untrusted_device 0.2, impossible_travel 0.5, failed_logins 0.3,
// ip_reputation 0.4 (weights set in the file are merged over these); incident
// failed_logins_threshold 5, failed_logins_window 15m,
// suspicious_ip_threshold 10, auto_block_ttl 1h,
// suspend_on_privilege_escalation true, brute_force_action challenge;
// sensitive_actions admin.*, db.direct_query, *.delete, export.*; cache_ttl 0;
// report_only false; no provider, domain, IP, country or role restrictions.
//
// # Compliance profiles
//
// Validate checks that declared profiles are known; whether an environment
// satisfies them is decided by the Rego module data.pdp.compliance, whose
// violations document takes one environment's effective policy
// (EffectiveEnvironment) as input.policy. The server refuses a policy with
// violations as FAILED_PRECONDITION.
//
// # Choices made by validation
//
// A CIDR whose host bits are set (203.0.113.7/24) is refused rather than
// masked: in an allow or deny list it is usually a typo for a /32 and
// silently widening it 256 times is the wrong guess. A bare address means
// /32 or /128; an IPv4-mapped IPv6 prefix (::ffff:203.0.113.0/120) is
// rewritten to its IPv4 form, because request addresses are unmapped before
// matching. Country codes are the officially assigned ISO 3166-1 alpha-2
// codes plus XK (Kosovo), which GeoIP databases report. Business hours
// whose end is before their start cross midnight; "24:00" is accepted as an
// end. mfa.max_age 0 puts no age limit on the last second factor: being
// enrolled is enough (the Rego library reads it that way).
package tenantdata
