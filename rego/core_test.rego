package pdp_test

import data.pdp

# ---------------------------------------------------------------------------
# Fixtures

core_policy := {
	"report_only": false,
	"cache_ttl_ns": 30000000000,
	"roles": {
		"admin": {"actions": ["*"]},
		"developer": {"actions": ["api.*", "files.read"]},
		"janitor": {"actions": ["*.delete"]},
		"viewer": {"actions": ["api.read"]},
	},
	"risk": {"step_up_threshold": 0.7, "deny_threshold": 0.9},
}

core_tenants := {"acme": {
	"plan": "enterprise",
	"environments": {
		"production": core_policy,
		"staging": object.union(core_policy, {"report_only": true}),
	},
}}

core_input := {
	"tenant": "acme",
	"environment": "production",
	"time_ns": 1767225600000000000,
	"subject": {
		"id": "u-1",
		"email": "ada@acme.com",
		"roles": ["developer"],
		"groups": [],
		"mfa_enrolled": true,
		"tenant": "acme",
	},
	"action": {"name": "api.read", "resource": "/v1/things"},
	"explain": false,
}

core_with(patch) := object.union(core_input, patch)

core_reason_codes(d) := [r.code | some r in d.reasons]

# A deny, a challenge and a notice contributed by other modules.
core_other_deny := {"code": "network.ip_denied", "message": "ip denied", "rule": "network.ip_denied"}

core_other_challenge := {
	"code": "authn.mfa_required",
	"message": "mfa too old",
	"rule": "mfa.required",
	"step_ups": [{"kind": "mfa", "reason_code": "authn.mfa_required", "max_age_ns": 3600000000000}],
}

core_other_notice := {"code": "session.expiring", "message": "session ends soon", "rule": "session.expiring"}

# ---------------------------------------------------------------------------
# action_matches

test_action_matches_table if {
	cases := [
		["*", "login", true],
		["*", "admin.users.delete", true],
		["*", "", true],
		["admin.*", "admin.users.delete", true],
		["admin.*", "admin.users", true],
		["admin.*", "admin", false],
		["admin.*", "administrator.users", false],
		["*.delete", "files.delete", true],
		["*.delete", "admin.files.delete", true],
		["*.delete", "files.deleted", false],
		["api.read", "api.read", true],
		["api.read", "api.readx", false],
		["api.read", "api.write", false],
		["db.direct_query", "db.direct_query", true],
		["export.*", "exports.csv", false],
	]
	matched := {i | some i, c in cases; pdp.action_matches(c[0], c[1])}
	expected := {i | some i, c in cases; c[2]}
	matched == expected
}

# ---------------------------------------------------------------------------
# helpers

test_tenant_and_policy_helpers if {
	pdp.tenant == core_tenants.acme with input as core_input with data.tenants as core_tenants
	pdp.policy == core_policy with input as core_input with data.tenants as core_tenants
}

test_policy_undefined_for_unknown_environment if {
	not pdp.policy with input as core_with({"environment": "qa"}) with data.tenants as core_tenants
	not pdp.tenant with input as core_with({"tenant": "globex"}) with data.tenants as core_tenants
}

# ---------------------------------------------------------------------------
# The gate

test_unknown_tenant_denies_with_that_reason_only if {
	d := pdp.decision with input as core_with({"tenant": "globex", "explain": true})
		with data.tenants as core_tenants
		with data.pdp.challenge as {core_other_challenge}
		with data.pdp.notices as {core_other_notice}
		with data.pdp.obligations as {{"kind": "audit", "params": {}}}
		with data.pdp.risk_factors as {{"name": "unusual_time", "weight": 0.2, "detail": "x"}}
		with data.pdp.custom.deny as {core_other_deny}

	d == {
		"decision": "deny",
		"reasons": [{"code": "tenant.unknown", "message": "no policy for tenant \"globex\"", "rule": "core.tenant_unknown"}],
		"step_ups": [],
		"obligations": [],
		"risk": {"score": 0, "level": "low", "factors": []},
		"session": {},
		"cache_ttl_ns": 0,
		"enforced": true,
		"would_decide": "deny",
		"explanation": [{
			"rule": "core.tenant_unknown",
			"code": "tenant.unknown",
			"effect": "deny",
			"matched": true,
			"message": "no policy for tenant \"globex\"",
		}],
	}
}

