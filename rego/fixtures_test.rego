# Shared fixtures of the control modules' tests (every name prefixed fx_).
#
# fx_policy is a complete effective policy, as the server builds it, that
# lets fx_input through every control: each test patches only the settings
# and the request fields it is about.
package pdp_test

import data.pdp

fx_h := 3600000000000

fx_m := 60000000000

fx_s := 1000000000

# 2026-01-01T00:00:00Z, a Thursday.
fx_t := 1767225600000000000

fx_policy := {
	"preset": "production",
	"allow_direct_query": false,
	"key_isolation": true,
	"report_only": false,
	"inactivity_timeout_ns": 4 * fx_h,
	"role_inactivity_timeouts_ns": {},
	"session_warning_ns": 5 * fx_m,
	"cache_ttl_ns": 0,
	"mfa": {"mode": "off", "privileged_roles": [], "grace_period_ns": 0, "max_age_ns": 12 * fx_h},
	"auth_providers": {"allowed": [], "emergency": {"enabled": false, "providers": [], "break_glass_users": []}},
	"email_domains": [],
	"ip_allowlist": [],
	"ip_denylist": [],
	"countries": {"allowed": [], "blocked": []},
	"roles": {
		"admin": {"actions": ["*"]},
		"owner": {"actions": ["*"]},
		"developer": {"actions": ["api.*", "cache.*", "db.direct_query", "files.*", "login"]},
		"auditor": {"actions": ["admin.audit.*"]},
	},
	"risk": {
		"step_up_threshold": 0.7,
		"deny_threshold": 0.9,
		"weights": {
			"unusual_time": 0.2, "unusual_location": 0.3, "unusual_behavior": 0.3,
			"untrusted_device": 0.2, "impossible_travel": 0.5,
			"failed_logins": 0.3, "ip_reputation": 0.4,
		},
		"require_device_verification": false,
	},
	"incident": {
		"failed_logins_threshold": 5,
		"failed_logins_window_ns": 15 * fx_m,
		"suspicious_ip_threshold": 10,
		"auto_block_ttl_ns": fx_h,
		"suspend_on_privilege_escalation": true,
		"brute_force_action": "challenge",
	},
	"compliance": [],
	"sensitive_actions": ["admin.*", "db.direct_query", "*.delete", "export.*"],
}

fx_input := {
	"tenant": "acme",
	"environment": "production",
	"time_ns": fx_t,
	"subject": {
		"id": "u-1",
		"email": "ada@acme.com",
		"roles": ["developer"],
		"groups": [],
		"mfa_enrolled": true,
		"tenant": "acme",
	},
	"authentication": {"provider": "google", "methods": ["pwd"], "acr": ""},
	"network": {"ip": "203.0.113.7", "country": "FR", "region": "", "city": "", "asn": 0},
	"device": {"id": "d-1", "platform": "macos", "managed": true, "compliant": true},
	"action": {"name": "api.read", "resource": "/v1/things"},
	"session": {"id": "s-1"},
	"attributes": {},
	"explain": false,
	"caller": {"name": "gateway", "role": "pep", "spiffe_id": ""},
}

# A signals.profile for a known user with nothing unusual.
fx_profile := {
	"suspended": false,
	"suspended_reason": "",
	"device_known": true,
	"login_count": 20,
	"countries": ["FR"],
	"hour_usual": true,
	"action_seen": true,
	"failed_logins": 0,
	"ip_failed_users": 0,
	"ip_failed_logins": 0,
}

fx_tenants(patch) := {"acme": {
	"plan": "enterprise",
	"environments": {"production": object.union(fx_policy, patch)},
}}

# fx_tenants_without is fx_tenants({}) with the policy fields at paths
# (json.remove paths) left out: a policy written by hand, not by the server.
fx_tenants_without(paths) := {"acme": {
	"plan": "enterprise",
	"environments": {"production": json.remove(fx_policy, paths)},
}}

fx_req(patch) := object.union(fx_input, patch)

fx_subject(patch) := object.union(fx_input.subject, patch)

# fx_run evaluates every partial set (and session_control) of package pdp
# for a request patch and a policy patch.
fx_run(req, pol) := r if {
	r := {
		"deny": pdp.deny,
		"challenge": pdp.challenge,
		"notices": pdp.notices,
		"obligations": pdp.obligations,
		"risk_factors": pdp.risk_factors,
		"checks": pdp.checks,
		"session": {k: v | some k, v in pdp.session_control},
		"decision": pdp.decision,
	} with input as fx_req(req)
		with data.tenants as fx_tenants(pol)
}

# The codes of a set of reasons.
fx_codes(xs) := {x.code | some x in xs}

# The elements of xs whose rule starts with prefix.
fx_rule(xs, prefix) := {x | some x in xs; startswith(x.rule, prefix)}

# The factor named name, or undefined.
fx_factor(r, name) := f if {
	some f in r.risk_factors
	f.name == name
}

fx_no_factor(r, name) if {
	not fx_factor(r, name)
}

test_fx_baseline_allows_with_nothing_to_say if {
	r := fx_run({}, {})
	r.deny == set()
	r.challenge == set()
	r.notices == set()
	r.obligations == set()
	r.risk_factors == set()
	r.decision.decision == "allow"
}
