package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// reportEvents are the --event words, in the order of the Event enum.
var reportEvents = []string{"login-succeeded", "login-failed", "mfa-succeeded", "mfa-failed", "logout", "activity"}

func runReport(ctx context.Context, args []string, env Env) int {
	var (
		f      requestFlags
		event  string
		asJSON bool
	)
	fs := flag.NewFlagSet("pdp report", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	f.register(fs, env.Getenv, "event")
	fs.StringVar(&event, "event", "", "what happened: "+strings.Join(reportEvents, ", "))
	fs.BoolVar(&asJSON, "json", false, "print the response as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "pdp report: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return ExitUsage
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	req, err := buildReportRequest(f, event, set, time.Now())
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp report: %v\n", err)
		return ExitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	conn, code, err := f.sec.connect(f.addr)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp report: %v\n", err)
		return code
	}
	defer conn.Close()
	resp, err := pdpv1.NewDecisionServiceClient(conn).Report(ctx, req)
	if err != nil {
		printRPCError(env.Stderr, "pdp report", err)
		return ExitError
	}
	if asJSON {
		b, err := protojson.MarshalOptions{Multiline: true}.Marshal(resp)
		if err != nil {
			fmt.Fprintf(env.Stderr, "pdp report: %v\n", err)
			return ExitError
		}
		fmt.Fprintln(env.Stdout, string(b))
		return ExitOK
	}
	fmt.Fprintf(env.Stdout, "recorded:  %s\nid:        %s\n", event, resp.GetEventId())
	return ExitOK
}

func buildReportRequest(f requestFlags, event string, set map[string]bool, now time.Time) (*pdpv1.ReportRequest, error) {
	req := &pdpv1.ReportRequest{}
	errs := []error{f.fill(requestParts{
		tenant: &req.Tenant, environment: &req.Environment, subject: &req.Subject,
		authentication: &req.Authentication, network: &req.Network, device: &req.Device,
		action: &req.Action, session: &req.Session, time: &req.Time,
	}, set, now)}
	ev, err := parseEvent(event)
	if err != nil {
		errs = append(errs, err)
	}
	req.Event = ev
	return req, errors.Join(errs...)
}

// parseEvent reads an --event word such as login-failed.
func parseEvent(word string) (pdpv1.Event, error) {
	if word == "" {
		return 0, fmt.Errorf("--event is required (%s)", strings.Join(reportEvents, ", "))
	}
	name := "EVENT_" + strings.ToUpper(strings.ReplaceAll(word, "-", "_"))
	v, ok := pdpv1.Event_value[name]
	if !ok || v == 0 {
		return 0, fmt.Errorf("--event %q is not one of %s", word, strings.Join(reportEvents, ", "))
	}
	return pdpv1.Event(v), nil
}
