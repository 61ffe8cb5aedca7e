package pdp_test

# ssf.rego and risk.rego's external_risk: each Shared Signals effect, its
# boundaries in time, and the tenant's off and report_only.

# An event of type ev that happened at fx_t - 1h.
ssf_event(ev, extra) := object.union(
	{"event": ev, "stream": "okta", "jti": "j-1", "event_time_ns": fx_t - fx_h},
	extra,
)

ssf_req(events, patch) := object.union({"signals": {"ssf": {"events": events}}}, patch)

ssf_pol(settings) := {"shared_signals": settings}

test_ssf_session_revoked_denies_a_session_started_before if {
	r := fx_run(ssf_req([ssf_event("session-revoked", {"reason": "Landspeed"})], {"session": {"started_at_ns": fx_t - (2 * fx_h)}}), {})
	r.deny == {{
		"code": "session.revoked",
		"message": "the session started before its revocation: session-revoked from stream okta at 2025-12-31T23:00:00Z (jti j-1): Landspeed",
		"rule": "ssf.session_revoked",
	}}
	r.decision.decision == "deny"
}

test_ssf_a_session_started_after_the_revocation_starts_clean if {
	r := fx_run(ssf_req([ssf_event("sessions-revoked", {})], {"session": {"started_at_ns": fx_t - fx_m}}), {})
	r.deny == set()
	{
		"rule": "ssf.session_revoked", "code": "session.revoked", "effect": "deny",
		"message": "the session started at 2025-12-31T23:59:00Z, after the revocation: sessions-revoked from stream okta at 2025-12-31T23:00:00Z (jti j-1)",
	} in r.checks
}

test_ssf_an_unknown_session_start_counts_as_before if {
	r := fx_run(ssf_req([ssf_event("session-revoked", {})], {}), {})
	fx_codes(r.deny) == {"session.revoked"}
}

test_ssf_the_authentication_time_stands_in_for_the_session_start if {
	r := fx_run(ssf_req([ssf_event("session-revoked", {})], {"authentication": {"authenticated_at_ns": fx_t}}), {})
	r.deny == set()
}

test_ssf_accounts_disabled_or_purged_deny if {
	r := fx_run(ssf_req([ssf_event("account-disabled", {"reason": "hijacking"}), ssf_event("account-purged", {"jti": "j-2"})], {}), {})
	fx_codes(r.deny) == {"account.disabled", "account.purged"}
	some d in r.deny
	d.code == "account.disabled"
	d.message == "the account is disabled: account-disabled from stream okta at 2025-12-31T23:00:00Z (jti j-1): hijacking"
}

test_ssf_credential_change_asks_to_sign_in_again_until_the_user_does if {
	before := fx_run(ssf_req([ssf_event("credential-change", {})], {"authentication": {"authenticated_at_ns": fx_t - (2 * fx_h)}}), {})
	before.challenge == {{
		"code": "ssf.credential_change",
		"message": "the authentication predates credential-change from stream okta at 2025-12-31T23:00:00Z (jti j-1)",
		"rule": "ssf.credential_change",
		"step_ups": [{"kind": "reauthenticate", "reason_code": "ssf.credential_change"}],
	}}
	after := fx_run(ssf_req([ssf_event("credential-change", {})], {"authentication": {"authenticated_at_ns": fx_t - fx_h}}), {})
	after.challenge == set()
	{
		"rule": "ssf.credential_change", "code": "ssf.credential_change", "effect": "challenge",
		"message": "authenticated at 2025-12-31T23:00:00Z, after credential-change from stream okta at 2025-12-31T23:00:00Z (jti j-1)",
	} in after.checks
}

test_ssf_risc_credential_events_ask_to_sign_in_again if {
	r := fx_run(ssf_req([ssf_event("credential-compromise", {}), ssf_event("account-credential-change-required", {"jti": "j-2"})], {}), {})
	fx_codes(r.challenge) == {"ssf.credential_compromise"}
	count(r.challenge) == 2
}

