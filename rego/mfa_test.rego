package pdp_test

# mfa.rego: modes, freshness (max age boundary), enrolment grace period
# (deadline boundary) and MFA resets.

mfa_all := {"mfa": {"mode": "all", "max_age_ns": fx_h}}

mfa_verified(ago) := {"authentication": {"mfa_verified_at_ns": fx_t - ago}}

mfa_not_enrolled := {"subject": fx_subject({"mfa_enrolled": false})}

mfa_grace(from, grace) := {"mfa": {"mode": "all", "enforced_from_ns": from, "grace_period_ns": grace}}

test_mfa_off_is_silent if {
	r := fx_run(object.union(mfa_not_enrolled, {}), {})
	fx_rule(r.challenge, "mfa.") == set()
	fx_rule(r.notices, "mfa.") == set()
	fx_rule(r.checks, "mfa.") == set()
}

test_mfa_fresh_verification_passes if {
	r := fx_run(mfa_verified(30 * fx_m), mfa_all)
	fx_rule(r.challenge, "mfa.") == set()
	{
		"rule": "mfa.required", "code": "authn.mfa_required", "effect": "challenge",
		"message": "MFA verified 30m ago, within the max age of 1h",
	} in r.checks
	{
		"rule": "mfa.enrollment", "code": "authn.mfa_enrollment_required", "effect": "challenge",
		"message": "subject is enrolled in MFA",
	} in r.checks
}

test_mfa_exactly_max_age_passes if {
	r := fx_run(mfa_verified(fx_h), mfa_all)
	fx_rule(r.challenge, "mfa.") == set()
}

test_mfa_older_than_max_age_challenges if {
	r := fx_run(mfa_verified(fx_h + fx_s), mfa_all)
	r.challenge == {{
		"code": "authn.mfa_required",
		"message": "MFA required for all users: MFA last verified 1h1s ago, more than the max age of 1h",
		"rule": "mfa.required",
		"step_ups": [{"kind": "mfa", "reason_code": "authn.mfa_required", "max_age_ns": fx_h}],
	}}
	r.decision.decision == "challenge"
}

test_mfa_one_nanosecond_past_max_age_challenges if {
	r := fx_run(mfa_verified(fx_h + 1), mfa_all)
	fx_codes(r.challenge) == {"authn.mfa_required"}
}

test_mfa_missing_verification_challenges if {
	r := fx_run({}, mfa_all)
	some c in r.challenge
	c.code == "authn.mfa_required"
	c.message == "MFA required for all users: no MFA verification in this authentication (max age 1h)"
}

test_mfa_zero_max_age_needs_enrolment_only if {
	r := fx_run({}, {"mfa": {"mode": "all", "max_age_ns": 0}})
	r.challenge == set()
	{
		"rule": "mfa.required", "code": "authn.mfa_required", "effect": "challenge",
		"message": "MFA enrolled; the policy sets no max age",
	} in r.checks
}

test_mfa_privileged_mode_applies_to_privileged_roles_only if {
	pol := {"mfa": {"mode": "privileged", "privileged_roles": ["admin", "owner"], "max_age_ns": fx_h}}
	admin := fx_run({"subject": fx_subject({"roles": ["developer", "admin"]})}, pol)
	some c in admin.challenge
	c.message == "MFA required for privileged role admin: no MFA verification in this authentication (max age 1h)"

	dev := fx_run({}, pol)
	dev.challenge == set()
	fx_rule(dev.checks, "mfa.") == {{
		"rule": "mfa.required", "code": "authn.mfa_required", "effect": "challenge",
		"message": "MFA mode privileged and no role of the subject is privileged (admin, owner)",
	}}
}

