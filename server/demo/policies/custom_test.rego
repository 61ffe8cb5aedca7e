# Tests of custom.rego through the whole decision, data.pdp.decision, with a
# mocked tenant: this is how authors check that their rules combine with the
# built-in library as intended. Run them with `pdp test server/demo/policies`.
package pdp.custom_test

# An effective policy as the server builds it from a tenant file (see
# rego/README.md): every setting present, nothing restricted but roles.
policy := {
	"preset": "production",
	"allow_direct_query": false,
	"key_isolation": true,
	"report_only": false,
	"inactivity_timeout_ns": 4 * hour,
	"role_inactivity_timeouts_ns": {},
	"session_warning_ns": 300000000000,
	"cache_ttl_ns": 0,
	"mfa": {"mode": "off", "privileged_roles": [], "grace_period_ns": 0, "max_age_ns": 12 * hour},
	"auth_providers": {"allowed": [], "emergency": {"enabled": false, "providers": [], "break_glass_users": []}},
	"email_domains": [],
	"ip_allowlist": [],
	"ip_denylist": [],
	"countries": {"allowed": [], "blocked": []},
	"roles": {"analyst": {"actions": ["login", "api.read", "export.*"]}},
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
		"failed_logins_window_ns": 15 * 60000000000,
		"suspicious_ip_threshold": 10,
		"auto_block_ttl_ns": hour,
		"suspend_on_privilege_escalation": true,
		"brute_force_action": "challenge",
	},
	"compliance": [],
	"sensitive_actions": ["admin.*", "db.direct_query", "*.delete", "export.*"],
}

hour := 3600000000000

tenants := {"acme": {"plan": "enterprise", "environments": {"production": policy}}}

# A request of an analyst on a managed laptop, from an ordinary network.
base := {
	"tenant": "acme",
	"environment": "production",
	"time_ns": 1767258000000000000, # 2026-01-01T09:00:00Z
	"subject": {"id": "u-7", "email": "eve@acme.com", "roles": ["analyst"], "groups": [], "mfa_enrolled": true, "tenant": "acme"},
	"authentication": {"provider": "google", "methods": ["pwd", "otp"], "acr": ""},
	"network": {"ip": "203.0.113.7", "country": "DE", "region": "", "city": "", "asn": 64500},
	"device": {"id": "lt-42", "platform": "macos", "managed": true, "compliant": true},
	"action": {"name": "export.reports", "resource": "/reports/q4"},
	"session": {"id": "s-1"},
	"attributes": {},
	"explain": false,
	"caller": {"name": "gateway", "role": "pep", "spiffe_id": ""},
}

# request patches the base request one group at a time.
request(patch) := object.union(base, patch)

unmanaged := {"id": "byod-3", "platform": "android", "managed": false, "compliant": false}

codes(d) := {r.code | some r in d.reasons}

factor(d, name) := f if {
	some f in d.risk.factors
	f.name == name
}

# ---------------------------------------------------------------------------
# custom.export_requires_managed_device

test_export_from_unmanaged_device_denied if {
	d := data.pdp.decision with input as request({"device": unmanaged})
		with data.tenants as tenants
	d.decision == "deny"
	codes(d) == {"custom.export_requires_managed_device"}
	d.reasons[0].message == `export.reports needs a managed device; device "byod-3" is not managed`
}

test_nested_export_from_unmanaged_device_denied if {
	d := data.pdp.decision with input as request({"device": unmanaged, "action": {"name": "export.reports.csv", "resource": ""}})
		with data.tenants as tenants
	"custom.export_requires_managed_device" in codes(d)
}

test_export_from_managed_device_allowed if {
	d := data.pdp.decision with input as base
		with data.tenants as tenants
	d.decision == "allow"
	d.reasons == []
}

test_other_actions_from_unmanaged_device_unaffected if {
	d := data.pdp.decision with input as request({"device": unmanaged, "action": {"name": "api.read", "resource": "/v1/things"}})
		with data.tenants as tenants
	d.decision == "allow"
}

test_explanation_lists_the_check_that_passed if {
	d := data.pdp.decision with input as request({"explain": true})
		with data.tenants as tenants
	{
		"rule": "custom.export_requires_managed_device",
		"code": "custom.export_requires_managed_device",
		"effect": "deny",
		"matched": false,
		"message": `export.reports from managed device "lt-42"`,
	} in d.explanation
}

# ---------------------------------------------------------------------------
# anonymizing_network

test_login_from_anonymizing_asn_adds_risk if {
	d := data.pdp.decision with input as request({
		"action": {"name": "login", "resource": ""},
		"network": {"ip": "192.0.2.9", "country": "NL", "region": "", "city": "", "asn": 64497},
	})
		with data.tenants as tenants
	d.decision == "allow"
	factor(d, "anonymizing_network") == {"name": "anonymizing_network", "weight": 0.4, "detail": "login from AS64497, a network of anonymizing exits"}
	d.risk.score == 0.4
	d.risk.level == "medium"
}

test_login_marked_by_the_gateway_adds_risk if {
	d := data.pdp.decision with input as request({
		"action": {"name": "login", "resource": ""},
		"attributes": {"network_anonymizer": true},
	})
		with data.tenants as tenants
	factor(d, "anonymizing_network").detail == "login from an address the gateway marked as an anonymizer exit"
}

test_ordinary_login_has_no_anonymizer_factor if {
	d := data.pdp.decision with input as request({"action": {"name": "login", "resource": ""}})
		with data.tenants as tenants
	not factor(d, "anonymizing_network")
	d.risk.score == 0
}

test_other_actions_from_anonymizing_asn_not_scored if {
	d := data.pdp.decision with input as request({"network": {"ip": "192.0.2.9", "country": "NL", "region": "", "city": "", "asn": 64497}})
		with data.tenants as tenants
	not factor(d, "anonymizing_network")
}

# With a device the user never used and an unusual hour (0.2 + 0.2), an
# anonymizing login (0.4) goes over the step-up threshold of 0.7.
test_anonymizing_login_with_other_signals_steps_up if {
	d := data.pdp.decision with input as request({
		"action": {"name": "login", "resource": ""},
		"device": unmanaged,
		"network": {"ip": "192.0.2.9", "country": "DE", "region": "", "city": "", "asn": 64496},
		"signals": {"profile": {
			"suspended": false, "suspended_reason": "", "device_known": false,
			"login_count": 40, "countries": ["DE"], "hour_usual": false, "action_seen": true,
			"failed_logins": 0, "ip_failed_users": 0, "ip_failed_logins": 0,
		}},
	})
		with data.tenants as tenants
	d.decision == "challenge"
	codes(d) == {"risk.step_up"}
	d.risk.score == 0.8
	{f.name | some f in d.risk.factors} == {"anonymizing_network", "unusual_time", "untrusted_device"}
}
