# Compliance profiles: HIPAA, PCI_DSS, SOX and GDPR checked against a tenant
# environment's effective policy (the guide's "Compliance Framework
# Implementation" tables).
#
# Query it with this input (ComplianceReport, PutTenantPolicy, `pdp
# compliance`):
#
#   input.tenant, input.environment  select
#                    data.tenants[tenant].environments[environment]
#                    (environment "" or absent = "production")
#   input.policy     optional: an effective policy to review instead, in the
#                    data.tenants shape of one environment; the server passes
#                    a candidate policy here before accepting it
#   input.framework  "HIPAA" | "PCI_DSS" | "SOX" | "GDPR", any case; "" or
#                    absent = all four
#
# Documents:
#   findings    [{control, severity, status, finding, remediation}] of the
#               requested frameworks, sorted by control; status is "pass" or
#               "fail", severity "critical" | "high" | "medium" | "low",
#               remediation "" when the control passes
#   violations  the failed findings of every profile the reviewed policy
#               declares in its own `compliance` field: non-empty means the
#               policy breaks a profile it claims, and the server refuses it
#               with FAILED_PRECONDITION listing each control
#   frameworks  the profile names this module knows
# findings and violations are undefined when there is no policy to review
# (unknown tenant or environment, and no input.policy).
# and, for callers that hold the policy themselves,
#   framework_findings(policy, environment, framework)  the set of findings
#
# Controls:
#   hipaa.inactivity_logout    inactivity timeout <= 4h
#   hipaa.mfa_all              mfa.mode all
#   hipaa.corporate_sso        allowed providers set and without "password"
#   hipaa.ip_restrictions      ip_allowlist set
#   hipaa.direct_query_disabled  allow_direct_query false
#   hipaa.key_isolation        key_isolation true
#   pci_dss.inactivity         inactivity timeout <= 2h
#   pci_dss.mfa_privileged     mfa.mode all, or privileged with roles listed
#   pci_dss.strong_auth        mfa.mode all, or SSO only (allowed providers
#                              set and without "password")
#   pci_dss.network_segmentation  ip_allowlist set
#   pci_dss.direct_query_production  a production environment (its name or
#                              its preset) has allow_direct_query false
#   sox.role_based_access      roles defined, and no role but "admin" is
#                              granted "*"
#   sox.separation_of_duties   no role but "admin" both administers (a
#                              pattern "*" or "admin.<...>") and changes data
#                              ("*", "*.write", "*.delete", a namespace
#                              wildcard "x.*", or "db.<...>" outside admin.)
#   sox.inactivity             inactivity timeout <= 4h
#   sox.audit_logging          pass: the server writes every administrative
#                              change to a hash-chained audit log
#   sox.change_approval        pass: the server requires a second approver
#                              for policy changes of SOX tenants
#   gdpr.role_based_access     as sox.role_based_access (need-to-know)
#   gdpr.eu_residency          countries.allowed set and within the EU/EEA
#   gdpr.data_isolation        key_isolation true
#   gdpr.access_logging        pass: every decision and administrative
#                              change is logged with its subject
package pdp.compliance

frameworks := {"HIPAA", "PCI_DSS", "SOX", "GDPR"}

reviewed_environment := input.environment if {
	input.environment != ""
} else := "production"

reviewed_policy := input.policy if {
	input.policy
} else := data.tenants[input.tenant].environments[reviewed_environment]

requested := {upper(input.framework)} if {
	input.framework != ""
} else := frameworks

findings := sort({f |
	some framework in requested
	some f in framework_findings(reviewed_policy, reviewed_environment, framework)
}) if {
	reviewed_policy
}

violations := sort({f |
	some framework in object.get(reviewed_policy, "compliance", [])
	some f in framework_findings(reviewed_policy, reviewed_environment, framework)
	f.status == "fail"
}) if {
	reviewed_policy
}

# ---------------------------------------------------------------------------
# Building blocks

# result builds a finding from whether the control holds.
result(control, severity, true, finding, _) := {
	"control": control,
	"severity": severity,
	"status": "pass",
	"finding": finding,
	"remediation": "",
}

result(control, severity, false, finding, remediation) := {
	"control": control,
	"severity": severity,
	"status": "fail",
	"finding": finding,
	"remediation": remediation,
}

hours(ns) := data.pdp.text_duration(ns)

