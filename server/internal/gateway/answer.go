package gateway

import (
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pdp-dev/pdp/clients/go/pdpclient"
	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/pdpsvc"
)

// Header names of the answers. HTTP header names are case-insensitive;
// Envoy and HTTP/2 carry them in lowercase.
const (
	// HeaderDecisionID carries the decision id on every decision.
	HeaderDecisionID = "X-PDP-Decision-Id"
	// HeaderRiskScore carries the risk score, 0..1, on every decision.
	HeaderRiskScore = "X-PDP-Risk-Score"
	// HeaderWWWAuthenticate carries the RFC 9470 or RFC 6750 challenge.
	HeaderWWWAuthenticate = "WWW-Authenticate"
)

// Kind is what an Answer is.
type Kind string

// The kinds of answers.
const (
	// KindAllow lets the request through (200).
	KindAllow Kind = "allow"
	// KindChallenge asks for a step-up (401, RFC 9470).
	KindChallenge Kind = "challenge"
	// KindDeny refuses the request (403).
	KindDeny Kind = "deny"
	// KindInvalid is malformed gateway input: no decision was made.
	KindInvalid Kind = "invalid"
	// KindInvalidToken is a bearer token that failed verification.
	KindInvalidToken Kind = "invalid_token"
)

// Answer is the HTTP shape of one outcome.
type Answer struct {
	// Kind is what the answer is.
	Kind Kind
	// Status is 200, 400, 401 or 403.
	Status int
	// Headers are sent with the answer, in order: to the upstream for an
	// allow, to the client otherwise.
	Headers [][2]string
	// Body is the JSON body of a non-200 answer, newline-terminated.
	Body []byte
	// Decision is the decision; nil for KindInvalid and KindInvalidToken.
	Decision *decision.Decision
}

// RiskScore formats a score for HeaderRiskScore: at most three decimals.
func RiskScore(score float64) string {
	return strconv.FormatFloat(math.Round(score*1000)/1000, 'f', -1, 64)
}

// StepUpWord is the lowercase word of a step-up kind, as Rego and the
// JSON bodies write it ("mfa", "enroll_mfa", ...).
func StepUpWord(k pdpv1.StepUpKind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "STEP_UP_"))
}

// answer shapes a decision.
func (g *Gateway) answer(d *decision.Decision) Answer {
	a := Answer{Decision: d, Headers: [][2]string{
		{HeaderDecisionID, d.ID},
		{HeaderRiskScore, RiskScore(d.Risk.Score)},
	}}
	codes := make([]string, 0, len(d.Reasons))
	for _, r := range d.Reasons {
		codes = append(codes, r.Code)
	}
	switch d.Kind {
	case decision.KindAllow:
		a.Kind, a.Status = KindAllow, http.StatusOK
		return a
	case decision.KindChallenge:
		// The step-ups as the API sends them: the challenge header is
		// written from those by the Go client's own code.
		steps := pdpsvc.StepUps(d.StepUps)
		a.Kind, a.Status = KindChallenge, http.StatusUnauthorized
		a.Headers = append(a.Headers, [2]string{HeaderWWWAuthenticate, g.challengeHeader(steps)})
		a.Body = jsonBody(challengeBody{
			Decision: string(KindChallenge), DecisionID: d.ID,
			StepUps: stepUpBodies(steps), Reasons: codes,
		})
	default:
		a.Kind, a.Status = KindDeny, http.StatusForbidden
		a.Body = jsonBody(denyBody{Decision: string(KindDeny), DecisionID: d.ID, Reasons: codes})
	}
	a.Headers = append(a.Headers, [2]string{"Content-Type", "application/json"}, [2]string{"Cache-Control", "no-store"})
	return a
}

// challengeHeader is the RFC 9470 WWW-Authenticate value, with acr_values
// from the step-ups' acr (config --step-up-acr); pdpclient writes it, so
// the PDP's gateways and its Go client challenge alike.
func (g *Gateway) challengeHeader(steps []*pdpv1.StepUp) string {
	return pdpclient.NewChallenge(steps, g.acr).Header()
}

