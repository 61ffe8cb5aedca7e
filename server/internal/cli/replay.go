package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pdp-dev/pdp/server/internal/replay"
)

// stringsFlag is a repeatable flag whose values may also be
// comma-separated.
type stringsFlag []string

func (s *stringsFlag) String() string { return strings.Join(*s, ",") }

func (s *stringsFlag) Set(v string) error {
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*s = append(*s, item)
		}
	}
	return nil
}

// runReplay is `pdp replay`: every decision of decision log files that
// recorded its input (--decision-log-inputs) is decided again with a
// candidate policy set, and the differences are reported. Exit codes:
// ExitOK when the replay ran (whatever changed), ExitError when it could
// not, ExitUsage for bad flags.
func runReplay(ctx context.Context, args []string, env Env) int {
	var logs, policyDirs stringsFlag
	var tenantsDir, tenant, since, until string
	var asJSON bool
	fs := flag.NewFlagSet("pdp replay", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Var(&logs, "log", "decision log file, plain or gzipped (repeatable, comma-separated; required)")
	fs.Var(&policyDirs, "policy-dir", "directory of the candidate's Rego modules (repeatable; the built-in library is always there)")
	fs.StringVar(&tenantsDir, "tenants", "", "directory of the candidate's tenant policy files")
	fs.StringVar(&tenant, "tenant", "", "replay this tenant's decisions only")
	fs.StringVar(&since, "since", "", "replay decisions at or after this time: RFC 3339, or a duration before now (24h)")
	fs.StringVar(&until, "until", "", "replay decisions before this time: RFC 3339, or a duration before now")
	fs.BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, `usage: pdp replay --log FILE... [--policy-dir DIR]... [--tenants DIR] [--since T] [--until T] [--tenant T] [--json]

Decides every recorded decision of the log files again with the candidate
policy set (the built-in library, the modules of --policy-dir and the
tenant files of --tenants), without reading or writing any store, and
reports what changes: totals, changes by tenant, action and outcome, the
reasons that appear or vanish, and samples with their decision ids. Only
lines written with --decision-log-inputs can be replayed.

flags:
`)
		fs.PrintDefaults()
	}
	rest, code, done := parseArgs(fs, args)
	if done {
		return code
	}
	var problems []string
	if len(rest) > 0 {
		problems = append(problems, "unexpected arguments: "+strings.Join(rest, " "))
	}
	if len(logs) == 0 {
		problems = append(problems, "--log is required")
	}
	now := time.Now()
	filter := replay.Filter{Tenant: tenant}
	var err error
	if filter.Since, err = timeFlag(since, now); err != nil {
		problems = append(problems, "--since: "+err.Error())
	}
	if filter.Until, err = timeFlag(until, now); err != nil {
		problems = append(problems, "--until: "+err.Error())
	}
	if len(problems) > 0 {
		return refuse(env.Stderr, fs, problems, "usage: pdp replay --log FILE... [--policy-dir DIR]... [--tenants DIR] [--since T] [--until T] [--tenant T] [--json]")
	}

	c, err := replay.Load(ctx, policyDirs, tenantsDir)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp replay: the candidate policy set does not load: %v\n", err)
		return ExitError
	}
	rep, err := replay.Files(ctx, c, filter, logs)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp replay: %v\n", err)
		return ExitError
	}
	if asJSON {
		return printJSON(env.Stdout, rep)
	}
	printReplay(env.Stdout, rep)
	return ExitOK
}

// timeFlag reads an RFC 3339 time or a duration before now; empty is
// zero.
func timeFlag(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration before now", s)
	}
	return now.Add(-d), nil
}

// printReplay writes the report as text: the totals, the table of
// changes, the reasons and the samples.
func printReplay(w io.Writer, r *replay.Report) {
	fmt.Fprintf(w, "replayed %d decisions with revision %s: %d changed, %d unchanged", r.Decisions, r.CandidateRevision, r.Changed, r.Unchanged)
	if r.Failed > 0 {
		fmt.Fprintf(w, ", %d could not be decided", r.Failed)
	}
	fmt.Fprintln(w)
	if r.WithoutInput > 0 {
		fmt.Fprintf(w, "%d lines recorded no input (written without --decision-log-inputs) and were not replayed\n", r.WithoutInput)
	}
	if r.Approximate > 0 {
		fields := make([]string, 0, len(r.ApproximateFields))
		for f, n := range r.ApproximateFields {
			fields = append(fields, fmt.Sprintf("%s %d", f, n))
		}
		fmt.Fprintf(w, "%d decisions are approximate, their inputs masked: %s\n", r.Approximate, strings.Join(slices.Sorted(slices.Values(fields)), ", "))
	}
	for _, f := range r.FailedSamples {
		fmt.Fprintf(w, "not decided: %s: %s\n", f.DecisionID, f.Error)
	}
	if r.Changed == 0 {
		return
	}
	fmt.Fprintln(w, "\nchanges by tenant, action and outcome:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tACTION\tFROM\tTO\tDECISIONS")
	for _, c := range r.Changes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", c.Tenant, c.Action, c.From, c.To, c.Count)
	}
	tw.Flush()
	for _, part := range []struct {
		title string
		codes []replay.CodeCount
	}{{"reasons that appear", r.ReasonsAppeared}, {"reasons that vanish", r.ReasonsVanished}} {
		if len(part.codes) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", part.title)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, c := range part.codes {
			fmt.Fprintf(tw, "  %s\t%d\n", c.Code, c.Count)
		}
		tw.Flush()
	}
	fmt.Fprintln(w, "\nsamples:")
	for _, s := range r.Samples {
		fmt.Fprintf(w, "  %s (%d):\n", s.Kind, s.Count)
		for _, d := range s.Decisions {
			fmt.Fprintf(w, "    %s  %s  %s/%s  %s%s\n", d.DecisionID, d.Time.Format(time.RFC3339), d.Tenant, d.Environment, d.Action, changeNote(d))
		}
	}
}

// changeNote lists the reasons and step-ups a change adds (+) and drops
// (-), and the fields it is approximate in (~).
func changeNote(d replay.Diff) string {
	var parts []string
	for _, c := range d.ReasonsAppeared {
		parts = append(parts, "+"+c)
	}
	for _, c := range d.ReasonsVanished {
		parts = append(parts, "-"+c)
	}
	for _, s := range d.StepUpsAppeared {
		parts = append(parts, "+step-up:"+s)
	}
	for _, s := range d.StepUpsVanished {
		parts = append(parts, "-step-up:"+s)
	}
	for _, f := range d.Approximate {
		parts = append(parts, "~"+f)
	}
	if len(parts) == 0 {
		return ""
	}
	return "  " + strings.Join(parts, " ")
}