test_unknown_tenant_without_tenants_data if {
	d := pdp.decision with input as core_input with data.tenants as {}
	core_reason_codes(d) == ["tenant.unknown"]
	d.decision == "deny"
}

test_unknown_environment_denies_with_that_reason_only if {
	d := pdp.decision with input as core_with({"environment": "qa", "subject": {"id": "u-1", "roles": [], "tenant": "other"}})
		with data.tenants as core_tenants
		with data.pdp.custom.deny as {core_other_deny}

	d.decision == "deny"
	d.reasons == [{
		"code": "tenant.environment_unknown",
		"message": "tenant \"acme\" declares no environment \"qa\"",
		"rule": "core.environment_unknown",
	}]
	not d.explanation
}

test_gate_reason_is_a_deny if {
	denies := pdp.deny with input as core_with({"tenant": "globex"}) with data.tenants as core_tenants
	{"code": "tenant.unknown", "message": "no policy for tenant \"globex\"", "rule": "core.tenant_unknown"} in denies
}

test_known_tenant_contributes_gate_checks if {
	c := pdp.checks with input as core_input with data.tenants as core_tenants
	some x in c
	x.code == "tenant.unknown"
	some y in c
	y.code == "tenant.environment_unknown"
}

# ---------------------------------------------------------------------------
# Isolation

test_isolation_denies_other_workspace if {
	d := pdp.decision with input as core_with({"subject": {"id": "u-9", "roles": ["admin"], "tenant": "globex"}})
		with data.tenants as core_tenants
	d.decision == "deny"
	some r in d.reasons
	r == {
		"code": "tenant.isolation",
		"message": "subject \"u-9\" belongs to tenant \"globex\", not \"acme\"",
		"rule": "core.tenant_isolation",
	}
}

test_isolation_silent_for_same_or_empty_tenant if {
	every subject_tenant in ["acme", ""] {
		inp := core_with({"subject": object.union(core_input.subject, {"tenant": subject_tenant})})
		denies := pdp.deny with input as inp with data.tenants as core_tenants
		every r in denies {
			r.code != "tenant.isolation"
		}
		checks := pdp.checks with input as inp with data.tenants as core_tenants
		some c in checks
		c.code == "tenant.isolation"
	}
}

# ---------------------------------------------------------------------------
# Roles

test_role_grants_and_forbids if {
	cases := [
		# roles, action, allowed
		[["developer"], "api.read", true],
		[["developer"], "api.users.list", true],
		[["developer"], "files.read", true],
		[["developer"], "files.write", false],
		[["viewer"], "api.write", false],
		[["viewer", "janitor"], "files.delete", true],
		[["janitor"], "admin.files.delete", true],
		[["admin"], "admin.users.delete", true],
		[["unknown-role"], "api.read", false],
		[[], "api.read", false],
	]
	every c in cases {
		inp := core_with({"subject": object.union(core_input.subject, {"roles": c[0]}), "action": {"name": c[1], "resource": ""}})
		denies := pdp.deny with input as inp with data.tenants as core_tenants
		forbidden := {r | some r in denies; r.code == "authz.role_forbidden"}
		count(forbidden) == 0 == c[2]
	}
}

test_role_forbidden_messages if {
	none := pdp.deny with input as core_with({"subject": object.union(core_input.subject, {"roles": []})})
		with data.tenants as core_tenants
	{
		"code": "authz.role_forbidden",
		"message": "the subject has no role; action \"api.read\" is not granted",
		"rule": "core.role_forbidden",
	} in none

	some_roles := pdp.deny with input as core_with({"subject": object.union(core_input.subject, {"roles": ["viewer", "janitor"]}), "action": {"name": "api.write", "resource": ""}})
		with data.tenants as core_tenants
	{
		"code": "authz.role_forbidden",
		"message": "no role of the subject (viewer, janitor) grants action \"api.write\"",
		"rule": "core.role_forbidden",
	} in some_roles
}

