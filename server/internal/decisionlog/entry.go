// Package decisionlog writes one JSON line per decision, for audit and
// analytics, without slowing decisions down: the deciding goroutine only
// builds the line's fields and queues them; one writer goroutine masks,
// encodes and writes them, whole lines only. In ModeDrop (the default) a
// line that finds the queue full or whose write fails is dropped and
// counted; in ModeBlock the decision waits for its line to be written and
// is withheld, the call failing with UNAVAILABLE, when it cannot be.
// Close flushes what is queued.
//
// A line looks like (one line, wrapped here):
//
//	{"decision_id":"01J...","time":"2025-06-01T12:00:00.123Z","tenant":"acme",
//	 "environment":"production","subject":{"id":"u1","email":"a@acme.example"},
//	 "network":{"ip":"203.0.113.7","country":"DE"},"action":{"name":"api.read"},
//	 "caller":{"name":"edge-gateway","role":"pep"},"decision":"challenge",
//	 "enforced":true,"reasons":["mfa.required"],"step_ups":["mfa"],
//	 "risk":{"score":0.4,"level":"medium","factors":[{"name":"new_device","weight":0.2}]},
//	 "policy_revision":"r-5f1c","latency_ms":0.42,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}
//
// Reasons and step-ups are their stable codes and kinds only, and risk
// factors their names and weights: messages and evidence, which may quote
// personal data, stay out of the log. Fields that do identify people can be
// masked (see ParseMask).
package decisionlog

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

// Entry is one line of the decision log.
type Entry struct {
	// DecisionID equals the decision_id of the response; a line of
	// shadow evaluation has none (ShadowOf).
	DecisionID string `json:"decision_id,omitempty"`
	// Time is when the decision was made, in UTC.
	Time time.Time `json:"time"`
	// Tenant is the request's tenant.
	Tenant string `json:"tenant"`
	// Environment is the request's environment.
	Environment string `json:"environment"`
	// Subject is the user asked about.
	Subject Subject `json:"subject"`
	// Network is where the request came from.
	Network Network `json:"network"`
	// Device identifies the device, when given.
	Device *IDOnly `json:"device,omitempty"`
	// Session identifies the session, when given.
	Session *IDOnly `json:"session,omitempty"`
	// Action is what the subject asked to do.
	Action Action `json:"action"`
	// Resource is the typed resource the request names (AuthZEN), when
	// it names one.
	Resource *Resource `json:"resource,omitempty"`
	// Caller is the enforcement point that asked, when authenticated.
	Caller *Caller `json:"caller,omitempty"`
	// Decision is allow, deny or challenge.
	Decision string `json:"decision"`
	// Enforced is false in report-only mode.
	Enforced bool `json:"enforced"`
	// WouldDecide is, in report-only mode, what enforcement would have
	// decided.
	WouldDecide string `json:"would_decide,omitempty"`
	// Reasons are the reason codes, most severe first.
	Reasons []string `json:"reasons"`
	// StepUps are the kinds of the required step-ups.
	StepUps []string `json:"step_ups"`
	// Risk is the risk assessment.
	Risk Risk `json:"risk"`
	// PolicyRevision identifies the policy set that decided.
	PolicyRevision string `json:"policy_revision"`
	// LatencyMS is how long enrichment and evaluation took, in
	// milliseconds.
	LatencyMS float64 `json:"latency_ms"`
	// TraceID is the request's trace, when it has one.
	TraceID string `json:"trace_id,omitempty"`
	// InputFormat is the version of Input's format, InputFormat, when
	// the line records its input (Options.Inputs).
	InputFormat int `json:"input_format,omitempty"`
	// Input is the input document the policy evaluated (rego/README.md:
	// the request after signal enrichment, at the time it was decided),
	// masked like the line, when Options.Inputs.
	Input map[string]any `json:"input,omitempty"`
	// Masked are the paths of Input that a mask rewrote: a replay of the
	// line is approximate in each of them.
	Masked []string `json:"masked,omitempty"`
	// ShadowOf, on a line of shadow evaluation, is the id of the live
	// decision whose request a candidate policy set decided otherwise; the
	// line's decision fields are the live decision's, Shadow the
	// candidate's. Such a line is not a decision.
	ShadowOf string `json:"shadow_of,omitempty"`
	// Shadow is the candidate's decision on a line of shadow evaluation.
	Shadow *Shadow `json:"shadow,omitempty"`

	// done, when set, hears whether the line was written (Record in
	// ModeBlock).
	done chan error
}

