package engine

import (
	"errors"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

// The keys each object of the decision document may hold. Anything else is
// an error: the document is validated strictly, and an error denies.
var (
	decisionKeys    = []string{"decision", "reasons", "step_ups", "obligations", "risk", "session", "cache_ttl_ns", "enforced", "would_decide", "explanation"}
	reasonKeys      = []string{"code", "message", "rule"}
	stepUpKeys      = []string{"kind", "reason_code", "max_age_ns", "allowed_providers", "deadline_ns"}
	obligationKeys  = []string{"kind", "params"}
	riskKeys        = []string{"score", "level", "factors"}
	factorKeys      = []string{"name", "weight", "detail"}
	sessionKeys     = []string{"expires_at_ns", "warn_at_ns", "idle_timeout_ns"}
	explanationKeys = []string{"rule", "code", "effect", "matched", "message"}
)

// keyTerms holds a term for every key above, so that looking a key up
// allocates nothing.
var keyTerms = func() map[string]*ast.Term {
	m := map[string]*ast.Term{}
	for _, keys := range [][]string{decisionKeys, reasonKeys, stepUpKeys, obligationKeys, riskKeys, factorKeys, sessionKeys, explanationKeys} {
		for _, k := range keys {
			m[k] = ast.StringTerm(k)
		}
	}
	return m
}()

// The words the contract allows.
var (
	stepUpKinds = []decision.StepUpKind{decision.StepUpMFA, decision.StepUpReauthenticate,
		decision.StepUpEnrollMFA, decision.StepUpUseProvider, decision.StepUpVerifyDevice}
	obligationKinds = []decision.ObligationKind{decision.ObligationAudit, decision.ObligationNotifySecurity,
		decision.ObligationWarnSessionExpiry, decision.ObligationCacheNamespace,
		decision.ObligationRemindMFAEnrollment, decision.ObligationSuspendUser, decision.ObligationBlockIP}
	riskLevels     = []decision.RiskLevel{decision.RiskLow, decision.RiskMedium, decision.RiskHigh, decision.RiskCritical}
	explainEffects = []string{decision.EffectDeny, decision.EffectChallenge, decision.EffectAllow, decision.EffectInfo}
)

// parseResultSet reads the value of data.pdp.decision from a result set
// whose values are ast.Values (see astResult).
func parseResultSet(rs rego.ResultSet) (*decision.Decision, error) {
	if len(rs) == 0 {
		return nil, errors.New("data.pdp.decision is undefined")
	}
	if len(rs) > 1 || len(rs[0].Expressions) != 1 {
		return nil, errors.New("data.pdp.decision has more than one value")
	}
	v, ok := rs[0].Expressions[0].Value.(ast.Value)
	if !ok {
		return nil, fmt.Errorf("data.pdp.decision: unexpected result type %T", rs[0].Expressions[0].Value)
	}
	return parseDecision(v)
}

// parseDecision validates the decision document and converts it.
func parseDecision(v ast.Value) (*decision.Decision, error) {
	r := reader{}
	o := r.object(v, "decision", decisionKeys)
	if o == nil {
		return nil, r.err
	}
	d := &decision.Decision{
		Kind:        r.kind(r.required(o, "decision", ""), "decision"),
		Reasons:     readArray(&r, r.required(o, "reasons", ""), "reasons", r.reason),
		StepUps:     readArray(&r, r.required(o, "step_ups", ""), "step_ups", r.stepUp),
		Obligations: readArray(&r, r.required(o, "obligations", ""), "obligations", r.obligation),
		Risk:        r.risk(r.required(o, "risk", ""), "risk"),
		Enforced:    r.boolean(r.required(o, "enforced", ""), "enforced"),
	}
	if s := r.optional(o, "session"); s != nil {
		d.Session = r.session(s, "session")
	}
	if ttl := r.optional(o, "cache_ttl_ns"); ttl != nil {
		d.CacheTTL = r.duration(ttl, "cache_ttl_ns")
	}
	if w := r.optional(o, "would_decide"); w != nil {
		d.WouldDecide = r.kind(w, "would_decide")
	}
	if x := r.optional(o, "explanation"); x != nil {
		d.Explanation = readArray(&r, x, "explanation", r.explanation)
	}
	if r.err != nil {
		return nil, r.err
	}
	return d, consistent(d)
}

// consistent checks what no single field can show.
func consistent(d *decision.Decision) error {
	switch {
	case d.Enforced && d.WouldDecide == decision.KindUnspecified:
		d.WouldDecide = d.Kind
	case d.Enforced && d.WouldDecide != d.Kind:
		return fmt.Errorf("decision: enforced %s but would_decide %s", d.Kind, d.WouldDecide)
	case !d.Enforced && d.WouldDecide == decision.KindUnspecified:
		return errors.New("decision: report-only decision without would_decide")
	}
	if d.Kind == decision.KindChallenge && len(d.StepUps) == 0 {
		return errors.New("decision: challenge without step_ups")
	}
	return nil
}

func (r *reader) kind(v ast.Value, path string) decision.Kind {
	s := r.str(v, path)
	if r.err != nil {
		return decision.KindUnspecified
	}
	k, ok := decision.ParseKind(s)
	if !ok {
		r.fail(path, "unknown decision %q", s)
	}
	return k
}

func (r *reader) reason(v ast.Value, path string) decision.Reason {
	o := r.object(v, path, reasonKeys)
	return decision.Reason{
		Code:    r.str(r.required(o, "code", path), path+".code"),
		Message: r.str(r.required(o, "message", path), path+".message"),
		Rule:    r.str(r.required(o, "rule", path), path+".rule"),
	}
}

// reasonOf reads a reason from its fields (nil when missing), as reason
// reads its object.
func (r *reader) reasonOf(p reasonParts, path string) decision.Reason {
	return decision.Reason{
		Code:    r.str(r.requiredTerm(p.code, "code", path), path+".code"),
		Message: r.str(r.requiredTerm(p.message, "message", path), path+".message"),
		Rule:    r.str(r.requiredTerm(p.rule, "rule", path), path+".rule"),
	}
}

func (r *reader) stepUp(v ast.Value, path string) decision.StepUp {
	o := r.object(v, path, stepUpKeys)
	s := decision.StepUp{
		Kind:       oneOf(r, r.str(r.required(o, "kind", path), path+".kind"), path+".kind", stepUpKinds),
		ReasonCode: r.str(r.required(o, "reason_code", path), path+".reason_code"),
	}
	if x := r.optional(o, "max_age_ns"); x != nil {
		s.MaxAge = r.duration(x, path+".max_age_ns")
	}
	if x := r.optional(o, "allowed_providers"); x != nil {
		s.AllowedProviders = readArray(r, x, path+".allowed_providers", r.str)
	}
	if x := r.optional(o, "deadline_ns"); x != nil {
		s.Deadline = r.timestamp(x, path+".deadline_ns")
	}
	return s
}

func (r *reader) obligation(v ast.Value, path string) decision.Obligation {
	o := r.object(v, path, obligationKeys)
	ob := decision.Obligation{
		Kind: oneOf(r, r.str(r.required(o, "kind", path), path+".kind"), path+".kind", obligationKinds),
	}
	if x := r.optional(o, "params"); x != nil {
		ob.Params = r.params(x, path+".params")
	}
	return ob
}

// params reads an object of strings; nil when empty.
func (r *reader) params(v ast.Value, path string) map[string]string {
	if r.err != nil {
		return nil
	}
	o, ok := v.(ast.Object)
	if !ok {
		r.typeError(path, "object", v)
		return nil
	}
	if o.Len() == 0 {
		return nil
	}
	m := make(map[string]string, o.Len())
	o.Foreach(func(k, val *ast.Term) {
		key := r.str(k.Value, path+" key")
		m[key] = r.str(val.Value, join(path, key))
	})
	return m
}

func (r *reader) risk(v ast.Value, path string) decision.Risk {
	o := r.object(v, path, riskKeys)
	risk := decision.Risk{
		Score:   r.float(r.required(o, "score", path), path+".score"),
		Level:   oneOf(r, r.str(r.required(o, "level", path), path+".level"), path+".level", riskLevels),
		Factors: readArray(r, r.required(o, "factors", path), path+".factors", r.factor),
	}
	r.scoreInRange(risk.Score, path)
	return risk
}

// riskOf reads the risk from its fields, as risk reads its object.
func (r *reader) riskOf(score, level *ast.Term, factors []*ast.Term, path string) decision.Risk {
	risk := decision.Risk{
		Score:   r.float(score.Value, path+".score"),
		Level:   oneOf(r, r.str(level.Value, path+".level"), path+".level", riskLevels),
		Factors: readTerms(r, factors, path+".factors", r.factor),
	}
	r.scoreInRange(risk.Score, path)
	return risk
}

func (r *reader) scoreInRange(score float64, path string) {
	if r.err == nil && (score < 0 || score > 1) {
		r.fail(path+".score", "%v outside 0..1", score)
	}
}

func (r *reader) factor(v ast.Value, path string) decision.RiskFactor {
	o := r.object(v, path, factorKeys)
	return decision.RiskFactor{
		Name:   r.str(r.required(o, "name", path), path+".name"),
		Weight: r.float(r.required(o, "weight", path), path+".weight"),
		Detail: r.str(r.required(o, "detail", path), path+".detail"),
	}
}

func (r *reader) session(v ast.Value, path string) decision.SessionControl {
	o := r.object(v, path, sessionKeys)
	var s decision.SessionControl
	if x := r.optional(o, "expires_at_ns"); x != nil {
		s.ExpiresAt = r.timestamp(x, path+".expires_at_ns")
	}
	if x := r.optional(o, "warn_at_ns"); x != nil {
		s.WarnAt = r.timestamp(x, path+".warn_at_ns")
	}
	if x := r.optional(o, "idle_timeout_ns"); x != nil {
		s.IdleTimeout = r.duration(x, path+".idle_timeout_ns")
	}
	return s
}

func (r *reader) explanation(v ast.Value, path string) decision.Explanation {
	o := r.object(v, path, explanationKeys)
	return decision.Explanation{
		Rule:    r.str(r.required(o, "rule", path), path+".rule"),
		Code:    r.str(r.required(o, "code", path), path+".code"),
		Effect:  oneOf(r, r.str(r.required(o, "effect", path), path+".effect"), path+".effect", explainEffects),
		Matched: r.boolean(r.required(o, "matched", path), path+".matched"),
		Message: r.str(r.required(o, "message", path), path+".message"),
	}
}