timeout_result(control, severity, p, framework, cap) := result(
	control, severity, true,
	sprintf("inactivity timeout %s is within the %s maximum of %s", [hours(p.inactivity_timeout_ns), framework, hours(cap)]),
	"",
) if {
	p.inactivity_timeout_ns > 0
	p.inactivity_timeout_ns <= cap
} else := result(
	control, severity, false,
	sprintf("inactivity timeout %s exceeds the %s maximum of %s", [hours(object.get(p, "inactivity_timeout_ns", 0)), framework, hours(cap)]),
	sprintf("set inactivity_timeout to %s or less", [hours(cap)]),
)

allowed_providers(p) := object.get(p, ["auth_providers", "allowed"], [])

sso_only(p) if {
	providers := allowed_providers(p)
	count(providers) > 0
	not "password" in providers
}

default sso_only(_) := false

providers_text(p) := sprintf("sign-in is limited to %s", [concat(", ", sort(allowed_providers(p)))]) if {
	sso_only(p)
} else := "no provider restriction: password sign-in is possible" if {
	count(allowed_providers(p)) == 0
} else := "password sign-in is allowed"

mfa_mode(p) := object.get(p, ["mfa", "mode"], "off")

privileged_roles(p) := object.get(p, ["mfa", "privileged_roles"], [])

ip_allowlist(p) := object.get(p, "ip_allowlist", [])

ip_text(p) := sprintf("access is limited to %d listed networks", [count(ip_allowlist(p))]) if {
	count(ip_allowlist(p)) > 0
} else := "no IP allow list: any network may connect"

# Roles other than admin that are granted every action.
wildcard_roles(p) := {name |
	some name, role in object.get(p, "roles", {})
	name != "admin"
	"*" in role.actions
}

rbac_ok(p) if {
	count(object.get(p, "roles", {})) > 0
	count(wildcard_roles(p)) == 0
}

default rbac_ok(_) := false

rbac_text(p) := sprintf("%d roles defined, only admin is granted every action", [count(p.roles)]) if {
	rbac_ok(p)
} else := "no roles defined: access is not role-based" if {
	count(object.get(p, "roles", {})) == 0
} else := sprintf("roles other than admin granted every action (*): %s", [concat(", ", sort(wildcard_roles(p)))])

administers(pattern) if pattern == "*"

administers(pattern) if startswith(pattern, "admin.")

changes_data(pattern) if pattern == "*"

changes_data(pattern) if {
	not startswith(pattern, "admin.")
	some suffix in [".write", ".delete", ".*"]
	endswith(pattern, suffix)
}

changes_data(pattern) if startswith(pattern, "db.")

# Roles other than admin that both administer and change data.
sod_conflicts(p) := {name |
	some name, role in object.get(p, "roles", {})
	name != "admin"
	some a in role.actions
	administers(a)
	some c in role.actions
	changes_data(c)
}

sod_text(p) := "no role but admin combines administration with data changes" if {
	count(sod_conflicts(p)) == 0
} else := sprintf("roles that both administer and change data: %s", [concat(", ", sort(sod_conflicts(p)))])

eu_eea := {
	"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
	"IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
	"IS", "LI", "NO",
}

allowed_countries(p) := object.get(p, ["countries", "allowed"], [])

outside_eu(p) := {c | some c in allowed_countries(p); not c in eu_eea}

residency_ok(p) if {
	count(allowed_countries(p)) > 0
	count(outside_eu(p)) == 0
}

default residency_ok(_) := false

residency_text(p) := sprintf("access is limited to EU/EEA countries (%s)", [concat(", ", sort(allowed_countries(p)))]) if {
	residency_ok(p)
} else := "no country restriction: access from anywhere" if {
	count(allowed_countries(p)) == 0
} else := sprintf("allowed countries outside the EU/EEA: %s", [concat(", ", sort(outside_eu(p)))])

production(_, environment) if environment == "production"

production(p, _) if p.preset == "production"

direct_query_text(p) := "direct database queries are disabled" if {
	p.allow_direct_query == false
} else := "direct database queries are allowed"

isolation_text(p) := "cache keys are isolated per tenant and environment" if {
	p.key_isolation == true
} else := "cache keys are shared between workspaces"

# ---------------------------------------------------------------------------
# HIPAA

