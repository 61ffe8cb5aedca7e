package pdp_test

import data.pdp.compliance

# compliance.rego: every control passing and failing, framework selection,
# violations of the declared profiles, and reviewing a candidate policy.

# A policy that satisfies all four profiles.
cmp_good := object.union(json.remove(fx_policy, ["roles"]), {
	"inactivity_timeout_ns": 2 * fx_h,
	"mfa": {"mode": "all"},
	"auth_providers": {"allowed": ["saml:acme", "google"]},
	"ip_allowlist": ["203.0.113.0/24", "2001:db8::/32"],
	"countries": {"allowed": ["FR", "DE", "NO"]},
	"roles": {
		"admin": {"actions": ["*"]},
		"developer": {"actions": ["api.*", "files.write"]},
		"auditor": {"actions": ["admin.audit.*"]},
	},
})

# A policy that breaks every control that can break.
cmp_bad := object.union(json.remove(fx_policy, ["roles"]), {
	"allow_direct_query": true,
	"key_isolation": false,
	"inactivity_timeout_ns": 8 * fx_h,
	"mfa": {"mode": "off"},
	"auth_providers": {"allowed": []},
	"ip_allowlist": [],
	"countries": {"allowed": []},
	"roles": {},
})

cmp_run(pol, env, framework) := r if {
	r := {"findings": compliance.findings, "violations": compliance.violations} with input as {
		"tenant": "acme", "environment": env, "framework": framework,
	}
		with data.tenants as {"acme": {"plan": "enterprise", "environments": {env: pol}}}
}

cmp_status(findings) := {f.control: f.status | some f in findings}

cmp_finding(findings, control) := f if {
	some f in findings
	f.control == control
}

cmp_all_controls := {
	"hipaa.inactivity_logout", "hipaa.mfa_all", "hipaa.corporate_sso", "hipaa.ip_restrictions",
	"hipaa.direct_query_disabled", "hipaa.key_isolation",
	"pci_dss.inactivity", "pci_dss.mfa_privileged", "pci_dss.strong_auth",
	"pci_dss.network_segmentation", "pci_dss.direct_query_production",
	"sox.role_based_access", "sox.separation_of_duties", "sox.inactivity",
	"sox.audit_logging", "sox.change_approval",
	"gdpr.role_based_access", "gdpr.eu_residency", "gdpr.data_isolation", "gdpr.access_logging",
}

test_compliance_good_policy_passes_everything if {
	r := cmp_run(cmp_good, "production", "")
	{f.control | some f in r.findings} == cmp_all_controls
	{f.status | some f in r.findings} == {"pass"}
	{f.remediation | some f in r.findings} == {""}
	r.violations == []
}

test_compliance_findings_are_sorted_by_control if {
	r := cmp_run(cmp_good, "production", "")
	[f.control | some f in r.findings] == sort(cmp_all_controls)
}

test_compliance_bad_policy_fails if {
	r := cmp_run(cmp_bad, "production", "")
	cmp_status(r.findings) == {
		"hipaa.inactivity_logout": "fail", "hipaa.mfa_all": "fail", "hipaa.corporate_sso": "fail",
		"hipaa.ip_restrictions": "fail", "hipaa.direct_query_disabled": "fail", "hipaa.key_isolation": "fail",
		"pci_dss.inactivity": "fail", "pci_dss.mfa_privileged": "fail", "pci_dss.strong_auth": "fail",
		"pci_dss.network_segmentation": "fail", "pci_dss.direct_query_production": "fail",
		"sox.role_based_access": "fail", "sox.separation_of_duties": "pass", "sox.inactivity": "fail",
		"sox.audit_logging": "pass", "sox.change_approval": "pass",
		"gdpr.role_based_access": "fail", "gdpr.eu_residency": "fail", "gdpr.data_isolation": "fail",
		"gdpr.access_logging": "pass",
	}

	# no profile declared: nothing is a violation
	r.violations == []
}

