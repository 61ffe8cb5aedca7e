package authzen

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

// Decision is the AuthZEN Decision: true only for an allow, with what the
// PEP needs to enforce it in context.
type Decision struct {
	Decision bool           `json:"decision"`
	Context  map[string]any `json:"context,omitempty"`
}

// The obligation types of the AuthZEN obligations profile that this PDP
// issues, in the order the metadata lists them.
const (
	ObligationStepUp             = "step-up"
	ObligationNotification       = "notification"
	ObligationSessionTermination = "session_termination"
	ObligationCustom             = "custom"
)

// ObligationsSupported is the metadata's obligations_supported.
var ObligationsSupported = []string{ObligationStepUp, ObligationNotification, ObligationSessionTermination, ObligationCustom}

// Vendor names this PDP in custom obligations.
const Vendor = "pdp"

// DefaultACR is the acr value a step-up kind asks for when the server is
// given none (the same URNs as the gateways' RFC 9470 challenges). A kind
// without an acr value is sent as a custom obligation.
var DefaultACR = map[string]string{
	string(decision.StepUpMFA):          "urn:pdp:acr:mfa",
	string(decision.StepUpEnrollMFA):    "urn:pdp:acr:mfa-enroll",
	string(decision.StepUpVerifyDevice): "urn:pdp:acr:device",
}

// ReasonUnsupportedObligation is the reason code of a decision turned into
// a plain deny because the PEP declared it cannot carry out an obligation
// the decision needs.
const ReasonUnsupportedObligation = "authzen.obligation_unsupported"

// answer builds the AuthZEN decision of d. supported are the obligation
// types the PEP declared (nil when it declared nothing): a decision that
// needs another type is a plain deny, without the obligations the PEP
// cannot carry out, as the obligations profile lets a PDP answer.
func answer(req *decision.Request, d *decision.Decision, supported []string, acr map[string]string) Decision {
	ctx := map[string]any{"id": d.ID}
	if d.PolicyRevision != "" {
		ctx["policy_revision"] = d.PolicyRevision
	}
	allow := d.Kind == decision.KindAllow
	reasons := d.Reasons

	obligations := obligationsOf(req, d, acr)
	if supported != nil {
		declared := map[string]bool{}
		for _, t := range supported {
			if slices.Contains(ObligationsSupported, t) {
				declared[t] = true
			}
		}
		var kept []map[string]any
		var missing []string
		for _, o := range obligations {
			t := o["type"].(string)
			if declared[t] {
				kept = append(kept, o)
			} else if !slices.Contains(missing, t) {
				missing = append(missing, t)
			}
		}
		if len(missing) > 0 {
			allow = false
			obligations = kept
			reasons = append(slices.Clone(reasons), decision.Reason{
				Code:    ReasonUnsupportedObligation,
				Message: fmt.Sprintf("the decision needs obligations the PEP does not support: %s", strings.Join(missing, ", ")),
				Rule:    "authzen.obligations_supported",
			})
		}
	}
	for i, o := range obligations {
		o["id"] = "obl-" + strconv.Itoa(i+1)
	}

	if len(reasons) > 0 {
		list := make([]map[string]any, len(reasons))
		admin := make([]string, len(reasons))
		for i, r := range reasons {
			list[i] = map[string]any{"code": r.Code, "message": r.Message, "rule": r.Rule}
			admin[i] = r.Code + ": " + r.Message
		}
		ctx["reasons"] = list
		ctx["reason_admin"] = map[string]string{"en": strings.Join(admin, "; ")}
	}
	if !allow {
		ctx["reason_user"] = map[string]string{"en": userReason(d, obligations)}
	}
	if len(obligations) > 0 {
		ctx["obligations"] = obligations
	}
	if r := d.Risk; r.Score > 0 || len(r.Factors) > 0 {
		factors := make([]map[string]any, len(r.Factors))
		for i, f := range r.Factors {
			factors[i] = map[string]any{"name": f.Name, "weight": f.Weight, "detail": f.Detail}
		}
		ctx["risk"] = map[string]any{"score": r.Score, "level": string(r.Level), "factors": factors}
	}
	if s := d.Session; !s.ExpiresAt.IsZero() || !s.WarnAt.IsZero() || s.IdleTimeout > 0 {
		sess := map[string]any{}
		if !s.ExpiresAt.IsZero() {
			sess["expires_at"] = s.ExpiresAt.UTC().Format(time.RFC3339)
		}
		if !s.WarnAt.IsZero() {
			sess["warn_at"] = s.WarnAt.UTC().Format(time.RFC3339)
		}
		if s.IdleTimeout > 0 {
			sess["idle_timeout_seconds"] = int64(s.IdleTimeout / time.Second)
		}
		ctx["session"] = sess
	}
	if !d.Enforced {
		ctx["enforced"] = false
		ctx["would_decide"] = d.WouldDecide.String()
	}
	if len(d.Explanation) > 0 {
		ex := make([]map[string]any, len(d.Explanation))
		for i, e := range d.Explanation {
			ex[i] = map[string]any{"rule": e.Rule, "code": e.Code, "effect": e.Effect, "matched": e.Matched, "message": e.Message}
		}
		ctx["explanation"] = ex
	}
	return Decision{Decision: allow, Context: ctx}
}

