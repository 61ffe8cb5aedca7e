package pdp_test

import data.pdp

# providers.rego: allowed providers and break-glass emergency access.

providers_sso := {"auth_providers": {"allowed": ["saml:acme", "google"]}}

providers_emergency := {"auth_providers": {
	"allowed": ["saml:acme", "google"],
	"emergency": {"enabled": true, "providers": ["password"], "break_glass_users": ["u-1", "ops@acme.com"]},
}}

providers_password := {"authentication": {"provider": "password"}}

providers_outage := object.union(providers_password, {"signals": {"sso_available": false}})

providers_challenge := {
	"code": "authn.provider_not_allowed",
	"message": "provider \"password\" is not allowed; sign in with google, saml:acme",
	"rule": "providers.allowed",
	"step_ups": [{
		"kind": "use_provider",
		"reason_code": "authn.provider_not_allowed",
		"allowed_providers": ["google", "saml:acme"],
	}],
}

test_providers_unrestricted_is_silent if {
	r := fx_run(providers_password, {})
	fx_rule(r.challenge, "providers.") == set()
	fx_rule(r.checks, "providers.") == set()
}

test_providers_allowed_provider_passes if {
	r := fx_run({}, providers_sso)
	r.challenge == set()
	{
		"rule": "providers.allowed", "code": "authn.provider_not_allowed", "effect": "challenge",
		"message": "provider \"google\" is allowed",
	} in r.checks
}

test_providers_other_provider_challenges if {
	r := fx_run(providers_password, providers_sso)
	r.challenge == {providers_challenge}
	r.decision.step_ups == providers_challenge.step_ups
}

test_providers_empty_provider_challenges if {
	r := fx_run({"authentication": {"provider": ""}}, providers_sso)
	fx_codes(r.challenge) == {"authn.provider_not_allowed"}
}

test_providers_break_glass_during_outage_gets_in if {
	r := fx_run(providers_outage, providers_emergency)
	r.challenge == set()
	r.notices == {{
		"code": "authn.emergency_access",
		"message": "break-glass account \"u-1\" signed in with \"password\" while SSO is unavailable",
		"rule": "providers.emergency",
	}}
	params := {"provider": "password", "user": "u-1", "reason": "authn.emergency_access"}
	r.obligations == {{"kind": "audit", "params": params}, {"kind": "notify_security", "params": params}}
	r.decision.decision == "allow"
}

test_providers_break_glass_by_email if {
	req := object.union(providers_outage, {"subject": fx_subject({"id": "", "email": "ops@acme.com"})})
	r := fx_run(req, providers_emergency)
	r.challenge == set()
	some o in r.obligations
	o.params.user == "ops@acme.com"
}

test_providers_normal_user_during_outage_is_challenged if {
	r := fx_run(object.union(providers_outage, {"subject": fx_subject({"id": "u-2"})}), providers_emergency)
	r.notices == set()
	r.obligations == set()
	some c in r.challenge
	c.message == "provider \"password\" is not allowed; sign in with google, saml:acme (SSO is down, but emergency access is for break-glass accounts only)"
}

test_providers_empty_id_is_never_break_glass if {
	pol := object.union(providers_emergency, {"auth_providers": {"emergency": {"break_glass_users": [""]}}})
	req := object.union(providers_outage, {"subject": fx_subject({"id": "", "email": ""})})
	r := fx_run(req, pol)
	fx_codes(r.challenge) == {"authn.provider_not_allowed"}
}

test_providers_unlisted_emergency_provider_is_challenged if {
	req := object.union(providers_outage, {"authentication": {"provider": "github"}})
	r := fx_run(req, providers_emergency)
	some c in r.challenge
	c.message == "provider \"github\" is not allowed; sign in with google, saml:acme (SSO is down, but emergency access does not cover provider \"github\")"
}

test_providers_empty_emergency_list_accepts_none if {
	pol := object.union(providers_emergency, {"auth_providers": {"emergency": {"providers": []}}})
	r := fx_run(providers_outage, pol)
	fx_codes(r.challenge) == {"authn.provider_not_allowed"}
}

test_providers_no_outage_without_the_signal if {
	# signal absent: not an outage, even for a break-glass account
	r := fx_run(providers_password, providers_emergency)
	r.challenge == {providers_challenge}

	# SSO marked available
	up := fx_run(object.union(providers_password, {"signals": {"sso_available": true}}), providers_emergency)
	up.challenge == {providers_challenge}
}

test_providers_emergency_disabled if {
	pol := object.union(providers_emergency, {"auth_providers": {"emergency": {"enabled": false}}})
	r := fx_run(providers_outage, pol)
	r.challenge == {providers_challenge}
	r.notices == set()
}

test_providers_allowed_provider_during_outage_is_plain if {
	r := fx_run({"signals": {"sso_available": false}}, providers_emergency)
	r.challenge == set()
	r.notices == set()
}

# A policy without auth_providers.allowed restricts nothing, so the module
# is quiet.
test_providers_quiet_without_the_allowed_list if {
	pdp.controls.providers.quiet with input as fx_input with data.tenants as fx_tenants_without([["auth_providers", "allowed"]])
}

# Emergency access with a window: max_duration_ns after SSO was marked down.

providers_window := object.union(providers_emergency, {"auth_providers": {"emergency": {"max_duration_ns": 4 * 3600000000000}}})

providers_down_since(ago) := object.union(providers_password, {"signals": {
	"sso_available": false,
	"sso_down_since_ns": fx_t - ago,
}})

test_providers_break_glass_within_the_window_gets_in if {
	r := fx_run(providers_down_since((4 * 3600000000000) - 1), providers_window)
	r.challenge == set()
	fx_codes(r.notices) == {"authn.emergency_access"}
	r.decision.decision == "allow"
}

test_providers_break_glass_after_the_window_is_challenged if {
	r := fx_run(providers_down_since(4 * 3600000000000), providers_window)
	r.notices == set()
	r.obligations == set()
	some c in r.challenge
	c.message == "provider \"password\" is not allowed; sign in with google, saml:acme (SSO is down, but emergency access ended at 2026-01-01T00:00:00Z, 4h after SSO was marked down)"
}

test_providers_window_without_its_start_is_ended if {
	r := fx_run(providers_outage, providers_window)
	r.notices == set()
	some c in r.challenge
	c.message == "provider \"password\" is not allowed; sign in with google, saml:acme (SSO is down, but emergency access ended: it lasts 4h and when SSO was marked down is unknown)"
}

test_providers_no_window_never_ends if {
	r := fx_run(providers_down_since((365 * 24) * 3600000000000), providers_emergency)
	fx_codes(r.notices) == {"authn.emergency_access"}
}

test_providers_window_note_yields_to_the_others if {
	# a normal user is told emergency access is for break-glass accounts,
	# whether or not the window has ended
	req := object.union(providers_down_since(5 * 3600000000000), {"subject": fx_subject({"id": "u-2"})})
	r := fx_run(req, providers_window)
	some c in r.challenge
	endswith(c.message, "(SSO is down, but emergency access is for break-glass accounts only)")
}
