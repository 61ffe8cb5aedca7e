package pdp_test

# incident.rego: suspension, privilege escalation, brute force (threshold
# boundary, challenge or deny) and IP auto-block.

incident_profile(patch) := {"signals": {"profile": object.union(fx_profile, patch)}}

incident_admin_action(roles) := {
	"action": {"name": "admin.users.delete", "resource": "u-7"},
	"subject": fx_subject({"roles": roles}),
}

# ---------------------------------------------------------------------------
# Suspended users

test_incident_suspended_user_is_denied if {
	r := fx_run(incident_profile({"suspended": true, "suspended_reason": "privilege escalation at 2025-12-31T10:00:00Z"}), {})
	r.deny == {{
		"code": "incident.user_suspended",
		"message": "user \"u-1\" is suspended: privilege escalation at 2025-12-31T10:00:00Z",
		"rule": "incident.user_suspended",
	}}
	r.decision.decision == "deny"

	bare := fx_run(incident_profile({"suspended": true}), {})
	some d in bare.deny
	d.message == "user \"u-1\" is suspended"
}

test_incident_active_user_check if {
	r := fx_run(incident_profile({}), {})
	{
		"rule": "incident.user_suspended", "code": "incident.user_suspended", "effect": "deny",
		"message": "user \"u-1\" is not suspended",
	} in r.checks

	# no profile, nothing evaluated
	fx_rule(fx_run({}, {}).checks, "incident.user_suspended") == set()
}

# ---------------------------------------------------------------------------
# Privilege escalation

test_incident_privilege_escalation if {
	r := fx_run(incident_admin_action(["developer"]), {})
	{
		"code": "incident.privilege_escalation",
		"message": "user \"u-1\" attempted admin action \"admin.users.delete\" without an admin role (roles: developer)",
		"rule": "incident.privilege_escalation",
	} in r.deny
	params := {"user": "u-1", "action": "admin.users.delete", "reason": "incident.privilege_escalation"}
	r.obligations == {{"kind": "notify_security", "params": params}, {"kind": "suspend_user", "params": params}}
}

test_incident_escalation_without_suspension if {
	r := fx_run(incident_admin_action([]), {"incident": {"suspend_on_privilege_escalation": false}})
	"incident.privilege_escalation" in fx_codes(r.deny)
	{o.kind | some o in r.obligations} == {"notify_security"}
	some d in r.deny
	d.message == "user \"u-1\" attempted admin action \"admin.users.delete\" without an admin role (roles: (none))"
}

test_incident_anonymous_escalation_is_not_suspended if {
	req := object.union(incident_admin_action(["developer"]), {"subject": {"id": ""}})
	r := fx_run(req, {})
	"incident.privilege_escalation" in fx_codes(r.deny)
	{o.kind | some o in r.obligations} == {"notify_security"}
}

test_incident_admins_are_not_escalating if {
	every roles in [["admin"], ["owner"], ["developer", "admin"]] {
		r := fx_run(incident_admin_action(roles), {})
		not "incident.privilege_escalation" in fx_codes(r.deny)
		r.obligations == set()
	}
	r := fx_run(incident_admin_action(["owner", "admin"]), {})
	{
		"rule": "incident.privilege_escalation", "code": "incident.privilege_escalation", "effect": "deny",
		"message": "admin action \"admin.users.delete\" by admin role admin, owner",
	} in r.checks
}

test_incident_delegated_admin_action_is_not_escalation if {
	req := {"action": {"name": "admin.audit.read", "resource": ""}, "subject": fx_subject({"roles": ["auditor"]})}
	r := fx_run(req, {})
	r.deny == set()
	{
		"rule": "incident.privilege_escalation", "code": "incident.privilege_escalation", "effect": "deny",
		"message": "admin action \"admin.audit.read\" by role auditor, granted by the tenant policy",
	} in r.checks

	# the same role outside its grant escalates
	other := fx_run(object.union(req, {"action": {"name": "admin.users.create"}}), {})
	"incident.privilege_escalation" in fx_codes(other.deny)
}