// userReason is what may be shown to the user: what to do for a
// challenge, a plain refusal otherwise. Reason messages are for
// administrators only; they may name lists and addresses.
func userReason(d *decision.Decision, obligations []map[string]any) string {
	if d.Kind == decision.KindChallenge && len(d.StepUps) > 0 {
		var steps []string
		for _, s := range d.StepUps {
			if text := describeStepUp(s); !slices.Contains(steps, text) {
				steps = append(steps, text)
			}
		}
		return strings.Join(steps, "; ")
	}
	return "access denied"
}

func describeStepUp(s decision.StepUp) string {
	switch s.Kind {
	case decision.StepUpMFA:
		return "multi-factor authentication required"
	case decision.StepUpReauthenticate:
		return "re-authentication required"
	case decision.StepUpEnrollMFA:
		return "enrollment in multi-factor authentication required"
	case decision.StepUpUseProvider:
		if len(s.AllowedProviders) > 0 {
			return "sign in with " + strings.Join(s.AllowedProviders, " or ")
		}
		return "sign in with another identity provider"
	case decision.StepUpVerifyDevice:
		return "device verification required"
	}
	return "additional authentication required"
}

// obligationsOf maps the step-ups and obligations of d onto the types of
// the obligations profile (docs/authzen.md has the table): step-ups with
// an acr value are step-up, notify_security is notification,
// suspend_user is session_termination, and everything else is custom
// with vendor "pdp" and action naming our kind. Ids are set by the caller.
func obligationsOf(req *decision.Request, d *decision.Decision, acr map[string]string) []map[string]any {
	if acr == nil {
		acr = DefaultACR
	}
	var out []map[string]any
	for _, s := range d.StepUps {
		var o map[string]any
		if v := acr[string(s.Kind)]; v != "" {
			o = map[string]any{"type": ObligationStepUp, "acr_value": v}
			if s.Kind == decision.StepUpMFA {
				o["amr_values"] = []string{"mfa"}
			}
		} else {
			o = map[string]any{"type": ObligationCustom, "vendor": Vendor, "action": string(s.Kind)}
		}
		switch s.Kind {
		case decision.StepUpMFA:
			if s.MaxAge > 0 {
				o["max_age"] = int64(s.MaxAge / time.Second)
			}
		case decision.StepUpReauthenticate:
			o["max_age"] = 0
		case decision.StepUpUseProvider:
			o["providers"] = slices.Clone(s.AllowedProviders)
		case decision.StepUpEnrollMFA:
			if !s.Deadline.IsZero() {
				o["deadline"] = s.Deadline.UTC().Format(time.RFC3339)
			}
		}
		o["reason"] = s.ReasonCode
		out = append(out, o)
	}
	for _, ob := range d.Obligations {
		p := ob.Params
		switch ob.Kind {
		case decision.ObligationNotifySecurity:
			out = append(out, map[string]any{
				"type": ObligationNotification, "to": "security", "topic": "pdp incident: " + p["reason"],
				"body": fmt.Sprintf("tenant %s: user %s asked for %s (%s)", req.Tenant, orDash(p["user"]), orDash(p["action"]), orDash(p["reason"])),
			})
		case decision.ObligationSuspendUser:
			subject := p["user"]
			if subject == "" {
				subject = req.Subject.ID
			}
			out = append(out, map[string]any{"type": ObligationSessionTermination, "subject": subject})
		default:
			o := map[string]any{"type": ObligationCustom, "vendor": Vendor, "action": string(ob.Kind)}
			if len(p) > 0 {
				o["params"] = p
			}
			out = append(out, o)
		}
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
