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
package pdp.controls.providers

import data.pdp.policy
import data.pdp.text_duration
import data.pdp.text_list
import data.pdp.text_time

provider := object.get(input, ["authentication", "provider"], "")

# Quiet: the provider is allowed (or any is). Every rule of this module
# needs a rejected provider.
default quiet := false

quiet if input.authentication.provider in policy.auth_providers.allowed

quiet if count(object.get(policy, ["auth_providers", "allowed"], [])) == 0

default rejected := false

rejected if {
	allowed := policy.auth_providers.allowed
	count(allowed) > 0
	given := provider
	not given in allowed
}

# SSO marked down by an admin, and the tenant enabled the fallback.
default outage := false

outage if {
	policy.auth_providers.emergency.enabled == true
	input.signals.sso_available == false
}

default emergency_provider := false

emergency_provider if provider in policy.auth_providers.emergency.providers

default break_glass := false

break_glass if {
	input.subject.id != ""
	input.subject.id in policy.auth_providers.emergency.break_glass_users
}

break_glass if {
	input.subject.email != ""
	input.subject.email in policy.auth_providers.emergency.break_glass_users
}

# The emergency window has ended: SSO was marked down max_duration_ns or
# more ago.
default window_ended := false

window_ended if {
	input.time_ns - input.signals.sso_down_since_ns >= policy.auth_providers.emergency.max_duration_ns
}

# A bounded window without a start cannot be shown to be open.
window_ended if {
	policy.auth_providers.emergency.max_duration_ns
	not input.signals.sso_down_since_ns
}

default emergency := false

emergency if {
	rejected
	outage
	emergency_provider
	break_glass
	not window_ended
}

user := input.subject.id if {
	input.subject.id != ""
}

user := object.get(input, ["subject", "email"], "") if {
	object.get(input, ["subject", "id"], "") == ""
}

challenge contains {
	"code": "authn.provider_not_allowed",
	"message": sprintf("provider %q is not allowed; sign in with %s%s", [
		provider,
		text_list(policy.auth_providers.allowed),
		outage_note,
	]),
	"rule": "providers.allowed",
	"step_ups": [{
		"kind": "use_provider",
		"reason_code": "authn.provider_not_allowed",
		"allowed_providers": sort(policy.auth_providers.allowed),
	}],
} if {
	rejected
	not emergency
}

# Why an outage did not open emergency access, for the challenge message.
# The cases are mutually exclusive, for partial evaluation (no "else").
default outage_note := ""

outage_note := sprintf(" (SSO is down, but emergency access does not cover provider %q)", [provider]) if {
	outage
	not emergency_provider
}

outage_note := " (SSO is down, but emergency access is for break-glass accounts only)" if {
	outage
	emergency_provider
	not break_glass
}

outage_note := sprintf(" (SSO is down, but emergency access ended at %s, %s after SSO was marked down)", [
	text_time(since + window),
	text_duration(window),
]) if {
	outage
	emergency_provider
	break_glass
	window_ended
	since := input.signals.sso_down_since_ns
	window := policy.auth_providers.emergency.max_duration_ns
}

outage_note := sprintf(" (SSO is down, but emergency access ended: it lasts %s and when SSO was marked down is unknown)", [
	text_duration(policy.auth_providers.emergency.max_duration_ns),
]) if {
	outage
	emergency_provider
	break_glass
	window_ended
	not input.signals.sso_down_since_ns
}

notices contains {
	"code": "authn.emergency_access",
	"message": sprintf("break-glass account %q signed in with %q while SSO is unavailable", [user, provider]),
	"rule": "providers.emergency",
} if {
	emergency
}

obligations contains {
	"kind": kind,
	"params": {
		"provider": provider,
		"user": user,
		"reason": "authn.emergency_access",
	},
} if {
	emergency
	some kind in ["audit", "notify_security"]
}

checks contains {
	"rule": "providers.allowed",
	"code": "authn.provider_not_allowed",
	"effect": "challenge",
	"message": sprintf("provider %q is allowed", [provider]),
} if {
	count(policy.auth_providers.allowed) > 0
	not rejected
}