test_role_missing_roles_key_denies if {
	inp := object.union(object.remove(core_input, ["subject"]), {"subject": {"id": "u-1", "tenant": "acme"}})
	denies := pdp.deny with input as inp with data.tenants as core_tenants
	some r in denies
	r.code == "authz.role_forbidden"
}

test_denies_survive_missing_fields if {
	inp := {"tenant": "acme", "environment": "production", "subject": {"tenant": "globex"}}
	denies := pdp.deny with input as inp with data.tenants as core_tenants
	{
		"code": "authz.role_forbidden",
		"message": "the subject has no role; action \"\" is not granted",
		"rule": "core.role_forbidden",
	} in denies
	{
		"code": "tenant.isolation",
		"message": "subject \"\" belongs to tenant \"globex\", not \"acme\"",
		"rule": "core.tenant_isolation",
	} in denies
}

test_role_check_names_the_granting_role if {
	checks := pdp.checks with input as core_input with data.tenants as core_tenants
	{
		"rule": "core.role_forbidden",
		"code": "authz.role_forbidden",
		"effect": "deny",
		"message": "action \"api.read\" granted by role \"developer\" (api.*)",
	} in checks
}

test_role_forbidden_decision if {
	d := pdp.decision with input as core_with({"action": {"name": "admin.users.delete", "resource": ""}})
		with data.tenants as core_tenants
	d.decision == "deny"
	d.would_decide == "deny"
	d.enforced == true
	d.cache_ttl_ns == 0
	"authz.role_forbidden" in core_reason_codes(d)
}

# ---------------------------------------------------------------------------
# Combining

test_allow_decision_shape if {
	d := pdp.decision with input as core_input
		with data.tenants as core_tenants
		with data.pdp.challenge as set()
		with data.pdp.notices as set()
		with data.pdp.obligations as set()
		with data.pdp.risk_factors as set()
	d == {
		"decision": "allow",
		"reasons": [],
		"step_ups": [],
		"obligations": [],
		"risk": {"score": 0, "level": "low", "factors": []},
		"session": {},
		"cache_ttl_ns": 30000000000,
		"enforced": true,
		"would_decide": "allow",
	}
}

test_deny_wins_and_reasons_are_ordered if {
	d := pdp.decision with input as core_input
		with data.tenants as core_tenants
		with data.pdp.challenge as {core_other_challenge}
		with data.pdp.notices as {core_other_notice}
		with data.pdp.custom.deny as {
			core_other_deny,
			{"code": "data.direct_query_disabled", "message": "no", "rule": "custom.dq"},
		}
	d.decision == "deny"
	core_reason_codes(d) == [
		"data.direct_query_disabled", "network.ip_denied",
		"authn.mfa_required",
		"session.expiring",
	]

	# challenge reasons are projected onto code, message, rule
	d.reasons[2] == {"code": "authn.mfa_required", "message": "mfa too old", "rule": "mfa.required"}
	d.step_ups == core_other_challenge.step_ups
	d.cache_ttl_ns == 0
}

test_challenge_wins_over_allow_and_step_ups_are_merged if {
	other := {
		"code": "risk.step_up",
		"message": "risk 0.8",
		"rule": "risk.step_up",
		"step_ups": [
			{"kind": "mfa", "reason_code": "authn.mfa_required", "max_age_ns": 3600000000000},
			{"kind": "verify_device", "reason_code": "risk.step_up"},
		],
	}
	d := pdp.decision with input as core_input
		with data.tenants as core_tenants
		with data.pdp.challenge as {core_other_challenge}
		with data.pdp.custom.challenge as {other}
		with data.pdp.notices as {core_other_notice}
	d.decision == "challenge"
	d.would_decide == "challenge"
	core_reason_codes(d) == ["authn.mfa_required", "risk.step_up", "session.expiring"]
	count(d.step_ups) == 2
	{"kind": "mfa", "reason_code": "authn.mfa_required", "max_age_ns": 3600000000000} in d.step_ups
	{"kind": "verify_device", "reason_code": "risk.step_up"} in d.step_ups
	d.cache_ttl_ns == 0
}