framework_findings(p, _, "HIPAA") := {
	timeout_result("hipaa.inactivity_logout", "high", p, "HIPAA", 14400000000000),
	result(
		"hipaa.mfa_all", "high", mfa_mode(p) == "all",
		sprintf("MFA mode is %s", [mfa_mode(p)]),
		"set mfa.mode to all: HIPAA requires a second factor for every user",
	),
	result(
		"hipaa.corporate_sso", "high", sso_only(p),
		providers_text(p),
		"set auth_providers.allowed to the corporate SSO providers only (saml:, oidc:, google, microsoft), without password",
	),
	result(
		"hipaa.ip_restrictions", "medium", count(ip_allowlist(p)) > 0,
		ip_text(p),
		"set ip_allowlist to the office and VPN networks",
	),
	result(
		"hipaa.direct_query_disabled", "high", object.get(p, "allow_direct_query", true) == false,
		direct_query_text(p),
		"set allow_direct_query to false",
	),
	result(
		"hipaa.key_isolation", "medium", object.get(p, "key_isolation", false) == true,
		isolation_text(p),
		"set key_isolation to true",
	),
}

# ---------------------------------------------------------------------------
# PCI DSS

framework_findings(p, environment, "PCI_DSS") := {
	timeout_result("pci_dss.inactivity", "high", p, "PCI_DSS", 7200000000000),
	result(
		"pci_dss.mfa_privileged", "high", pci_mfa_privileged(p),
		pci_mfa_text(p),
		"set mfa.mode to all, or to privileged with every privileged role in mfa.privileged_roles",
	),
	result(
		"pci_dss.strong_auth", "high", pci_strong_auth(p),
		sprintf("MFA mode is %s; %s", [mfa_mode(p), providers_text(p)]),
		"set mfa.mode to all, or allow only SSO providers in auth_providers.allowed",
	),
	result(
		"pci_dss.network_segmentation", "medium", count(ip_allowlist(p)) > 0,
		ip_text(p),
		"set ip_allowlist to the segmented networks that may reach cardholder data",
	),
	pci_direct_query(p, environment),
}

pci_mfa_privileged(p) if mfa_mode(p) == "all"

pci_mfa_privileged(p) if {
	mfa_mode(p) == "privileged"
	count(privileged_roles(p)) > 0
}

default pci_mfa_privileged(_) := false

pci_mfa_text(p) := sprintf("MFA is required for privileged roles %s", [concat(", ", sort(privileged_roles(p)))]) if {
	mfa_mode(p) == "privileged"
	count(privileged_roles(p)) > 0
} else := "MFA mode is privileged but no role is listed as privileged" if {
	mfa_mode(p) == "privileged"
} else := sprintf("MFA mode is %s", [mfa_mode(p)])

pci_strong_auth(p) if mfa_mode(p) == "all"

pci_strong_auth(p) if sso_only(p)

default pci_strong_auth(_) := false

pci_direct_query(p, environment) := result(
	"pci_dss.direct_query_production", "high", object.get(p, "allow_direct_query", true) == false,
	sprintf("%s in production environment %q", [direct_query_text(p), environment]),
	"set allow_direct_query to false in production",
) if {
	production(p, environment)
} else := result(
	"pci_dss.direct_query_production", "high", true,
	sprintf("environment %q is not production", [environment]),
	"",
)

# ---------------------------------------------------------------------------
# SOX

framework_findings(p, _, "SOX") := {
	result(
		"sox.role_based_access", "high", rbac_ok(p),
		rbac_text(p),
		"define roles with least-privilege action lists; grant * to admin only",
	),
	result(
		"sox.separation_of_duties", "high", count(sod_conflicts(p)) == 0,
		sod_text(p),
		"split administrative actions (admin.*) and data changes into separate roles",
	),
	timeout_result("sox.inactivity", "medium", p, "SOX", 14400000000000),
	result(
		"sox.audit_logging", "high", true,
		"every administrative change is written to the hash-chained audit log",
		"",
	),
	result(
		"sox.change_approval", "medium", true,
		"policy changes of SOX tenants need a second approver",
		"",
	),
}

# ---------------------------------------------------------------------------
# GDPR

framework_findings(p, _, "GDPR") := {
	result(
		"gdpr.role_based_access", "high", rbac_ok(p),
		rbac_text(p),
		"define roles with need-to-know action lists; grant * to admin only",
	),
	result(
		"gdpr.eu_residency", "high", residency_ok(p),
		residency_text(p),
		"set countries.allowed to EU/EEA countries only",
	),
	result(
		"gdpr.data_isolation", "high", object.get(p, "key_isolation", false) == true,
		isolation_text(p),
		"set key_isolation to true",
	),
	result(
		"gdpr.access_logging", "medium", true,
		"every decision and administrative change is logged with its subject",
		"",
	),
}
