package replay

import (
	"cmp"
	"context"
	"maps"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

// Outcome is a decision's kind and, in report-only mode, what enforcement
// would have decided.
type Outcome struct {
	Decision    string `json:"decision"`
	WouldDecide string `json:"would_decide,omitempty"`
}

// OutcomeOf is the outcome of a decision.
func OutcomeOf(d *decision.Decision) Outcome {
	o := Outcome{Decision: d.Kind.String()}
	if !d.Enforced && d.WouldDecide != decision.KindUnspecified {
		o.WouldDecide = d.WouldDecide.String()
	}
	return o
}

// String is "deny", or "allow (would deny)" in report-only mode.
func (o Outcome) String() string {
	if o.WouldDecide != "" {
		return o.Decision + " (would " + o.WouldDecide + ")"
	}
	return o.Decision
}

// Diff is how one decision changes.
type Diff struct {
	DecisionID  string    `json:"decision_id"`
	Time        time.Time `json:"time"`
	Tenant      string    `json:"tenant"`
	Environment string    `json:"environment"`
	Action      string    `json:"action"`
	From        Outcome   `json:"from"`
	To          Outcome   `json:"to"`
	// ReasonsAppeared and ReasonsVanished are the reason codes the
	// candidate adds and drops; StepUpsAppeared and StepUpsVanished the
	// step-up kinds.
	ReasonsAppeared []string `json:"reasons_appeared,omitempty"`
	ReasonsVanished []string `json:"reasons_vanished,omitempty"`
	StepUpsAppeared []string `json:"step_ups_appeared,omitempty"`
	StepUpsVanished []string `json:"step_ups_vanished,omitempty"`
	// Approximate names the fields the replay could not take as the
	// policy saw them (masked, or IP lists of a masked IP).
	Approximate []string `json:"approximate,omitempty"`
}

// Changed reports whether the outcome, the reasons or the step-ups differ.
func (d *Diff) Changed() bool {
	return d.From != d.To || len(d.ReasonsAppeared)+len(d.ReasonsVanished)+len(d.StepUpsAppeared)+len(d.StepUpsVanished) > 0
}

// Compare is the Diff of a recorded outcome, reasons and step-ups and a
// decision of the candidate.
func Compare(from Outcome, reasons, stepUps []string, to *decision.Decision) Diff {
	toReasons := make([]string, len(to.Reasons))
	for i, r := range to.Reasons {
		toReasons[i] = r.Code
	}
	toSteps := make([]string, len(to.StepUps))
	for i, s := range to.StepUps {
		toSteps[i] = string(s.Kind)
	}
	d := Diff{From: from, To: OutcomeOf(to)}
	d.ReasonsAppeared, d.ReasonsVanished = setDiff(reasons, toReasons)
	d.StepUpsAppeared, d.StepUpsVanished = setDiff(stepUps, toSteps)
	return d
}

// setDiff returns what b has that a has not, and what a has that b has
// not, each sorted without repeats.
func setDiff(a, b []string) (added, removed []string) {
	for _, s := range b {
		if !slices.Contains(a, s) && !slices.Contains(added, s) {
			added = append(added, s)
		}
	}
	for _, s := range a {
		if !slices.Contains(b, s) && !slices.Contains(removed, s) {
			removed = append(removed, s)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	return added, removed
}

// Filter selects the records to replay; the zero value selects all.
type Filter struct {
	// Since and Until bound the decision time (Until excluded); zero for
	// no bound.
	Since, Until time.Time
	// Tenant selects one tenant; empty for all.
	Tenant string
}

func (f Filter) match(r *Record) bool {
	return (f.Tenant == "" || r.Tenant == f.Tenant) &&
		(f.Since.IsZero() || !r.Time.Before(f.Since)) &&
		(f.Until.IsZero() || r.Time.Before(f.Until))
}

// Change is one row of the table of changes: how many decisions of a
// tenant and an action went from one outcome to another.
type Change struct {
	Tenant string `json:"tenant"`
	Action string `json:"action"`
	From   string `json:"from"`
	To     string `json:"to"`
	Count  int    `json:"count"`
}

// CodeCount is a reason code and how many decisions it appeared in or
// vanished from.
type CodeCount struct {
	Code  string `json:"code"`
	Count int    `json:"count"`
}

// Sample is a kind of change ("allow -> deny", "deny -> deny" for one
// whose reasons or step-ups alone changed) and some of its decisions.
type Sample struct {
	Kind      string `json:"kind"`
	Count     int    `json:"count"`
	Decisions []Diff `json:"decisions"`
}

// SamplesPerKind is how many decisions each Sample shows.
const SamplesPerKind = 5

// Report is what a replay found.
type Report struct {
	// Decisions is the number of decisions replayed.
	Decisions int `json:"decisions"`
	// Changed is the number whose outcome, reasons or step-ups differ.
	Changed int `json:"changed"`
	// Unchanged is Decisions - Changed.
	Unchanged int `json:"unchanged"`
	// WithoutInput counts selected lines that recorded no input (written
	// without --decision-log-inputs); they are not replayed.
	WithoutInput int `json:"without_input"`
	// Failed counts decisions the candidate could not decide, by error.
	Failed int `json:"failed"`
	// FailedSamples are some of their ids and errors.
	FailedSamples []Failure `json:"failed_samples,omitempty"`
	// Approximate counts the replayed decisions approximate in some
	// field, and ApproximateFields each field.
	Approximate       int            `json:"approximate"`
	ApproximateFields map[string]int `json:"approximate_fields"`
	// RecordedRevisions counts the decisions of each recorded revision;
	// CandidateRevision is the candidate's.
	RecordedRevisions map[string]int `json:"recorded_revisions"`
	CandidateRevision string         `json:"candidate_revision"`
	// Changes is the table of changes by tenant, action and outcome.
	Changes []Change `json:"changes"`
	// ReasonsAppeared and ReasonsVanished count the reason codes the
	// candidate adds and drops, most frequent first.
	ReasonsAppeared []CodeCount `json:"reasons_appeared"`
	ReasonsVanished []CodeCount `json:"reasons_vanished"`
	// Samples are some decisions of each kind of change.
	Samples []Sample `json:"samples"`
	// Diffs are all changed decisions, in log order (not in JSON: the
	// samples are).
	Diffs []Diff `json:"-"`
}

// Failure is a decision the candidate could not decide.
type Failure struct {
	DecisionID string `json:"decision_id"`
	Error      string `json:"error"`
}

// Replayer decides records again with a candidate and gathers the report.
// Add records in log order, then call Report.
type Replayer struct {
	c      *Candidate
	filter Filter
	rep    Report
	batch  []*Record
	err    error
}

// New returns a Replayer of c for the records filter selects.
func New(c *Candidate, filter Filter) *Replayer {
	return &Replayer{c: c, filter: filter, rep: Report{
		ApproximateFields: map[string]int{},
		RecordedRevisions: map[string]int{},
		CandidateRevision: c.Revision(),
	}}
}

// batchSize is how many records are decided at a time, in parallel.
const batchSize = 512

// Add takes one record (ReadFile's callback). It keeps r.
func (p *Replayer) Add(ctx context.Context, r *Record) error {
	if !p.filter.match(r) {
		return nil
	}
	if r.Input == nil {
		p.rep.WithoutInput++
		return nil
	}
	p.batch = append(p.batch, r)
	if len(p.batch) >= batchSize {
		return p.flush(ctx)
	}
	return nil
}

// result is one record decided again.
type result struct {
	d      *decision.Decision
	approx []string
	err    error
}

// flush decides the batch, on as many goroutines as there are cores, and
// adds the results in log order.
func (p *Replayer) flush(ctx context.Context) error {
	results := make([]result, len(p.batch))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(p.batch)) {
		wg.Go(func() {
			for i := range next {
				r := p.batch[i]
				d, approx, err := p.c.Decide(ctx, r.Input, r.Masked)
				results[i] = result{d, approx, err}
			}
		})
	}
	for i := range p.batch {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	for i, r := range p.batch {
		p.add(r, results[i])
	}
	clear(p.batch)
	p.batch = p.batch[:0]
	return nil
}

// add counts one decided record.
func (p *Replayer) add(r *Record, res result) {
	rep := &p.rep
	rep.Decisions++
	rep.RecordedRevisions[r.PolicyRevision]++
	if len(res.approx) > 0 {
		rep.Approximate++
		for _, f := range res.approx {
			rep.ApproximateFields[f]++
		}
	}
	if res.err != nil {
		rep.Failed++
		if len(rep.FailedSamples) < SamplesPerKind {
			rep.FailedSamples = append(rep.FailedSamples, Failure{DecisionID: r.DecisionID, Error: res.err.Error()})
		}
		return
	}
	d := Compare(r.Outcome(), r.Reasons, r.StepUps, res.d)
	if !d.Changed() {
		return
	}
	d.DecisionID, d.Time, d.Tenant, d.Environment, d.Action = r.DecisionID, r.Time, r.Tenant, r.Environment, r.Action.Name
	d.Approximate = res.approx
	rep.Diffs = append(rep.Diffs, d)
}

// Report decides what is left and returns the report.
func (p *Replayer) Report(ctx context.Context) (*Report, error) {
	if err := p.flush(ctx); err != nil {
		return nil, err
	}
	rep := p.rep
	rep.Changed = len(rep.Diffs)
	rep.Unchanged = rep.Decisions - rep.Failed - rep.Changed
	rows := map[Change]int{}
	appeared, vanished := map[string]int{}, map[string]int{}
	samples := map[string]*Sample{}
	for _, d := range rep.Diffs {
		rows[Change{Tenant: d.Tenant, Action: d.Action, From: d.From.String(), To: d.To.String()}]++
		for _, c := range d.ReasonsAppeared {
			appeared[c]++
		}
		for _, c := range d.ReasonsVanished {
			vanished[c]++
		}
		kind := d.From.String() + " -> " + d.To.String()
		s := samples[kind]
		if s == nil {
			s = &Sample{Kind: kind}
			samples[kind] = s
		}
		s.Count++
		if len(s.Decisions) < SamplesPerKind {
			s.Decisions = append(s.Decisions, d)
		}
	}
	rep.Changes = make([]Change, 0, len(rows))
	for row, n := range rows {
		row.Count = n
		rep.Changes = append(rep.Changes, row)
	}
	slices.SortFunc(rep.Changes, func(a, b Change) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Action, b.Action),
			cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	})
	rep.ReasonsAppeared, rep.ReasonsVanished = counts(appeared), counts(vanished)
	rep.Samples = make([]Sample, 0, len(samples))
	for _, k := range slices.Sorted(maps.Keys(samples)) {
		rep.Samples = append(rep.Samples, *samples[k])
	}
	return &rep, nil
}

// counts sorts code counts, most frequent first.
func counts(m map[string]int) []CodeCount {
	out := make([]CodeCount, 0, len(m))
	for c, n := range m {
		out = append(out, CodeCount{Code: c, Count: n})
	}
	slices.SortFunc(out, func(a, b CodeCount) int { return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Code, b.Code)) })
	return out
}

// Files replays every decision of the log files with c.
func Files(ctx context.Context, c *Candidate, filter Filter, paths []string) (*Report, error) {
	p := New(c, filter)
	for _, path := range paths {
		if err := ReadFile(path, func(r *Record) error { return p.Add(ctx, r) }); err != nil {
			return nil, err
		}
	}
	return p.Report(ctx)
}