// stepUpKind is the kind of a StepUpWord; STEP_UP_KIND_UNSPECIFIED when
// word names none.
func stepUpKind(word string) pdpv1.StepUpKind {
	return pdpv1.StepUpKind(pdpv1.StepUpKind_value["STEP_UP_"+strings.ToUpper(word)])
}

// quoteSafe keeps printable ASCII without quotes and backslashes, so the
// text fits an RFC 9110 quoted-string unescaped.
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}

type challengeBody struct {
	Decision   string       `json:"decision"`
	DecisionID string       `json:"decision_id"`
	StepUps    []stepUpBody `json:"step_ups"`
	Reasons    []string     `json:"reasons"`
}

type stepUpBody struct {
	Kind             string   `json:"kind"`
	MaxAgeSeconds    *int64   `json:"max_age_seconds,omitempty"`
	AllowedProviders []string `json:"allowed_providers,omitempty"`
	Deadline         string   `json:"deadline,omitempty"`
	ReasonCode       string   `json:"reason_code,omitempty"`
}

type denyBody struct {
	Decision   string   `json:"decision"`
	DecisionID string   `json:"decision_id"`
	Reasons    []string `json:"reasons"`
}

func stepUpBodies(steps []*pdpv1.StepUp) []stepUpBody {
	out := make([]stepUpBody, 0, len(steps))
	for _, s := range steps {
		b := stepUpBody{Kind: StepUpWord(s.GetKind()), AllowedProviders: s.GetAllowedProviders(), ReasonCode: s.GetReasonCode()}
		if s.GetMaxAge() != nil {
			sec := int64(s.GetMaxAge().AsDuration() / time.Second)
			b.MaxAgeSeconds = &sec
		}
		if s.GetDeadline() != nil {
			b.Deadline = s.GetDeadline().AsTime().UTC().Format(time.RFC3339)
		}
		out = append(out, b)
	}
	return out
}

// errorBody is the JSON of a 400 or an invalid token, shaped like the
// HTTP API's errors with the source of each violation added.
type errorBody struct {
	Code            string           `json:"code"`
	Message         string           `json:"message"`
	FieldViolations []fieldViolation `json:"field_violations,omitempty"`
}

type fieldViolation struct {
	Field       string `json:"field"`
	Source      string `json:"source,omitempty"`
	Description string `json:"description"`
}

// invalid is the 400 answer for the mapping's violations followed by
// those of validation, each field reported once.
func (b *builder) invalid(more []fault.FieldViolation) Answer {
	all := slices.Clone(b.violations)
	for _, v := range more {
		if !slices.ContainsFunc(all, func(x fault.FieldViolation) bool { return x.Field == v.Field }) {
			all = append(all, v)
		}
	}
	body := errorBody{Code: "INVALID_ARGUMENT", Message: "invalid request from the gateway"}
	for _, v := range all {
		body.FieldViolations = append(body.FieldViolations, fieldViolation{
			Field: v.Field, Source: b.sourceOf(v.Field), Description: v.Description,
		})
	}
	return Answer{
		Kind: KindInvalid, Status: http.StatusBadRequest, Body: jsonBody(body),
		Headers: [][2]string{{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}},
	}
}

// sourceOf finds the source of a field path such as "subject.roles[2]" or
// "attributes.http.path".
func (b *builder) sourceOf(field string) string {
	for f := field; f != ""; {
		if s, ok := b.sourceFor(f); ok {
			return s.String()
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return ""
}

// invalidToken is the RFC 6750 answer to a bearer token that failed.
func invalidToken(te *TokenError) Answer {
	desc := quoteSafe(te.Reason)
	return Answer{
		Kind: KindInvalidToken, Status: http.StatusUnauthorized,
		Headers: [][2]string{
			{HeaderWWWAuthenticate, `Bearer error="invalid_token", error_description="` + desc + `"`},
			{"Content-Type", "application/json"}, {"Cache-Control", "no-store"},
		},
		Body: jsonBody(errorBody{Code: "UNAUTHENTICATED", Message: "invalid bearer token: " + te.Reason}),
	}
}

func jsonBody(v any) []byte {
	out, err := json.Marshal(v)
	if err != nil {
		// The bodies are plain structs of strings and numbers.
		return []byte("{}\n")
	}
	return append(out, '\n')
}