test_compliance_hipaa_findings if {
	bad := cmp_run(cmp_bad, "production", "HIPAA").findings
	count(bad) == 6
	cmp_finding(bad, "hipaa.inactivity_logout") == {
		"control": "hipaa.inactivity_logout", "severity": "high", "status": "fail",
		"finding": "inactivity timeout 8h exceeds the HIPAA maximum of 4h",
		"remediation": "set inactivity_timeout to 4h or less",
	}
	cmp_finding(bad, "hipaa.mfa_all").finding == "MFA mode is off"
	cmp_finding(bad, "hipaa.corporate_sso").finding == "no provider restriction: password sign-in is possible"
	cmp_finding(bad, "hipaa.ip_restrictions").finding == "no IP allow list: any network may connect"
	cmp_finding(bad, "hipaa.ip_restrictions").severity == "medium"
	cmp_finding(bad, "hipaa.direct_query_disabled").finding == "direct database queries are allowed"
	cmp_finding(bad, "hipaa.key_isolation").finding == "cache keys are shared between workspaces"

	good := cmp_run(cmp_good, "production", "HIPAA").findings
	cmp_finding(good, "hipaa.inactivity_logout").finding == "inactivity timeout 2h is within the HIPAA maximum of 4h"
	cmp_finding(good, "hipaa.corporate_sso").finding == "sign-in is limited to google, saml:acme"
	cmp_finding(good, "hipaa.ip_restrictions").finding == "access is limited to 2 listed networks"
	cmp_finding(good, "hipaa.direct_query_disabled").finding == "direct database queries are disabled"
	cmp_finding(good, "hipaa.key_isolation").finding == "cache keys are isolated per tenant and environment"

	# SSO plus password is not corporate SSO
	mixed := cmp_run(object.union(cmp_good, {"auth_providers": {"allowed": ["saml:acme", "password"]}}), "production", "HIPAA").findings
	cmp_finding(mixed, "hipaa.corporate_sso").status == "fail"
	cmp_finding(mixed, "hipaa.corporate_sso").finding == "password sign-in is allowed"
}

test_compliance_timeout_boundaries if {
	at := cmp_run(object.union(cmp_good, {"inactivity_timeout_ns": 4 * fx_h}), "production", "").findings
	cmp_finding(at, "hipaa.inactivity_logout").status == "pass"
	cmp_finding(at, "sox.inactivity").status == "pass"
	cmp_finding(at, "pci_dss.inactivity").status == "fail"
	cmp_finding(at, "pci_dss.inactivity").finding == "inactivity timeout 4h exceeds the PCI_DSS maximum of 2h"

	over := cmp_run(object.union(cmp_good, {"inactivity_timeout_ns": (4 * fx_h) + fx_s}), "production", "SOX").findings
	cmp_finding(over, "sox.inactivity").status == "fail"

	# a timeout of 0 (none) never complies
	none := cmp_run(object.union(cmp_good, {"inactivity_timeout_ns": 0}), "production", "SOX").findings
	cmp_finding(none, "sox.inactivity").finding == "inactivity timeout 0s exceeds the SOX maximum of 4h"
}

