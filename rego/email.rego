# Allowed email domains (the "allowed SSO hosts" of the guide).
#
# Reads policy.email_domains: [{domain, include_subdomains}] (empty: control
# silent) and input.subject.email.
#
# The subject's domain is what follows the last "@", lowercased, with one
# trailing dot removed ("ada@Acme.COM." -> "acme.com"). It is allowed when
# it equals a listed domain, or, only where that entry sets
# include_subdomains, ends with "." + domain. So for "acme.com":
#   acme.com            allowed
#   eu.acme.com         allowed only with include_subdomains
#   evilacme.com        never (no dot boundary)
#   acme.com.evil.io    never (suffix, not prefix, decides)
#
# An email that is missing or malformed (no "@", nothing before it, white
# space, or a domain that is not a dot-separated list of letters, digits
# and inner hyphens) cannot prove its domain, so it denies with its own code
# authn.email_invalid, so that a PEP can tell "fix your profile" from
# "wrong organisation".
#
# Emits (rule email.domain):
#   deny authn.email_domain_not_allowed
#   deny authn.email_invalid  (new code)
package pdp.controls.email

import data.pdp.policy
import data.pdp.text_list

address := object.get(input, ["subject", "email"], "")

parts := split(address, "@")

# "" when the address has no "@" (it is then not valid either). The
# defaults make partial evaluation keep domain and valid as
# support rules, each computed once, not inlined into every rule.
default domain := ""

domain := trim_suffix(lower(parts[count(parts) - 1]), ".") if count(parts) > 1

local := concat("@", array.slice(parts, 0, count(parts) - 1))

default valid := false

valid if {
	local != ""
	regex.match(`^\S*$`, address)
	regex.match(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`, domain)
}

allowed_by contains entry.domain if {
	some entry in policy.email_domains
	domain_matches(domain, entry)
}

domain_matches(d, entry) if d == normal(entry.domain)

domain_matches(d, entry) if {
	entry.include_subdomains == true
	endswith(d, concat("", [".", normal(entry.domain)]))
}

normal(d) := trim_suffix(lower(d), ".")

allowed_text := text_list([entry_text(entry) | some entry in policy.email_domains])

entry_text(entry) := sprintf("%s and its subdomains", [entry.domain]) if {
	entry.include_subdomains == true
} else := entry.domain

# Quiet: no domain list, or a valid email whose domain is listed. The common
# case (the domain itself is listed) is checked first, in one body without
# the helpers above; anything else is decided by them.
default quiet := false

quiet if {
	domains := policy.email_domains
	count(domains) > 0
	segments := split(input.subject.email, "@")
	n := count(segments)
	n > 1
	segments[0] != ""
	regex.match(`^\S*$`, input.subject.email)
	d := trim_suffix(lower(segments[n - 1]), ".")
	regex.match(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`, d)
	some entry in domains
	d == trim_suffix(lower(entry.domain), ".")
}

quiet if count(object.get(policy, "email_domains", [])) == 0

quiet if {
	valid
	count(allowed_by) > 0
}

deny contains {
	"code": "authn.email_invalid",
	"message": invalid_text,
	"rule": "email.domain",
} if {
	count(policy.email_domains) > 0
	not valid
}

invalid_text := "the subject has no email, so its domain cannot be checked" if {
	address == ""
}

invalid_text := sprintf("subject email %q is not a valid address", [address]) if {
	address != ""
}

deny contains {
	"code": "authn.email_domain_not_allowed",
	"message": sprintf("email domain %s is not allowed; allowed: %s", [domain, allowed_text]),
	"rule": "email.domain",
} if {
	count(policy.email_domains) > 0
	valid
	count(allowed_by) == 0
}

checks contains {
	"rule": "email.domain",
	"code": "authn.email_domain_not_allowed",
	"effect": "deny",
	"message": sprintf("email domain %s is allowed by %s", [domain, text_list(allowed_by)]),
} if {
	count(policy.email_domains) > 0
	valid
	count(allowed_by) > 0
}
