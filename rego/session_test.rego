package pdp_test

# session.rego: the strictest timeout, the exact-timeout boundary, the
# warning window and session_control.

session_idle(idle) := {"session": {"id": "s-1", "last_activity_at_ns": fx_t - idle}}

test_session_active if {
	r := fx_run(session_idle(fx_h), {})
	r.challenge == set()
	r.notices == set()
	r.session == {
		"expires_at_ns": fx_t + (3 * fx_h),
		"warn_at_ns": (fx_t + (3 * fx_h)) - (5 * fx_m),
		"idle_timeout_ns": 4 * fx_h,
	}
	r.decision.session == r.session
	{
		"rule": "session.inactive", "code": "session.inactive", "effect": "challenge",
		"message": "session idle for 1h, within the inactivity timeout of 4h (tenant policy)",
	} in r.checks
	{
		"rule": "session.expiring", "code": "session.expiring", "effect": "info",
		"message": "session expires at 2026-01-01T03:00:00Z, warning from 2026-01-01T02:55:00Z",
	} in r.checks
}

test_session_exactly_the_timeout_is_allowed if {
	r := fx_run(session_idle(4 * fx_h), {})
	r.challenge == set()
	r.session.expires_at_ns == fx_t

	# the last instant is inside the warning window
	r.notices == {{
		"code": "session.expiring",
		"message": "session expires at 2026-01-01T00:00:00Z, in 0s, unless there is activity",
		"rule": "session.expiring",
	}}
}

test_session_one_nanosecond_past_the_timeout_challenges if {
	r := fx_run(session_idle((4 * fx_h) + 1), {})
	r.challenge == {{
		"code": "session.inactive",
		"message": "session idle for 4h, longer than the inactivity timeout of 4h (tenant policy)",
		"rule": "session.inactive",
		"step_ups": [{"kind": "reauthenticate", "reason_code": "session.inactive"}],
	}}
	r.notices == set()
	r.obligations == set()
	r.session == {"idle_timeout_ns": 4 * fx_h}
	r.decision.decision == "challenge"
}

test_session_role_timeout_is_stricter if {
	pol := {"role_inactivity_timeouts_ns": {"admin": 2 * fx_h, "viewer": 8 * fx_h}}
	admin := fx_run(object.union(session_idle((2 * fx_h) + fx_s), {"subject": fx_subject({"roles": ["admin", "viewer"]})}), pol)
	some c in admin.challenge
	c.message == "session idle for 2h1s, longer than the inactivity timeout of 2h (role admin)"

	# a longer role timeout never lengthens the tenant's
	viewer := fx_run(object.union(session_idle(5 * fx_h), {"subject": fx_subject({"roles": ["viewer"]})}), pol)
	fx_codes(viewer.challenge) == {"session.inactive"}
	viewer.session == {"idle_timeout_ns": 4 * fx_h}
}

test_session_compliance_caps if {
	pci := fx_run(session_idle(3 * fx_h), {"compliance": ["PCI_DSS"]})
	some c in pci.challenge
	c.message == "session idle for 3h, longer than the inactivity timeout of 2h (PCI_DSS)"

	hipaa := fx_run(session_idle(5 * fx_h), {"inactivity_timeout_ns": 8 * fx_h, "compliance": ["HIPAA"]})
	some h in hipaa.challenge
	h.message == "session idle for 5h, longer than the inactivity timeout of 4h (HIPAA)"

	sox := fx_run(session_idle(fx_h), {"inactivity_timeout_ns": 12 * fx_h, "compliance": ["SOX", "GDPR"]})
	sox.session.idle_timeout_ns == 4 * fx_h

	# GDPR sets no cap
	gdpr := fx_run(session_idle(fx_h), {"inactivity_timeout_ns": 12 * fx_h, "compliance": ["GDPR"]})
	gdpr.session.idle_timeout_ns == 12 * fx_h
}

test_session_ties_name_every_source if {
	r := fx_run(session_idle(fx_h), {"compliance": ["HIPAA", "SOX"]})
	some c in r.checks
	c.rule == "session.inactive"
	c.message == "session idle for 1h, within the inactivity timeout of 4h (HIPAA, SOX, tenant policy)"
}

test_session_without_last_activity if {
	r := fx_run({}, {})
	r.session == {"idle_timeout_ns": 4 * fx_h}
	r.challenge == set()
	fx_rule(r.checks, "session.") == set()
}

test_session_warning_window_boundary if {
	# warn_at = last + 4h - 5m; at warn_at the warning starts
	at := fx_run(session_idle((4 * fx_h) - (5 * fx_m)), {})
	at.notices == {{
		"code": "session.expiring",
		"message": "session expires at 2026-01-01T00:05:00Z, in 5m, unless there is activity",
		"rule": "session.expiring",
	}}
	at.obligations == {{"kind": "warn_session_expiry", "params": {"expires_at": "2026-01-01T00:05:00Z"}}}
	at.decision.decision == "allow"
	at.decision.reasons == [{
		"code": "session.expiring",
		"message": "session expires at 2026-01-01T00:05:00Z, in 5m, unless there is activity",
		"rule": "session.expiring",
	}]

	# one nanosecond earlier it has not
	before := fx_run(session_idle(((4 * fx_h) - (5 * fx_m)) - 1), {})
	before.notices == set()
	before.obligations == set()
}

test_session_warning_disabled if {
	r := fx_run(session_idle(4 * fx_h), {"session_warning_ns": 0})
	r.notices == set()
	r.session.warn_at_ns == r.session.expires_at_ns
}

test_session_activity_in_the_future_is_active if {
	r := fx_run(session_idle(0 - fx_m), {})
	r.challenge == set()
	r.session.expires_at_ns == (fx_t + fx_m) + (4 * fx_h)
}

test_session_no_timeout_no_control if {
	r := fx_run(session_idle(100 * fx_h), {"inactivity_timeout_ns": 0})
	r.session == {}
	r.challenge == set()
}