test_incident_non_admin_actions_are_not_judged if {
	every name in ["api.read", "administrator.x", "admin", "xadmin.users"] {
		r := fx_run({"action": {"name": name, "resource": ""}}, {})
		not "incident.privilege_escalation" in fx_codes(r.deny)
		fx_rule(r.checks, "incident.privilege_escalation") == set()
	}
}

# ---------------------------------------------------------------------------
# Brute force

test_incident_brute_force_threshold_boundary if {
	below := fx_run(incident_profile({"failed_logins": 4}), {})
	fx_rule(below.challenge, "incident.") == set()
	{
		"rule": "incident.brute_force", "code": "incident.brute_force", "effect": "challenge",
		"message": "4 failed logins of user \"u-1\" within 15m, below the threshold of 5",
	} in below.checks

	at := fx_run(incident_profile({"failed_logins": 5}), {})
	at.challenge == {{
		"code": "incident.brute_force",
		"message": "5 failed logins of user \"u-1\" within 15m reach the threshold of 5",
		"rule": "incident.brute_force",
		"step_ups": [{"kind": "mfa", "reason_code": "incident.brute_force", "max_age_ns": 900000000000}],
	}}
	at.deny == set()
}

test_incident_brute_force_satisfied_by_recent_mfa if {
	fresh := object.union(incident_profile({"failed_logins": 5}), {"authentication": {"mfa_verified_at_ns": fx_t - 900000000000}})
	r := fx_run(fresh, {})
	fx_rule(r.challenge, "incident.") == set()
	r.notices == {{
		"code": "incident.brute_force_satisfied",
		"message": "5 failed logins of user \"u-1\" within 15m reach the threshold of 5, satisfied by MFA verified 15m ago",
		"rule": "incident.brute_force",
	}}

	# one nanosecond older: the challenge stands
	stale := object.union(incident_profile({"failed_logins": 5}), {"authentication": {"mfa_verified_at_ns": (fx_t - 900000000000) - 1}})
	some c in fx_run(stale, {}).challenge
	c.code == "incident.brute_force"
}

test_incident_brute_force_deny if {
	pol := {"incident": {"brute_force_action": "deny"}}
	r := fx_run(incident_profile({"failed_logins": 7}), pol)
	r.deny == {{
		"code": "incident.brute_force",
		"message": "7 failed logins of user \"u-1\" within 15m reach the threshold of 5",
		"rule": "incident.brute_force",
	}}
	fx_rule(r.challenge, "incident.") == set()

	below := fx_run(incident_profile({"failed_logins": 1}), pol)
	some c in below.checks
	c.rule == "incident.brute_force"
	c.effect == "deny"
}

test_incident_brute_force_off if {
	r := fx_run(incident_profile({"failed_logins": 50}), {"incident": {"failed_logins_threshold": 0}})
	fx_rule(r.challenge, "incident.") == set()
	fx_rule(r.deny, "incident.") == set()
	fx_rule(r.checks, "incident.brute_force") == set()
}

# ---------------------------------------------------------------------------
# IP auto-block

test_incident_block_ip_at_threshold if {
	r := fx_run(incident_profile({"ip_failed_logins": 10}), {})
	r.obligations == {{"kind": "block_ip", "params": {
		"ip": "203.0.113.7",
		"ttl": "3600s",
		"reason": "10 failed logins from this IP reach the threshold of 10",
	}}}

	# report-only keeps it out of the decision
	ro := fx_run(incident_profile({"ip_failed_logins": 10}), {"report_only": true})
	ro.decision.obligations == []
}

test_incident_block_ip_below_threshold_or_without_ip if {
	fx_run(incident_profile({"ip_failed_logins": 9}), {}).obligations == set()
	fx_run(object.union(incident_profile({"ip_failed_logins": 99}), {"network": {"ip": ""}}), {}).obligations == set()
	fx_run(incident_profile({"ip_failed_logins": 99}), {"incident": {"suspicious_ip_threshold": 0}}).obligations == set()
}

test_incident_block_ip_ttl_in_seconds if {
	r := fx_run(incident_profile({"ip_failed_logins": 10}), {"incident": {"auto_block_ttl_ns": (90 * fx_m) + 1}})
	some o in r.obligations
	o.params.ttl == "5400s"
}