test_custom_package_contributes_every_set if {
	d := pdp.decision with input as core_with({"explain": true})
		with data.tenants as core_tenants
		with data.pdp.challenge as set()
		with data.pdp.notices as set()
		with data.pdp.obligations as set()
		with data.pdp.risk_factors as set()
		with data.pdp.custom.notices as {{"code": "custom.hello", "message": "hi", "rule": "custom.hello"}}
		with data.pdp.custom.obligations as {{"kind": "audit", "params": {"why": "custom"}}}
		with data.pdp.custom.risk_factors as {{"name": "unusual_time", "weight": 0.2, "detail": "3am"}}
		with data.pdp.custom.checks as {{"rule": "custom.geo", "code": "custom.geo", "effect": "deny", "message": "ok"}}
	d.decision == "allow"
	d.reasons == [{"code": "custom.hello", "message": "hi", "rule": "custom.hello"}]
	d.obligations == [{"kind": "audit", "params": {"why": "custom"}}]
	d.risk == {"score": 0.2, "level": "low", "factors": [{"name": "unusual_time", "weight": 0.2, "detail": "3am"}]}
	{"rule": "custom.geo", "code": "custom.geo", "effect": "deny", "matched": false, "message": "ok"} in d.explanation
}

test_obligations_are_merged_and_sorted if {
	d := pdp.decision with input as core_input
		with data.tenants as core_tenants
		with data.pdp.obligations as {{"kind": "notify_security", "params": {}}, {"kind": "audit", "params": {"a": "1"}}}
		with data.pdp.custom.obligations as {{"kind": "audit", "params": {"a": "1"}}}
	d.obligations == [{"kind": "audit", "params": {"a": "1"}}, {"kind": "notify_security", "params": {}}]
}

test_session_control_is_passed_through if {
	s := {"expires_at_ns": 1767229200000000000, "warn_at_ns": 1767228900000000000, "idle_timeout_ns": 3600000000000}
	d := pdp.decision with input as core_input
		with data.tenants as core_tenants
		with data.pdp.session_control as s
	d.session == s
}

test_session_defaults_to_empty if {
	d := pdp.decision with input as core_input with data.tenants as core_tenants with data.pdp.session_control as {}
	d.session == {}
}

# ---------------------------------------------------------------------------
# Risk

core_factor(name, weight) := {"name": name, "weight": weight, "detail": sprintf("%s present", [name])}

test_risk_levels_at_thresholds if {
	cases := [
		# weights, expected score, expected level
		[[], 0, "low"],
		[[0.2], 0.2, "low"],
		[[0.2, 0.1], 0.3, "medium"],
		[[0.3, 0.4], 0.7, "medium"],
		[[0.3, 0.4, 0.01], 0.71, "high"],
		[[0.5, 0.3, 0.09], 0.89, "high"],
		[[0.5, 0.4], 0.9, "critical"],
		[[0.5, 0.4, 0.3, 0.2], 1, "critical"],
	]
	every c in cases {
		factors := {core_factor(sprintf("f%d", [i]), w) | some i, w in c[0]}
		d := pdp.decision with input as core_input
			with data.tenants as core_tenants
			with data.pdp.risk_factors as factors
		d.risk.score == c[1]
		d.risk.level == c[2]
	}
}

test_risk_levels_follow_tenant_thresholds if {
	tenants := {"acme": {"environments": {"production": object.union(core_policy, {"risk": {"step_up_threshold": 0.4, "deny_threshold": 0.6}})}}}
	cases := [
		[0.3, "medium"],
		[0.4, "medium"],
		[0.5, "high"],
		[0.6, "critical"],
	]
	every c in cases {
		d := pdp.decision with input as core_input
			with data.tenants as tenants
			with data.pdp.risk_factors as {core_factor("f", c[0])}
		d.risk.level == c[1]
	}
}

