package pdpclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/status"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// Reason codes of the decisions the client makes up itself.
const (
	// ReasonNoDecision is the reason of the synthetic deny returned, with
	// an error, when the server could not decide.
	ReasonNoDecision = "pdp.no_decision"
	// ReasonFailOpen is the reason of the synthetic allow returned when
	// the server could not decide and WithFailOpen said to let it through.
	ReasonFailOpen = "pdp.fail_open"
)

// ErrInvalidResponse is returned (wrapped) when the server's answer is not
// a valid decision, for example DECISION_UNSPECIFIED or an allowed flag
// that contradicts the decision.
var ErrInvalidResponse = errors.New("pdpclient: invalid response")

// Decision is the answer to one Check. It is never nil when returned by
// Client.Check, even with an error. Its methods are safe for concurrent use;
// do not modify the message returned by Response.
type Decision struct {
	resp       *pdpv1.CheckResponse
	cached     bool
	synthetic  bool
	failedOpen bool
	err        error
}

// NewDecision wraps a server response, for tests of code that takes a
// Decision. resp must not be nil.
func NewDecision(resp *pdpv1.CheckResponse) *Decision {
	return &Decision{resp: resp}
}

// failClosed is the synthetic deny that accompanies err.
func failClosed(err error) *Decision {
	return &Decision{
		resp: &pdpv1.CheckResponse{
			Decision: pdpv1.Decision_DECISION_DENY,
			Reasons: []*pdpv1.Reason{{
				Code:    ReasonNoDecision,
				Message: fmt.Sprintf("the policy decision point could not decide (%s)", status.Code(err)),
			}},
			Enforced: true,
		},
		synthetic: true,
		err:       err,
	}
}

// failOpen is the synthetic allow returned instead of err.
func failOpen(err error) *Decision {
	return &Decision{
		resp: &pdpv1.CheckResponse{
			Decision: pdpv1.Decision_DECISION_ALLOW,
			Allowed:  true,
			Reasons: []*pdpv1.Reason{{
				Code:    ReasonFailOpen,
				Message: fmt.Sprintf("allowed without a decision (%s)", status.Code(err)),
			}},
			Enforced: true,
		},
		synthetic:  true,
		failedOpen: true,
		err:        err,
	}
}

// validate checks that resp is a decision a client can enforce.
func validate(resp *pdpv1.CheckResponse) error {
	if resp == nil {
		return fmt.Errorf("%w: empty response", ErrInvalidResponse)
	}
	switch resp.GetDecision() {
	case pdpv1.Decision_DECISION_ALLOW, pdpv1.Decision_DECISION_DENY, pdpv1.Decision_DECISION_CHALLENGE:
	default:
		return fmt.Errorf("%w: decision %v", ErrInvalidResponse, resp.GetDecision())
	}
	if resp.GetAllowed() != (resp.GetDecision() == pdpv1.Decision_DECISION_ALLOW) {
		return fmt.Errorf("%w: allowed=%t with %v", ErrInvalidResponse, resp.GetAllowed(), resp.GetDecision())
	}
	return nil
}

// Response is the server's message, or the synthetic one. Treat it as
// read-only.
func (d *Decision) Response() *pdpv1.CheckResponse { return d.resp }

// Outcome is DECISION_ALLOW, DECISION_DENY or DECISION_CHALLENGE.
func (d *Decision) Outcome() pdpv1.Decision { return d.resp.GetDecision() }

// Allowed reports whether the request may proceed now.
func (d *Decision) Allowed() bool {
	return d.resp.GetDecision() == pdpv1.Decision_DECISION_ALLOW && d.resp.GetAllowed()
}

// Denied reports whether the request must be refused, including the
// synthetic deny of a failed check.
func (d *Decision) Denied() bool { return d.resp.GetDecision() == pdpv1.Decision_DECISION_DENY }

// Challenged reports whether the request may proceed once the user has
// completed every step-up.
func (d *Decision) Challenged() bool {
	return d.resp.GetDecision() == pdpv1.Decision_DECISION_CHALLENGE
}

// StepUps lists what the user must do to turn a challenge into an allow;
// all are required.
func (d *Decision) StepUps() []*pdpv1.StepUp { return d.resp.GetStepUps() }

// Reasons lists every reason that contributed, most severe first.
func (d *Decision) Reasons() []*pdpv1.Reason { return d.resp.GetReasons() }

// ReasonCodes lists the codes of Reasons, in order.
func (d *Decision) ReasonCodes() []string {
	codes := make([]string, 0, len(d.resp.GetReasons()))
	for _, r := range d.resp.GetReasons() {
		codes = append(codes, r.GetCode())
	}
	return codes
}

// HasReason reports whether code is among the reasons.
func (d *Decision) HasReason(code string) bool {
	for _, r := range d.resp.GetReasons() {
		if r.GetCode() == code {
			return true
		}
	}
	return false
}

// Obligations lists what the enforcement point must do alongside the
// decision. A cached decision carries the obligations of the response it
// came from.
func (d *Decision) Obligations() []*pdpv1.Obligation { return d.resp.GetObligations() }

// Obligation returns the first obligation of the given kind.
func (d *Decision) Obligation(kind pdpv1.ObligationKind) (*pdpv1.Obligation, bool) {
	for _, o := range d.resp.GetObligations() {
		if o.GetKind() == kind {
			return o, true
		}
	}
	return nil, false
}

// ID is the server's decision id; empty for a synthetic decision.
func (d *Decision) ID() string { return d.resp.GetDecisionId() }

// RiskScore is the zero-trust risk score, 0 to 1.
func (d *Decision) RiskScore() float64 { return d.resp.GetRisk().GetScore() }

// Enforced is false when the tenant or a rule is in report-only mode; see
// WouldDecide.
func (d *Decision) Enforced() bool { return d.resp.GetEnforced() }

// WouldDecide is, in report-only mode, what enforcement would have decided.
func (d *Decision) WouldDecide() pdpv1.Decision { return d.resp.GetWouldDecide() }

// CacheTTL is how long the server allows the decision to be reused.
func (d *Decision) CacheTTL() time.Duration { return d.resp.GetCacheTtl().AsDuration() }

// Cached reports whether the decision came from the client's cache.
func (d *Decision) Cached() bool { return d.cached }

// Synthetic reports whether the client made the decision up because the
// server could not decide (fail closed or fail open).
func (d *Decision) Synthetic() bool { return d.synthetic }

// FailedOpen reports whether this is the synthetic allow of WithFailOpen.
func (d *Decision) FailedOpen() bool { return d.failedOpen }

// Err is the error that made the decision synthetic, or nil.
func (d *Decision) Err() error { return d.err }

type decisionKey struct{}

// NewContext returns a copy of ctx carrying d, as the HTTP middleware and
// gRPC interceptors do for the handlers they protect.
func NewContext(ctx context.Context, d *Decision) context.Context {
	return context.WithValue(ctx, decisionKey{}, d)
}

// FromContext returns the decision stored by NewContext.
func FromContext(ctx context.Context) (*Decision, bool) {
	d, ok := ctx.Value(decisionKey{}).(*Decision)
	return d, ok && d != nil
}
