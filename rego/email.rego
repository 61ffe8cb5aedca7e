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
package pdp

email_address := object.get(input, ["subject", "email"], "")

email_parts := split(email_address, "@")

# "" when the address has no "@" (it is then not valid either). The
# defaults make partial evaluation keep email_domain and email_valid as
# support rules, each computed once, not inlined into every rule.
default email_domain := ""

email_domain := trim_suffix(lower(email_parts[count(email_parts) - 1]), ".") if count(email_parts) > 1

email_local := concat("@", array.slice(email_parts, 0, count(email_parts) - 1))

default email_valid := false

email_valid if {
	email_local != ""
	regex.match(`^\S*$`, email_address)
	regex.match(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`, email_domain)
}

email_allowed_by contains entry.domain if {
	some entry in policy.email_domains
	email_domain_matches(email_domain, entry)
}

email_domain_matches(domain, entry) if domain == email_normal(entry.domain)

email_domain_matches(domain, entry) if {
	entry.include_subdomains == true
	endswith(domain, concat("", [".", email_normal(entry.domain)]))
}

email_normal(d) := trim_suffix(lower(d), ".")

email_allowed_text := text_list([email_entry_text(entry) | some entry in policy.email_domains])

email_entry_text(entry) := sprintf("%s and its subdomains", [entry.domain]) if {
	entry.include_subdomains == true
} else := entry.domain

# Quiet: no domain list, or a valid email whose domain is listed. The common
# case (the domain itself is listed) is checked first, in one body without
# the helpers above; anything else is decided by them.
default email_quiet := false

email_quiet if {
	domains := policy.email_domains
	count(domains) > 0
	parts := split(input.subject.email, "@")
	n := count(parts)
	n > 1
	parts[0] != ""
	regex.match(`^\S*$`, input.subject.email)
	domain := trim_suffix(lower(parts[n - 1]), ".")
	regex.match(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`, domain)
	some entry in domains
	domain == trim_suffix(lower(entry.domain), ".")
}

email_quiet if count(object.get(policy, "email_domains", [])) == 0

email_quiet if {
	email_valid
	count(email_allowed_by) > 0
}

library_deny contains {
	"code": "authn.email_invalid",
	"message": email_invalid_text,
	"rule": "email.domain",
} if {
	email_quiet == false
	count(policy.email_domains) > 0
	not email_valid
}

email_invalid_text := "the subject has no email, so its domain cannot be checked" if {
	email_address == ""
}

email_invalid_text := sprintf("subject email %q is not a valid address", [email_address]) if {
	email_address != ""
}

library_deny contains {
	"code": "authn.email_domain_not_allowed",
	"message": sprintf("email domain %s is not allowed; allowed: %s", [email_domain, email_allowed_text]),
	"rule": "email.domain",
} if {
	email_quiet == false
	count(policy.email_domains) > 0
	email_valid
	count(email_allowed_by) == 0
}

checks contains {
	"rule": "email.domain",
	"code": "authn.email_domain_not_allowed",
	"effect": "deny",
	"message": sprintf("email domain %s is allowed by %s", [email_domain, text_list(email_allowed_by)]),
} if {
	count(policy.email_domains) > 0
	email_valid
	count(email_allowed_by) > 0
}
