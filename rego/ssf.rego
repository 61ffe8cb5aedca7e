# Continuous access evaluation: the effects of the OpenID Shared Signals
# events (CAEP 1.0, RISC 1.0) the server received for the request's user,
# session or device (docs/continuous-evaluation.md).
#
# Reads input.signals.ssf.events (each {event, stream, jti, event_time_ns,
# level?, status?, reason?}; present only when an event acts), input.session.started_at_ns, input.authentication
# {authenticated_at_ns, mfa_verified_at_ns}, input.device.id and
# policy.shared_signals (absent: every effect enforced with the defaults).
# An effect set to "off" emits nothing; one set to "report_only" emits as
# usual and the server lists its codes in policy.report_only_rules, so the
# core reports it without enforcing it.
#
# Emits:
#   deny      session.revoked (rule ssf.session_revoked): session-revoked
#             (CAEP) or sessions-revoked (RISC), for a session that started
#             before the event (the session's start, else the
#             authentication's; neither known counts as before)
#   deny      account.disabled, account.purged (rule ssf.account): RISC
#             account-disabled, account-purged, until account-enabled
#   challenge ssf.credential_change (rule ssf.credential_change):
#             reauthenticate while the authentication predates a CAEP
#             credential-change
#   challenge ssf.credential_compromise (rule ssf.credential_compromise):
#             the same for RISC credential-compromise and
#             account-credential-change-required
#   challenge ssf.claims_change (rule ssf.claims_change): the step-up of
#             shared_signals.claims_change_step_up (mfa: a second factor,
#             reauthenticate: a sign-in) while its proof predates a CAEP
#             token-claims-change or assurance-level-change
#   notice    ssf.device_not_compliant (rule ssf.device_compliance): CAEP
#             device-compliance-change to not-compliant; the server marks
#             the device non-compliant (input.device.compliant false), so
#             the device rules and the untrusted_device factor apply
# risk.rego adds the external_risk factor of CAEP risk-level-change.
package pdp.controls.ssf

import data.pdp.policy
import data.pdp.text_time

events := input.signals.ssf.events

# Quiet: no event acts on the request, or there is no policy.
default quiet := false

quiet if object.get(input, ["signals", "ssf"], null) == null

quiet if not policy

mode(effect) := object.get(policy, ["shared_signals", effect], "enforce")

# When the session started: the session's start, else the authentication's,
# else 0 (unknown counts as before every event).
session_start := object.get(input, ["session", "started_at_ns"], object.get(input, ["authentication", "authenticated_at_ns"], 0))

authenticated := object.get(input, ["authentication", "authenticated_at_ns"], 0)

mfa_verified := object.get(input, ["authentication", "mfa_verified_at_ns"], 0)

text(e) := sprintf("%s from stream %s at %s (jti %s)%s", [
	e.event, e.stream, text_time(e.event_time_ns), e.jti, reason_text(e),
])

default reason_text(_) := ""

reason_text(e) := sprintf(": %s", [e.reason]) if {
	e.reason != ""
}

# ---------------------------------------------------------------------------
# Sessions revoked

revocations := {"session-revoked", "sessions-revoked"}

deny contains {
	"code": "session.revoked",
	"message": sprintf("the session started before its revocation: %s", [text(e)]),
	"rule": "ssf.session_revoked",
} if {
	mode("session_revoked") != "off"
	some e in events
	e.event in revocations
	session_start < e.event_time_ns
}

checks contains {
	"rule": "ssf.session_revoked",
	"code": "session.revoked",
	"effect": "deny",
	"message": sprintf("the session started at %s, after the revocation: %s", [text_time(session_start), text(e)]),
} if {
	some e in events
	e.event in revocations
	session_start >= e.event_time_ns
}

# ---------------------------------------------------------------------------
# Accounts disabled or purged

account_codes := {"account-disabled": "account.disabled", "account-purged": "account.purged"}

deny contains {
	"code": code,
	"message": sprintf("the account is %s: %s", [trim_prefix(e.event, "account-"), text(e)]),
	"rule": "ssf.account",
} if {
	mode("account") != "off"
	some e in events
	some event, code in account_codes
	e.event == event
}

# ---------------------------------------------------------------------------
# Credentials changed or compromised: sign in again

reauthentications := {
	"credential-change": ["credential_change", "ssf.credential_change"],
	"credential-compromise": ["credential_compromise", "ssf.credential_compromise"],
	"account-credential-change-required": ["credential_compromise", "ssf.credential_compromise"],
}

challenge contains {
	"code": code,
	"message": sprintf("the authentication predates %s", [text(e)]),
	"rule": sprintf("ssf.%s", [effect]),
	"step_ups": [{"kind": "reauthenticate", "reason_code": code}],
} if {
	some e in events
	[effect, code] := reauthentications[e.event]
	mode(effect) != "off"
	authenticated < e.event_time_ns
}

checks contains {
	"rule": sprintf("ssf.%s", [effect]),
	"code": code,
	"effect": "challenge",
	"message": sprintf("authenticated at %s, after %s", [text_time(authenticated), text(e)]),
} if {
	some e in events
	[effect, code] := reauthentications[e.event]
	authenticated >= e.event_time_ns
}

# ---------------------------------------------------------------------------
# Token claims or assurance level changed: the tenant's step-up

claims_changes := {"token-claims-change", "assurance-level-change"}

claims_step_up := object.get(policy, ["shared_signals", "claims_change_step_up"], "mfa")

# When the step-up was last proven: a second factor for mfa, a sign-in for
# reauthenticate.
claims_proven := mfa_verified if {
	claims_step_up == "mfa"
}

claims_proven := authenticated if {
	claims_step_up != "mfa"
}

challenge contains {
	"code": "ssf.claims_change",
	"message": sprintf("%s is needed: the last one predates %s", [claims_step_up, text(e)]),
	"rule": "ssf.claims_change",
	"step_ups": [{"kind": claims_step_up, "reason_code": "ssf.claims_change"}],
} if {
	mode("claims_change") != "off"
	some e in events
	e.event in claims_changes
	claims_proven < e.event_time_ns
}

# ---------------------------------------------------------------------------
# Device out of compliance (the server marked it non-compliant)

notices contains {
	"code": "ssf.device_not_compliant",
	"message": sprintf("device %q is not compliant%s: %s", [input.device.id, device_text, text(e)]),
	"rule": "ssf.device_compliance",
} if {
	mode("device_compliance") != "off"
	some e in events
	e.event == "device-compliance-change"
}

device_text := " (report only: the device keeps its compliance)" if {
	mode("device_compliance") == "report_only"
} else := ""