test_ssf_claims_change_asks_for_mfa_by_default if {
	r := fx_run(ssf_req([ssf_event("token-claims-change", {})], {"authentication": {"mfa_verified_at_ns": fx_t - (2 * fx_h)}}), {})
	[s] := [s | some c in r.challenge; some s in c.step_ups]
	s == {"kind": "mfa", "reason_code": "ssf.claims_change"}
	proven := fx_run(ssf_req([ssf_event("assurance-level-change", {"level": "nist-aal1"})], {"authentication": {"mfa_verified_at_ns": fx_t}}), {})
	proven.challenge == set()
}

test_ssf_claims_change_step_up_is_the_tenants if {
	pol := ssf_pol({"claims_change_step_up": "reauthenticate"})
	r := fx_run(ssf_req([ssf_event("assurance-level-change", {})], {"authentication": {"mfa_verified_at_ns": fx_t}}), pol)
	[s] := [s | some c in r.challenge; some s in c.step_ups]
	s.kind == "reauthenticate"
}

test_ssf_device_not_compliant_is_noticed if {
	r := fx_run(ssf_req([ssf_event("device-compliance-change", {"status": "not-compliant"})], {"device": {"compliant": false}}), {})
	r.notices == {{
		"code": "ssf.device_not_compliant",
		"message": "device \"d-1\" is not compliant: device-compliance-change from stream okta at 2025-12-31T23:00:00Z (jti j-1)",
		"rule": "ssf.device_compliance",
	}}
	fx_factor(r, "untrusted_device")
	report := fx_run(ssf_req([ssf_event("device-compliance-change", {})], {}), ssf_pol({"device_compliance": "report_only"}))
	some n in report.notices
	contains(n.message, "(report only: the device keeps its compliance)")
}

test_ssf_external_risk_weighs_the_tenants_weight_until_it_expires if {
	high := fx_run(ssf_req([ssf_event("risk-level-change", {"level": "HIGH"})], {}), {})
	fx_factor(high, "external_risk") == {
		"name": "external_risk", "weight": 0.8,
		"detail": "risk level HIGH from stream okta since 2025-12-31T23:00:00Z (jti j-1)",
	}
	fx_codes(high.challenge) == {"risk.step_up"}
	tenant := fx_run(ssf_req([ssf_event("risk-level-change", {"level": "MEDIUM"})], {}), ssf_pol({"external_risk_weights": {"MEDIUM": 0.95}}))
	fx_codes(tenant.deny) == {"risk.deny"}
	expired := fx_run(ssf_req([ssf_event("risk-level-change", {"level": "HIGH"})], {}), ssf_pol({"external_risk_ttl_ns": fx_h}))
	fx_no_factor(expired, "external_risk")
}

test_ssf_external_risk_report_only_weighs_nothing if {
	r := fx_run(ssf_req([ssf_event("risk-level-change", {"level": "HIGH"})], {}), ssf_pol({"external_risk": "report_only"}))
	f := fx_factor(r, "external_risk")
	f.weight == 0
	endswith(f.detail, "(report only: would weigh 0.8)")
	r.challenge == set()
}

test_ssf_every_effect_can_be_turned_off if {
	events := [
		ssf_event("session-revoked", {}), ssf_event("account-disabled", {}),
		ssf_event("credential-change", {}), ssf_event("credential-compromise", {}),
		ssf_event("token-claims-change", {}), ssf_event("device-compliance-change", {}),
		ssf_event("risk-level-change", {"level": "HIGH"}),
	]
	off := ssf_pol({
		"session_revoked": "off", "account": "off", "credential_change": "off", "credential_compromise": "off",
		"claims_change": "off", "device_compliance": "off", "external_risk": "off",
	})
	r := fx_run(ssf_req(events, {}), off)
	r.deny == set()
	r.challenge == set()
	r.notices == set()
	fx_no_factor(r, "external_risk")
	on := fx_run(ssf_req(events, {}), {})
	fx_codes(on.deny) == {"session.revoked", "account.disabled"}
}

test_ssf_report_only_codes_are_observed_not_enforced if {
	r := fx_run(ssf_req([ssf_event("session-revoked", {})], {}), {"report_only_rules": ["session.revoked"]})
	fx_codes(r.deny) == {"session.revoked"}
	r.decision.decision == "allow"
	r.decision.enforced == false
	r.decision.would_decide == "deny"
}

test_ssf_nothing_without_events if {
	r := fx_run({}, ssf_pol({"session_revoked": "enforce"}))
	r.deny == set()
	r.decision.decision == "allow"
}
