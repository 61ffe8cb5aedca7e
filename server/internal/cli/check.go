package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// Exit codes of `pdp check`.
const (
	ExitDeny      = 2
	ExitChallenge = 3
)

type checkFlags struct {
	requestFlags
	file            string
	asJSON, explain bool
}

func runCheck(ctx context.Context, args []string, env Env) int {
	var f checkFlags
	fs := flag.NewFlagSet("pdp check", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	f.register(fs, env.Getenv, "request")
	fs.StringVar(&f.file, "file", "", "read the CheckRequest from this JSON file (flags override its fields)")
	fs.BoolVar(&f.asJSON, "json", false, "print the response as JSON")
	fs.BoolVar(&f.explain, "explain", false, "ask for every rule that fired and every condition that failed")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "pdp check: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return ExitUsage
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	req, err := buildCheckRequest(f, set, time.Now())
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp check: %v\n", err)
		return ExitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	conn, code, err := f.sec.connect(f.addr)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp check: %v\n", err)
		return code
	}
	defer conn.Close()
	resp, err := pdpv1.NewDecisionServiceClient(conn).Check(ctx, req)
	if err != nil {
		printRPCError(env.Stderr, "pdp check", err)
		return ExitError
	}
	if f.asJSON {
		b, err := protojson.MarshalOptions{Multiline: true}.Marshal(resp)
		if err != nil {
			fmt.Fprintf(env.Stderr, "pdp check: %v\n", err)
			return ExitError
		}
		fmt.Fprintln(env.Stdout, string(b))
	} else {
		printDecision(env.Stdout, resp)
	}
	switch resp.GetDecision() {
	case pdpv1.Decision_DECISION_ALLOW:
		return ExitOK
	case pdpv1.Decision_DECISION_CHALLENGE:
		return ExitChallenge
	default:
		return ExitDeny
	}
}

func buildCheckRequest(f checkFlags, set map[string]bool, now time.Time) (*pdpv1.CheckRequest, error) {
	req := &pdpv1.CheckRequest{}
	if f.file != "" {
		b, err := os.ReadFile(f.file)
		if err != nil {
			return nil, err
		}
		if err := protojson.Unmarshal(b, req); err != nil {
			return nil, fmt.Errorf("%s: %v", f.file, err)
		}
	}
	errs := []error{f.fill(requestParts{
		tenant: &req.Tenant, environment: &req.Environment, subject: &req.Subject,
		authentication: &req.Authentication, network: &req.Network, device: &req.Device,
		action: &req.Action, session: &req.Session, time: &req.Time,
	}, set, now)}
	if set["explain"] {
		req.Explain = f.explain
	}
	if req.GetAction().GetName() == "" {
		errs = append(errs, errors.New("--action is required"))
	}
	return req, errors.Join(errs...)
}

// ensure allocates *p when nil and returns it.
func ensure[T any](p **T) *T {
	if *p == nil {
		*p = new(T)
	}
	return *p
}

// parseWhen reads an RFC 3339 time or an age ("10m" means ten minutes ago).
func parseWhen(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor an age such as 10m", v)
	}
	return now.Add(-d), nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// printRPCError prints a failed call with its field violations.
func printRPCError(w io.Writer, cmd string, err error) {
	st := status.Convert(err)
	fmt.Fprintf(w, "%s: %s: %s\n", cmd, st.Code(), st.Message())
	for _, v := range fieldViolations(st) {
		fmt.Fprintf(w, "  %s: %s\n", v[0], v[1])
	}
}