test_compliance_pci_mfa_and_strong_auth if {
	privileged := object.union(cmp_good, {"mfa": {"mode": "privileged", "privileged_roles": ["admin", "dba"]}})
	p := cmp_run(privileged, "production", "PCI_DSS").findings
	cmp_finding(p, "pci_dss.mfa_privileged") == {
		"control": "pci_dss.mfa_privileged", "severity": "high", "status": "pass",
		"finding": "MFA is required for privileged roles admin, dba", "remediation": "",
	}

	# SSO only counts as strong authentication without MFA for all
	cmp_finding(p, "pci_dss.strong_auth").status == "pass"
	cmp_finding(p, "pci_dss.strong_auth").finding == "MFA mode is privileged; sign-in is limited to google, saml:acme"

	nobody := object.union(cmp_good, {"mfa": {"mode": "privileged", "privileged_roles": []}})
	n := cmp_run(nobody, "production", "PCI_DSS").findings
	cmp_finding(n, "pci_dss.mfa_privileged").status == "fail"
	cmp_finding(n, "pci_dss.mfa_privileged").finding == "MFA mode is privileged but no role is listed as privileged"

	weak := object.union(cmp_good, {"mfa": {"mode": "off"}, "auth_providers": {"allowed": ["password"]}})
	w := cmp_run(weak, "production", "PCI_DSS").findings
	cmp_finding(w, "pci_dss.mfa_privileged").finding == "MFA mode is off"
	cmp_finding(w, "pci_dss.strong_auth").status == "fail"

	# password with MFA for everyone is strong
	pwd := cmp_run(object.union(cmp_good, {"auth_providers": {"allowed": ["password"]}}), "production", "PCI_DSS").findings
	cmp_finding(pwd, "pci_dss.strong_auth").status == "pass"
}

test_compliance_pci_direct_query_in_production_only if {
	open_db := object.union(cmp_good, {"allow_direct_query": true})

	prod := cmp_run(open_db, "production", "PCI_DSS").findings
	cmp_finding(prod, "pci_dss.direct_query_production") == {
		"control": "pci_dss.direct_query_production", "severity": "high", "status": "fail",
		"finding": "direct database queries are allowed in production environment \"production\"",
		"remediation": "set allow_direct_query to false in production",
	}

	staging := cmp_run(object.union(open_db, {"preset": "staging"}), "staging", "PCI_DSS").findings
	cmp_finding(staging, "pci_dss.direct_query_production").status == "pass"
	cmp_finding(staging, "pci_dss.direct_query_production").finding == "environment \"staging\" is not production"

	# a custom environment on the production preset is production
	eu := cmp_run(open_db, "eu-prod", "PCI_DSS").findings
	cmp_finding(eu, "pci_dss.direct_query_production").status == "fail"
}

test_compliance_role_based_access if {
	none := cmp_run(cmp_bad, "production", "SOX").findings
	cmp_finding(none, "sox.role_based_access").finding == "no roles defined: access is not role-based"

	wild := object.union(cmp_good, {"roles": {"support": {"actions": ["*"]}, "ops": {"actions": ["api.read", "*"]}}})
	w := cmp_run(wild, "production", "GDPR").findings
	cmp_finding(w, "gdpr.role_based_access") == {
		"control": "gdpr.role_based_access", "severity": "high", "status": "fail",
		"finding": "roles other than admin granted every action (*): ops, support",
		"remediation": "define roles with need-to-know action lists; grant * to admin only",
	}

	good := cmp_run(cmp_good, "production", "SOX").findings
	cmp_finding(good, "sox.role_based_access").finding == "3 roles defined, only admin is granted every action"
}

test_compliance_separation_of_duties if {
	cases := [
		# actions of a role "ops", whether SoD holds
		[["admin.users.*", "orders.write"], false],
		[["admin.*", "files.delete"], false],
		[["admin.config.read", "reports.*"], false],
		[["admin.*", "db.direct_query"], false],
		[["*"], false],
		[["admin.*", "api.read"], true],
		[["admin.audit.*"], true],
		[["orders.write", "db.direct_query", "files.*"], true],
	]
	every c in cases {
		pol := object.union(cmp_good, {"roles": {"ops": {"actions": c[0]}}})
		f := cmp_finding(cmp_run(pol, "production", "SOX").findings, "sox.separation_of_duties")
		f.status == "pass" == c[1]
	}
	pol := object.union(cmp_good, {"roles": {"ops": {"actions": ["admin.users.*", "orders.write"]}}})
	f := cmp_finding(cmp_run(pol, "production", "SOX").findings, "sox.separation_of_duties")
	f.finding == "roles that both administer and change data: ops"
	f.remediation == "split administrative actions (admin.*) and data changes into separate roles"
}

