package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// runExplain is `pdp explain ID`: a running server finds the decision in
// its decision log (GetDecision) and evaluates it again from its recorded
// input, with every condition, the risk factors and the revision. Exit
// codes: ExitOK when the decision was found and explained, ExitError when
// not, ExitUsage for bad flags.
func runExplain(ctx context.Context, args []string, env Env) int {
	var addr, reason string
	var timeout time.Duration
	var asJSON bool
	var sec clientSecurity
	sec.getenv = env.Getenv
	fs := flag.NewFlagSet("pdp explain", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.StringVar(&addr, "addr", "127.0.0.1:9191", "gRPC address of the server")
	fs.DurationVar(&timeout, "timeout", 30*time.Second, "deadline of the call (the server reads its decision log)")
	fs.StringVar(&reason, "reason", "", "why you look at the decision, recorded in the audit log (required)")
	fs.BoolVar(&asJSON, "json", false, "print the response as JSON")
	sec.register(fs)
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, `usage: pdp explain DECISION_ID --reason TEXT [--addr HOST:PORT] [--json]

Asks a running server for a decision of its decision log, evaluated again
from its recorded input (pdp serve --decision-log FILE --decision-log-inputs)
with its full explanation: by the revision that decided it while the server
still holds it, else by the policy set serving now, which the answer says.

flags:
`)
		fs.PrintDefaults()
	}
	rest, code, done := parseArgs(fs, args)
	if done {
		return code
	}
	var problems []string
	if len(rest) != 1 {
		problems = append(problems, "name exactly one decision id")
	}
	if reason == "" {
		problems = append(problems, "--reason is required")
	}
	if len(problems) > 0 {
		return refuse(env.Stderr, fs, problems, "usage: pdp explain DECISION_ID --reason TEXT [--addr HOST:PORT] [--json]")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, code, err := sec.connect(addr)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp explain: %v\n", err)
		return code
	}
	defer conn.Close()
	resp, err := pdpv1.NewPolicyAdminServiceClient(conn).GetDecision(ctx, &pdpv1.GetDecisionRequest{DecisionId: rest[0], Reason: reason})
	if err != nil {
		printRPCError(env.Stderr, "pdp explain", err)
		return ExitError
	}
	if asJSON {
		b, err := protojson.MarshalOptions{Multiline: true}.Marshal(resp)
		if err != nil {
			fmt.Fprintf(env.Stderr, "pdp explain: %v\n", err)
			return ExitError
		}
		fmt.Fprintln(env.Stdout, string(b))
		return ExitOK
	}
	printExplained(env.Stdout, resp)
	return ExitOK
}

// printExplained writes what was recorded, how it was evaluated again and
// the explanation.
func printExplained(w io.Writer, r *pdpv1.GetDecisionResponse) {
	rec := r.GetRecorded()
	word := func(d pdpv1.Decision) string { return strings.ToLower(strings.TrimPrefix(d.String(), "DECISION_")) }
	fmt.Fprintf(w, "recorded:  %s at %s, %s/%s %s, revision %s\n", word(rec.GetDecision()),
		rec.GetTime().AsTime().Format(time.RFC3339Nano), rec.GetTenant(), rec.GetEnvironment(), rec.GetAction(), rec.GetPolicyRevision())
	if len(rec.GetReasons()) > 0 {
		fmt.Fprintf(w, "           reasons %s\n", strings.Join(rec.GetReasons(), ", "))
	}
	if r.GetRecordedRevision() {
		fmt.Fprintf(w, "evaluated again with the recorded revision %s\n", r.GetExplained().GetPolicyRevision())
	} else {
		fmt.Fprintf(w, "NOTE: revision %s is no longer held; evaluated again with the CURRENT revision %s\n",
			rec.GetPolicyRevision(), r.GetExplained().GetPolicyRevision())
	}
	if len(r.GetApproximate()) > 0 {
		fmt.Fprintf(w, "approximate: the log masked %s\n", strings.Join(r.GetApproximate(), ", "))
	}
	fmt.Fprintln(w)
	printDecision(w, r.GetExplained())
}