test_risk_factors_sorted_by_name if {
	d := pdp.decision with input as core_input
		with data.tenants as core_tenants
		with data.pdp.risk_factors as {core_factor("unusual_time", 0.2), core_factor("failed_logins", 0.3)}
		with data.pdp.custom.risk_factors as {core_factor("impossible_travel", 0.5)}
	[f.name | some f in d.risk.factors] == ["failed_logins", "impossible_travel", "unusual_time"]
	d.risk.score == 1
	d.risk.level == "critical"
}

# ---------------------------------------------------------------------------
# Report-only

test_report_only_allows_and_says_what_it_would_decide if {
	d := pdp.decision with input as core_with({"environment": "staging", "action": {"name": "admin.users.delete", "resource": ""}})
		with data.tenants as core_tenants
		with data.pdp.obligations as {{"kind": "audit", "params": {}}, {"kind": "suspend_user", "params": {"user": "u-1"}}}
	d.decision == "allow"
	d.enforced == false
	d.would_decide == "deny"
	"authz.role_forbidden" in core_reason_codes(d)
	d.cache_ttl_ns == 30000000000

	# acting on the user would be enforcing
	d.obligations == [{"kind": "audit", "params": {}}]
}

test_report_only_challenge if {
	d := pdp.decision with input as core_with({"environment": "staging"})
		with data.tenants as core_tenants
		with data.pdp.challenge as {core_other_challenge}
	d.decision == "allow"
	d.enforced == false
	d.would_decide == "challenge"
}

test_report_only_allow if {
	d := pdp.decision with input as core_with({"environment": "staging"})
		with data.tenants as core_tenants
		with data.pdp.challenge as set()
	d.decision == "allow"
	d.enforced == false
	d.would_decide == "allow"
}

# Per-rule report-only: the listed codes are observed, not enforced.
core_observing(codes) := {"acme": {
	"plan": "enterprise",
	"environments": {"production": object.union(core_policy, {"report_only_rules": codes})},
}}

test_report_only_rule_deny_is_observed if {
	d := pdp.decision with input as core_input
		with data.tenants as core_observing(["network.ip_denied"])
		with data.pdp.deny as {core_other_deny}
		with data.pdp.obligations as {{"kind": "block_ip", "params": {"reason": "network.ip_denied"}}, {"kind": "audit", "params": {}}}
	d.decision == "allow"
	d.enforced == false
	d.would_decide == "deny"
	core_reason_codes(d) == ["network.ip_denied"]

	# blocking the address would enforce the observed rule
	d.obligations == [{"kind": "audit", "params": {}}]
}

test_report_only_rule_leaves_the_others_enforced if {
	d := pdp.decision with input as core_input
		with data.tenants as core_observing(["network.ip_denied"])
		with data.pdp.deny as {core_other_deny}
		with data.pdp.challenge as {core_other_challenge}
	d.decision == "challenge"
	d.enforced == false
	d.would_decide == "deny"
	d.step_ups == core_other_challenge.step_ups
	core_reason_codes(d) == ["network.ip_denied", "authn.mfa_required"]
}

test_report_only_challenge_rule_asks_for_nothing if {
	d := pdp.decision with input as core_input
		with data.tenants as core_observing(["authn.mfa_required"])
		with data.pdp.challenge as {core_other_challenge}
	d.decision == "allow"
	d.step_ups == []
	d.enforced == false
	d.would_decide == "challenge"
}

test_report_only_rule_that_did_not_fire_changes_nothing if {
	d := pdp.decision with input as core_input
		with data.tenants as core_observing(["risk.step_up"])
		with data.pdp.deny as {core_other_deny}
	d.decision == "deny"
	d.enforced == true
	d.would_decide == "deny"
}

# ---------------------------------------------------------------------------
# Explain

