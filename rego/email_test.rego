package pdp_test

import data.pdp

# email.rego: domain matching, subdomains, look-alikes and malformed emails.

email_acme := {"email_domains": [{"domain": "acme.com", "include_subdomains": false}]}

email_acme_subs := {"email_domains": [{"domain": "acme.com", "include_subdomains": true}]}

email_two := {"email_domains": [
	{"domain": "acme.com", "include_subdomains": false},
	{"domain": "partner.io", "include_subdomains": true},
]}

email_result(address, pol) := fx_codes(fx_rule(fx_run({"subject": fx_subject({"email": address})}, pol).deny, "email."))

test_email_table if {
	cases := [
		# address, policy, expected deny codes
		["ada@acme.com", email_acme, set()],
		["ada@ACME.Com", email_acme, set()],
		["ada@acme.com.", email_acme, set()],
		["ada@eu.acme.com", email_acme, {"authn.email_domain_not_allowed"}],
		["ada@eu.acme.com", email_acme_subs, set()],
		["ada@a.b.acme.com", email_acme_subs, set()],
		["ada@acme.com", email_acme_subs, set()],
		["ada@evilacme.com", email_acme, {"authn.email_domain_not_allowed"}],
		["ada@evilacme.com", email_acme_subs, {"authn.email_domain_not_allowed"}],
		["ada@acme.com.evil.io", email_acme, {"authn.email_domain_not_allowed"}],
		["ada@acme.com.evil.io", email_acme_subs, {"authn.email_domain_not_allowed"}],
		["ada@acme.co", email_acme_subs, {"authn.email_domain_not_allowed"}],
		["ada@cme.com", email_acme_subs, {"authn.email_domain_not_allowed"}],
		["ada@x-acme.com", email_acme_subs, {"authn.email_domain_not_allowed"}],
		["bob@partner.io", email_two, set()],
		["bob@eu.partner.io", email_two, set()],
		["bob@eu.acme.com", email_two, {"authn.email_domain_not_allowed"}],
		["bob@xn--acm-fla.com", email_acme, {"authn.email_domain_not_allowed"}],
		# the domain is what follows the last "@"
		["ada@evil.io@acme.com", email_acme, set()],
		["ada@acme.com@evil.io", email_acme, {"authn.email_domain_not_allowed"}],
		# malformed
		["", email_acme, {"authn.email_invalid"}],
		["ada", email_acme, {"authn.email_invalid"}],
		["ada@", email_acme, {"authn.email_invalid"}],
		["@acme.com", email_acme, {"authn.email_invalid"}],
		["ada@acme..com", email_acme, {"authn.email_invalid"}],
		["ada@acme.com..", email_acme, {"authn.email_invalid"}],
		["ada@.acme.com", email_acme, {"authn.email_invalid"}],
		["ada@-acme.com", email_acme, {"authn.email_invalid"}],
		["ada@acme-.com", email_acme, {"authn.email_invalid"}],
		["ada @acme.com", email_acme, {"authn.email_invalid"}],
		["ada\t@acme.com", email_acme, {"authn.email_invalid"}],
		["a\nda@acme.com", email_acme, {"authn.email_invalid"}],
		["ada@acme.com\n", email_acme, {"authn.email_invalid"}],
		["ada@ac_me.com", email_acme, {"authn.email_invalid"}],
	]
	every c in cases {
		email_result(c[0], c[1]) == c[2]
	}
}

test_email_unrestricted_is_silent if {
	r := fx_run({"subject": fx_subject({"email": ""})}, {})
	fx_rule(r.deny, "email.") == set()
	fx_rule(r.checks, "email.") == set()
}

test_email_messages if {
	wrong := fx_run({"subject": fx_subject({"email": "eve@evilacme.com"})}, email_two)
	wrong.deny == {{
		"code": "authn.email_domain_not_allowed",
		"message": "email domain evilacme.com is not allowed; allowed: acme.com, partner.io and its subdomains",
		"rule": "email.domain",
	}}

	empty := fx_run({"subject": fx_subject({"email": ""})}, email_acme)
	empty.deny == {{
		"code": "authn.email_invalid",
		"message": "the subject has no email, so its domain cannot be checked",
		"rule": "email.domain",
	}}

	bad := fx_run({"subject": fx_subject({"email": "ada@"})}, email_acme)
	bad.deny == {{"code": "authn.email_invalid", "message": "subject email \"ada@\" is not a valid address", "rule": "email.domain"}}
}

test_email_missing_email_field_is_invalid if {
	inp := json.remove(fx_input, ["subject/email"])
	denies := pdp.deny with input as inp with data.tenants as fx_tenants(email_acme)
	fx_codes(denies) == {"authn.email_invalid"}
}

test_email_check_names_the_matching_entry if {
	r := fx_run({"subject": fx_subject({"email": "bob@eu.partner.io"})}, email_two)
	fx_rule(r.checks, "email.") == {{
		"rule": "email.domain", "code": "authn.email_domain_not_allowed", "effect": "deny",
		"message": "email domain eu.partner.io is allowed by partner.io",
	}}
}

# A policy without email_domains restricts nothing, so the module is quiet.
test_email_quiet_without_the_domain_list if {
	pdp.controls.email.quiet with input as fx_input with data.tenants as fx_tenants_without(["email_domains"])
}
