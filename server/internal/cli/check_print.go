package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// printDecision renders a response for people.
func printDecision(w io.Writer, r *pdpv1.CheckResponse) {
	word := strings.ToLower(strings.TrimPrefix(r.GetDecision().String(), "DECISION_"))
	fmt.Fprintf(w, "decision:  %s", word)
	if !r.GetEnforced() {
		fmt.Fprintf(w, " (report-only; enforcement would %s)", strings.ToLower(strings.TrimPrefix(r.GetWouldDecide().String(), "DECISION_")))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "id:        %s\nrevision:  %s\n", r.GetDecisionId(), r.GetPolicyRevision())
	if risk := r.GetRisk(); risk != nil {
		fmt.Fprintf(w, "risk:      %.2f %s\n", risk.GetScore(), strings.ToLower(strings.TrimPrefix(risk.GetLevel().String(), "RISK_LEVEL_")))
		for _, f := range risk.GetFactors() {
			fmt.Fprintf(w, "  + %-18s %.2f  %s\n", f.GetName(), f.GetWeight(), f.GetDetail())
		}
	}
	if len(r.GetReasons()) > 0 {
		fmt.Fprintln(w, "reasons:")
		for _, rs := range r.GetReasons() {
			fmt.Fprintf(w, "  %-34s %s\n", rs.GetCode(), rs.GetMessage())
		}
	}
	if len(r.GetStepUps()) > 0 {
		fmt.Fprintln(w, "step-ups:")
		for _, s := range r.GetStepUps() {
			line := "  " + strings.ToLower(strings.TrimPrefix(s.GetKind().String(), "STEP_UP_"))
			if s.GetMaxAge() != nil {
				line += " max_age=" + s.GetMaxAge().AsDuration().String()
			}
			if len(s.GetAllowedProviders()) > 0 {
				line += " providers=" + strings.Join(s.GetAllowedProviders(), ",")
			}
			if s.GetDeadline() != nil {
				line += " deadline=" + s.GetDeadline().AsTime().Format("2006-01-02T15:04:05Z07:00")
			}
			fmt.Fprintln(w, line)
		}
	}
	if len(r.GetObligations()) > 0 {
		fmt.Fprintln(w, "obligations:")
		for _, o := range r.GetObligations() {
			keys := make([]string, 0, len(o.GetParams()))
			for k := range o.GetParams() {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			parts := make([]string, 0, len(keys))
			for _, k := range keys {
				parts = append(parts, k+"="+o.GetParams()[k])
			}
			fmt.Fprintf(w, "  %s %s\n", strings.ToLower(strings.TrimPrefix(o.GetKind().String(), "OBLIGATION_")), strings.Join(parts, " "))
		}
	}
	if s := r.GetSession(); s != nil && (s.GetExpiresAt() != nil || s.GetIdleTimeout() != nil) {
		fmt.Fprintf(w, "session:   idle timeout %s", s.GetIdleTimeout().AsDuration())
		if s.GetExpiresAt() != nil {
			fmt.Fprintf(w, ", expires %s", s.GetExpiresAt().AsTime().Format("2006-01-02T15:04:05Z07:00"))
		}
		fmt.Fprintln(w)
	}
	if len(r.GetExplanation()) > 0 {
		fmt.Fprintln(w, "explanation:")
		for _, e := range r.GetExplanation() {
			mark := "-"
			if e.GetMatched() {
				mark = "+"
			}
			effect := strings.ToLower(strings.TrimPrefix(e.GetEffect().String(), "EFFECT_"))
			fmt.Fprintf(w, "  %s %-30s %-10s %s\n", mark, e.GetRule(), effect, e.GetMessage())
		}
	}
}

// fieldViolations returns the BadRequest field violations of a status.
func fieldViolations(st *status.Status) [][2]string {
	var out [][2]string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, [2]string{v.GetField(), v.GetDescription()})
			}
		}
	}
	return out
}
