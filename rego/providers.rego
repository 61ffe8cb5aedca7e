# Authentication provider enforcement (SSO only), with break-glass access
# while SSO is down.
#
# Reads policy.auth_providers:
#   allowed    providers a subject may sign in with ("google", "saml:acme",
#              exact names); empty: any provider (control silent)
#   emergency  { enabled, providers, break_glass_users, max_duration_ns }
# and input.authentication.provider, input.subject.{id,email},
# input.signals.{sso_available,sso_down_since_ns}, input.time_ns.
#
# A provider outside the allowed list challenges the subject to sign in
# with an allowed one. Emergency access accepts it instead when all hold:
#   - emergency.enabled;
#   - the provider is listed in emergency.providers (an empty list accepts
#     none: the fallback must be named explicitly);
#   - input.signals.sso_available is false: an admin marked SSO down
#     (SetSSOStatus). An absent signal is not an outage;
#   - the subject's id or email is in emergency.break_glass_users;
#   - when emergency.max_duration_ns is set, time_ns is less than that
#     long after input.signals.sso_down_since_ns (when SSO was last marked
#     down). A bounded window whose start is unknown counts as ended: a
#     forgotten outage must not keep break-glass access open.
# Everybody else still gets the challenge during an outage; so does a
# break-glass account once the window has ended, the message saying so.
#
# Emits:
#   challenge authn.provider_not_allowed  (rule providers.allowed), step-up
#             use_provider with allowed_providers
#   notice    authn.emergency_access      (rule providers.emergency), with
#             obligations audit and notify_security
#             {provider, user, reason: "authn.emergency_access"}
package pdp

providers_provider := object.get(input, ["authentication", "provider"], "")

# Quiet: the provider is allowed (or any is). Every rule of this module
# needs a rejected provider.
default providers_quiet := false

providers_quiet if input.authentication.provider in policy.auth_providers.allowed

providers_quiet if count(object.get(policy, ["auth_providers", "allowed"], [])) == 0

default providers_rejected := false

providers_rejected if {
	allowed := policy.auth_providers.allowed
	count(allowed) > 0
	provider := providers_provider
	not provider in allowed
}

# SSO marked down by an admin, and the tenant enabled the fallback.
default providers_outage := false

providers_outage if {
	policy.auth_providers.emergency.enabled == true
	input.signals.sso_available == false
}

default providers_emergency_provider := false

providers_emergency_provider if providers_provider in policy.auth_providers.emergency.providers

default providers_break_glass := false

providers_break_glass if {
	input.subject.id != ""
	input.subject.id in policy.auth_providers.emergency.break_glass_users
}

providers_break_glass if {
	input.subject.email != ""
	input.subject.email in policy.auth_providers.emergency.break_glass_users
}

# The emergency window has ended: SSO was marked down max_duration_ns or
# more ago.
default providers_window_ended := false

providers_window_ended if {
	input.time_ns - input.signals.sso_down_since_ns >= policy.auth_providers.emergency.max_duration_ns
}

# A bounded window without a start cannot be shown to be open.
providers_window_ended if {
	policy.auth_providers.emergency.max_duration_ns
	not input.signals.sso_down_since_ns
}

default providers_emergency := false

providers_emergency if {
	providers_rejected
	providers_outage
	providers_emergency_provider
	providers_break_glass
	not providers_window_ended
}

providers_user := input.subject.id if {
	input.subject.id != ""
}

providers_user := object.get(input, ["subject", "email"], "") if {
	object.get(input, ["subject", "id"], "") == ""
}

library_challenge contains {
	"code": "authn.provider_not_allowed",
	"message": sprintf("provider %q is not allowed; sign in with %s%s", [
		providers_provider,
		text_list(policy.auth_providers.allowed),
		providers_outage_note,
	]),
	"rule": "providers.allowed",
	"step_ups": [{
		"kind": "use_provider",
		"reason_code": "authn.provider_not_allowed",
		"allowed_providers": sort(policy.auth_providers.allowed),
	}],
} if {
	providers_quiet == false
	providers_rejected
	not providers_emergency
}

# Why an outage did not open emergency access, for the challenge message.
# The cases are mutually exclusive, for partial evaluation (no "else").
default providers_outage_note := ""

providers_outage_note := sprintf(" (SSO is down, but emergency access does not cover provider %q)", [providers_provider]) if {
	providers_outage
	not providers_emergency_provider
}

providers_outage_note := " (SSO is down, but emergency access is for break-glass accounts only)" if {
	providers_outage
	providers_emergency_provider
	not providers_break_glass
}

providers_outage_note := sprintf(" (SSO is down, but emergency access ended at %s, %s after SSO was marked down)", [
	text_time(since + window),
	text_duration(window),
]) if {
	providers_outage
	providers_emergency_provider
	providers_break_glass
	providers_window_ended
	since := input.signals.sso_down_since_ns
	window := policy.auth_providers.emergency.max_duration_ns
}

providers_outage_note := sprintf(" (SSO is down, but emergency access ended: it lasts %s and when SSO was marked down is unknown)", [
	text_duration(policy.auth_providers.emergency.max_duration_ns),
]) if {
	providers_outage
	providers_emergency_provider
	providers_break_glass
	providers_window_ended
	not input.signals.sso_down_since_ns
}

library_notices contains {
	"code": "authn.emergency_access",
	"message": sprintf("break-glass account %q signed in with %q while SSO is unavailable", [providers_user, providers_provider]),
	"rule": "providers.emergency",
} if {
	providers_quiet == false
	providers_emergency
}

library_obligations contains {
	"kind": kind,
	"params": {
		"provider": providers_provider,
		"user": providers_user,
		"reason": "authn.emergency_access",
	},
} if {
	providers_quiet == false
	providers_emergency
	some kind in ["audit", "notify_security"]
}

checks contains {
	"rule": "providers.allowed",
	"code": "authn.provider_not_allowed",
	"effect": "challenge",
	"message": sprintf("provider %q is allowed", [providers_provider]),
} if {
	count(policy.auth_providers.allowed) > 0
	not providers_rejected
}