test_compliance_gdpr_residency if {
	anywhere := cmp_run(cmp_bad, "production", "GDPR").findings
	cmp_finding(anywhere, "gdpr.eu_residency").finding == "no country restriction: access from anywhere"

	us := cmp_run(object.union(cmp_good, {"countries": {"allowed": ["FR", "US", "CH"]}}), "production", "GDPR").findings
	cmp_finding(us, "gdpr.eu_residency").status == "fail"
	cmp_finding(us, "gdpr.eu_residency").finding == "allowed countries outside the EU/EEA: CH, US"

	eea := cmp_run(cmp_good, "production", "GDPR").findings
	cmp_finding(eea, "gdpr.eu_residency").finding == "access is limited to EU/EEA countries (DE, FR, NO)"
	cmp_finding(eea, "gdpr.data_isolation").status == "pass"
	cmp_finding(eea, "gdpr.access_logging").status == "pass"
}

test_compliance_framework_selection if {
	count(cmp_run(cmp_good, "production", "HIPAA").findings) == 6
	count(cmp_run(cmp_good, "production", "pci_dss").findings) == 5
	count(cmp_run(cmp_good, "production", "Sox").findings) == 5
	count(cmp_run(cmp_good, "production", "GDPR").findings) == 4
	cmp_run(cmp_good, "production", "ISO27001").findings == []
	compliance.frameworks == {"HIPAA", "PCI_DSS", "SOX", "GDPR"}
}

test_compliance_violations_follow_declared_profiles if {
	declared := object.union(cmp_bad, {"compliance": ["PCI_DSS", "GDPR"]})
	r := cmp_run(declared, "production", "HIPAA")
	{f.control | some f in r.violations} == {
		"pci_dss.inactivity", "pci_dss.mfa_privileged", "pci_dss.strong_auth",
		"pci_dss.network_segmentation", "pci_dss.direct_query_production",
		"gdpr.role_based_access", "gdpr.eu_residency", "gdpr.data_isolation",
	}
	{f.status | some f in r.violations} == {"fail"}

	# findings still follow the requested framework
	{f.control | some f in r.findings; startswith(f.control, "hipaa.")} == {f.control | some f in r.findings}

	ok := cmp_run(object.union(cmp_good, {"compliance": ["HIPAA", "PCI_DSS", "SOX", "GDPR"]}), "production", "")
	ok.violations == []
}

test_compliance_reviews_a_candidate_policy if {
	candidate := object.union(cmp_good, {"compliance": ["HIPAA"], "mfa": {"mode": "privileged", "privileged_roles": ["admin"]}})
	v := compliance.violations with input as {"tenant": "acme", "environment": "production", "policy": candidate}
		with data.tenants as {"acme": {"plan": "enterprise", "environments": {"production": cmp_good}}}
	v == [{
		"control": "hipaa.mfa_all", "severity": "high", "status": "fail",
		"finding": "MFA mode is privileged",
		"remediation": "set mfa.mode to all: HIPAA requires a second factor for every user",
	}]

	# without a tenant in data at all
	w := compliance.violations with input as {"policy": candidate} with data.tenants as {}
	count(w) == 1
}

test_compliance_environment_defaults_to_production if {
	f := compliance.findings with input as {"tenant": "acme", "framework": "PCI_DSS"}
		with data.tenants as {"acme": {"plan": "enterprise", "environments": {"production": object.union(cmp_good, {"allow_direct_query": true})}}}
	cmp_finding(f, "pci_dss.direct_query_production").status == "fail"
}

test_compliance_unknown_tenant_has_no_findings if {
	not compliance.findings with input as {"tenant": "globex", "environment": "production", "framework": "HIPAA"}
		with data.tenants as {}
}

test_compliance_unknown_environment_has_no_violations if {
	not compliance.violations with input as {"tenant": "acme", "environment": "qa"}
		with data.tenants as {"acme": {"plan": "enterprise", "environments": {"production": cmp_good}}}
}