// Shadow is what a candidate policy set decided in shadow.
type Shadow struct {
	// Candidate names the candidate: "--shadow-policy-dir", or the
	// tenant's candidate policy ("tenant policy", "pending change ID").
	Candidate string `json:"candidate"`
	// Decision, WouldDecide, Reasons and StepUps are its decision.
	Decision    string   `json:"decision"`
	WouldDecide string   `json:"would_decide,omitempty"`
	Reasons     []string `json:"reasons"`
	StepUps     []string `json:"step_ups"`
	// PolicyRevision is the candidate set's revision.
	PolicyRevision string `json:"policy_revision"`
}

// InputFormat is the version of the recorded input's format. It changes
// when rego/README.md changes the input document in a way an older line
// would not replay under; a reader refuses formats it does not know.
const InputFormat = 1

// Subject identifies the user.
type Subject struct {
	// ID is the stable user id (mask path subject.id).
	ID string `json:"id"`
	// Email is the user's address (mask path subject.email).
	Email string `json:"email,omitempty"`
}

// Network is where the request came from.
type Network struct {
	// IP is the client address (mask path network.ip).
	IP string `json:"ip,omitempty"`
	// Country is the ISO 3166-1 alpha-2 code.
	Country string `json:"country,omitempty"`
}

// IDOnly is an object named by its id.
type IDOnly struct {
	// ID is the identifier (mask paths device.id and session.id).
	ID string `json:"id"`
}

// Action is what was asked.
type Action struct {
	// Name is the action, such as "api.read".
	Name string `json:"name"`
	// Resource is what it acts on (mask path action.resource).
	Resource string `json:"resource,omitempty"`
}

// Resource is a typed resource.
type Resource struct {
	// Type is the kind of resource.
	Type string `json:"type"`
	// ID identifies it within its type (mask path resource.id).
	ID string `json:"id"`
}

// Caller is who asked.
type Caller struct {
	// Name is the API key name or certificate identity (mask path
	// caller.name).
	Name string `json:"name,omitempty"`
	// Role is the key's role.
	Role string `json:"role,omitempty"`
}

// Risk is the risk assessment.
type Risk struct {
	// Score is the risk score, 0..1.
	Score float64 `json:"score"`
	// Level is low, medium, high or critical.
	Level string `json:"level,omitempty"`
	// Factors are the present factors.
	Factors []Factor `json:"factors"`
}

// Factor is one present risk factor.
type Factor struct {
	// Name is the factor, such as "unusual_location".
	Name string `json:"name"`
	// Weight is what it adds to the score.
	Weight float64 `json:"weight"`
}

// NewEntry builds the line of one decision. It copies what it needs, so
// req and d may change afterwards.
func NewEntry(ctx context.Context, req *decision.Request, d *decision.Decision, at time.Time, latency time.Duration) *Entry {
	e := &Entry{
		DecisionID:     d.ID,
		Time:           at.UTC(),
		Tenant:         req.Tenant,
		Environment:    req.Environment,
		Subject:        Subject{ID: req.Subject.ID, Email: req.Subject.Email},
		Network:        Network{Country: req.Network.Country},
		Action:         Action{Name: req.Action.Name, Resource: req.Action.Resource},
		Decision:       d.Kind.String(),
		Enforced:       d.Enforced,
		Reasons:        make([]string, len(d.Reasons)),
		StepUps:        make([]string, len(d.StepUps)),
		Risk:           Risk{Score: d.Risk.Score, Level: string(d.Risk.Level), Factors: make([]Factor, len(d.Risk.Factors))},
		PolicyRevision: d.PolicyRevision,
		LatencyMS:      float64(latency.Microseconds()) / 1000,
	}
	if r := req.Resource; r.Type != "" || r.ID != "" {
		e.Resource = &Resource{Type: r.Type, ID: r.ID}
	}
	if req.Network.IP.IsValid() {
		e.Network.IP = req.Network.IP.String()
	}
	if req.Device.ID != "" {
		e.Device = &IDOnly{ID: req.Device.ID}
	}
	if req.Session.ID != "" {
		e.Session = &IDOnly{ID: req.Session.ID}
	}
	if c := req.Caller; c.Name != "" || c.Role != "" {
		e.Caller = &Caller{Name: c.Name, Role: c.Role}
	}
	if !d.Enforced && d.WouldDecide != decision.KindUnspecified {
		e.WouldDecide = d.WouldDecide.String()
	}
	for i, r := range d.Reasons {
		e.Reasons[i] = r.Code
	}
	for i, s := range d.StepUps {
		e.StepUps[i] = string(s.Kind)
	}
	for i, f := range d.Risk.Factors {
		e.Risk.Factors[i] = Factor{Name: f.Name, Weight: f.Weight}
	}
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		e.TraceID = sc.TraceID().String()
	}
	return e
}