test_explanation_lists_fired_then_checks if {
	d := pdp.decision with input as core_with({"explain": true, "action": {"name": "files.write", "resource": ""}})
		with data.tenants as core_tenants
		with data.pdp.challenge as {core_other_challenge}
		with data.pdp.notices as {core_other_notice}
		with data.pdp.checks as {
			{"rule": "core.tenant_unknown", "code": "tenant.unknown", "effect": "deny", "message": "known"},
			{"rule": "network.ip_denied", "code": "network.ip_denied", "effect": "deny", "message": "not listed"},
		}
	d.explanation == [
		{
			"rule": "core.role_forbidden", "code": "authz.role_forbidden", "effect": "deny", "matched": true,
			"message": "no role of the subject (developer) grants action \"files.write\"",
		},
		{"rule": "mfa.required", "code": "authn.mfa_required", "effect": "challenge", "matched": true, "message": "mfa too old"},
		{"rule": "session.expiring", "code": "session.expiring", "effect": "info", "matched": true, "message": "session ends soon"},
		{"rule": "network.ip_denied", "code": "network.ip_denied", "effect": "deny", "matched": false, "message": "not listed"},
		{"rule": "core.tenant_unknown", "code": "tenant.unknown", "effect": "deny", "matched": false, "message": "known"},
	]
}

test_explanation_includes_core_checks if {
	d := pdp.decision with input as core_with({"explain": true}) with data.tenants as core_tenants
	codes := {e.code | some e in d.explanation; e.matched == false}
	every code in {"tenant.unknown", "tenant.environment_unknown", "tenant.isolation", "authz.role_forbidden"} {
		code in codes
	}
}

test_no_explanation_unless_asked if {
	d := pdp.decision with input as core_input with data.tenants as core_tenants
	not d.explanation
}

# ---------------------------------------------------------------------------
# Malformed contributions are kept so that the server rejects them

test_malformed_deny_still_denies if {
	d := pdp.decision with input as core_input
		with data.tenants as core_tenants
		with data.pdp.custom.deny as {{"code": "custom.broken"}}
	d.decision == "deny"
	{"code": "custom.broken"} in d.reasons
}

# ---------------------------------------------------------------------------
# Application authorization: grants of package pdp.custom

core_owner_grant := {"code": "app.owner", "message": "u-1 owns document d-1", "rule": "app.owner"}

test_a_grant_lifts_the_role_check_alone if {
	inp := core_with({"action": {"name": "documents.edit", "resource": ""}})
	denies := pdp.deny with input as inp with data.tenants as core_tenants with data.pdp.custom.grant as {core_owner_grant}
	count({r | some r in denies; r.code == "authz.role_forbidden"}) == 0
	core_owner_grant in pdp.notices with input as inp with data.tenants as core_tenants with data.pdp.custom.grant as {core_owner_grant}

	without := pdp.deny with input as inp with data.tenants as core_tenants
	count({r | some r in without; r.code == "authz.role_forbidden"}) == 1
}

test_a_grant_is_no_reason_when_a_role_grants if {
	notices := pdp.notices with input as core_input with data.tenants as core_tenants with data.pdp.custom.grant as {core_owner_grant}
	not core_owner_grant in notices
}

test_a_grant_leaves_every_other_control_in_force if {
	inp := core_with({"action": {"name": "documents.edit", "resource": ""}, "subject": object.union(core_input.subject, {"tenant": "globex"})})
	d := pdp.decision with input as inp with data.tenants as core_tenants with data.pdp.custom.grant as {core_owner_grant}
	d.decision == "deny"
	"tenant.isolation" in core_reason_codes(d)
	not "authz.role_forbidden" in core_reason_codes(d)
	"app.owner" in core_reason_codes(d)
}

test_a_grant_is_explained if {
	inp := core_with({"action": {"name": "documents.edit", "resource": ""}, "explain": true})
	checks := pdp.checks with input as inp with data.tenants as core_tenants with data.pdp.custom.grant as {core_owner_grant}
	{
		"rule": "core.role_forbidden",
		"code": "authz.role_forbidden",
		"effect": "deny",
		"message": "action \"documents.edit\" granted by the application's rules (app.owner)",
	} in checks
}