test_mfa_grace_period_running_reminds if {
	# enforced a day ago with a week of grace: deadline 2026-01-07
	r := fx_run(mfa_not_enrolled, mfa_grace(fx_t - (24 * fx_h), (7 * 24) * fx_h))
	r.challenge == set()
	r.notices == {{
		"code": "authn.mfa_enrollment_pending",
		"message": "MFA required for all users: subject is not enrolled in MFA; enroll before 2026-01-07T00:00:00Z (144h left)",
		"rule": "mfa.enrollment",
	}}
	r.obligations == {{"kind": "remind_mfa_enrollment", "params": {"deadline": "2026-01-07T00:00:00Z"}}}
	r.decision.decision == "allow"
}

test_mfa_grace_boundary if {
	pol := mfa_grace(fx_t - fx_h, fx_h)

	# one nanosecond before the deadline: still pending
	before := fx_run(object.union(mfa_not_enrolled, {"time_ns": fx_t - 1}), pol)
	fx_codes(before.notices) == {"authn.mfa_enrollment_pending"}
	before.challenge == set()

	# at the deadline: enrolment required, deadline passed on
	at := fx_run(mfa_not_enrolled, pol)
	at.notices == set()
	at.obligations == set()
	at.challenge == {{
		"code": "authn.mfa_enrollment_required",
		"message": "MFA required for all users: subject is not enrolled in MFA and the enrollment deadline 2026-01-01T00:00:00Z has passed",
		"rule": "mfa.enrollment",
		"step_ups": [{"kind": "enroll_mfa", "reason_code": "authn.mfa_enrollment_required", "deadline_ns": fx_t}],
	}}
}

test_mfa_enforcement_not_started_yet_reminds if {
	r := fx_run(mfa_not_enrolled, mfa_grace(fx_t + (24 * fx_h), 0))
	fx_codes(r.notices) == {"authn.mfa_enrollment_pending"}
	r.challenge == set()
}

test_mfa_no_enforced_from_requires_enrolment_now if {
	r := fx_run(mfa_not_enrolled, {"mfa": {"mode": "all", "grace_period_ns": 24 * fx_h}})
	r.challenge == {{
		"code": "authn.mfa_enrollment_required",
		"message": "MFA required for all users: subject is not enrolled in MFA and the policy gives no grace period",
		"rule": "mfa.enrollment",
		"step_ups": [{"kind": "enroll_mfa", "reason_code": "authn.mfa_enrollment_required"}],
	}}
}

test_mfa_reset_after_verification_means_not_enrolled if {
	req := object.union(mfa_verified(2 * fx_h), {"signals": {"profile": object.union(fx_profile, {"mfa_reset_at_ns": fx_t - fx_h})}})
	r := fx_run(req, mfa_all)
	some c in r.challenge
	c.code == "authn.mfa_enrollment_required"
	c.message == "MFA required for all users: MFA was reset at 2025-12-31T23:00:00Z and has not been enrolled again and the policy gives no grace period"
	not "authn.mfa_required" in fx_codes(r.challenge)
}

test_mfa_reset_without_any_verification_means_not_enrolled if {
	req := {"signals": {"profile": object.union(fx_profile, {"mfa_reset_at_ns": fx_t - fx_h})}}
	r := fx_run(req, mfa_all)
	fx_codes(r.challenge) == {"authn.mfa_enrollment_required"}
}

test_mfa_verified_after_reset_counts_as_enrolled if {
	req := object.union(mfa_verified(30 * fx_m), {"signals": {"profile": object.union(fx_profile, {"mfa_reset_at_ns": fx_t - fx_h})}})
	r := fx_run(req, mfa_all)
	r.challenge == set()

	# verified at the very instant of the reset: enrolled again
	same := object.union(mfa_verified(fx_h), {"signals": {"profile": object.union(fx_profile, {"mfa_reset_at_ns": fx_t - fx_h})}})
	fx_run(same, mfa_all).challenge == set()
}

test_mfa_silent_for_unknown_tenant if {
	r := fx_run({"tenant": "globex"}, mfa_all)
	fx_rule(r.challenge, "mfa.") == set()
	fx_rule(r.checks, "mfa.") == set()
}
