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

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// Exit codes of `pdp check`.
const (
	ExitDeny      = 2
	ExitChallenge = 3
)

type checkFlags struct {
	addr, file                                         string
	asJSON, explain                                    bool
	timeout                                            time.Duration
	tenant, environment                                string
	user, email, roles, groups, subjectTenant          string
	mfaEnrolled                                        bool
	provider, methods, authenticatedAt, mfaVerifiedAt  string
	ip, country                                        string
	device                                             string
	deviceManaged, deviceCompliant                     bool
	action, resource                                   string
	session, sessionStarted, lastActivity, requestTime string
}

func runCheck(ctx context.Context, args []string, env Env) int {
	var f checkFlags
	fs := flag.NewFlagSet("pdp check", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.StringVar(&f.addr, "addr", "127.0.0.1:9191", "gRPC address of the server")
	fs.StringVar(&f.file, "file", "", "read the CheckRequest from this JSON file (flags override its fields)")
	fs.BoolVar(&f.asJSON, "json", false, "print the response as JSON")
	fs.BoolVar(&f.explain, "explain", false, "ask for every rule that fired and every condition that failed")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Second, "deadline of the call")
	fs.StringVar(&f.tenant, "tenant", "", "tenant")
	fs.StringVar(&f.environment, "environment", "", "environment (default production)")
	fs.StringVar(&f.user, "user", "", "subject id")
	fs.StringVar(&f.email, "email", "", "subject email")
	fs.StringVar(&f.roles, "roles", "", "subject roles, comma-separated")
	fs.StringVar(&f.groups, "groups", "", "subject groups, comma-separated")
	fs.StringVar(&f.subjectTenant, "subject-tenant", "", "the workspace the subject belongs to")
	fs.BoolVar(&f.mfaEnrolled, "mfa-enrolled", false, "the subject has a second factor")
	fs.StringVar(&f.provider, "provider", "", "authentication provider (password, google, saml:<name>, ...)")
	fs.StringVar(&f.methods, "methods", "", "amr values, comma-separated")
	fs.StringVar(&f.authenticatedAt, "authenticated-at", "", "when the subject authenticated: RFC 3339 or an age such as 2h")
	fs.StringVar(&f.mfaVerifiedAt, "mfa-verified-at", "", "when the subject last did MFA: RFC 3339 or an age such as 10m")
	fs.StringVar(&f.ip, "ip", "", "client IP")
	fs.StringVar(&f.country, "country", "", "client country (ISO 3166 alpha-2)")
	fs.StringVar(&f.device, "device", "", "device id")
	fs.BoolVar(&f.deviceManaged, "device-managed", false, "the device is managed")
	fs.BoolVar(&f.deviceCompliant, "device-compliant", false, "the device is compliant")
	fs.StringVar(&f.action, "action", "", "action, such as api.read")
	fs.StringVar(&f.resource, "resource", "", "resource")
	fs.StringVar(&f.session, "session", "", "session id")
	fs.StringVar(&f.sessionStarted, "session-started", "", "when the session started: RFC 3339 or an age")
	fs.StringVar(&f.lastActivity, "last-activity", "", "last activity in the session: RFC 3339 or an age such as 3h")
	fs.StringVar(&f.requestTime, "time", "", "request time: RFC 3339 (default: the server clock)")
	sec := clientSecurity{getenv: env.Getenv}
	sec.register(fs)
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
	dial, err := sec.dialOptions()
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp check: %v\n", err)
		return ExitUsage
	}
	conn, err := grpc.NewClient(f.addr, dial...)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp check: %v\n", err)
		return ExitError
	}
	defer conn.Close()
	resp, err := pdpv1.NewDecisionServiceClient(conn).Check(ctx, req)
	if err != nil {
		printRPCError(env.Stderr, err)
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
	sub := ensure(&req.Subject)
	authn := ensure(&req.Authentication)
	netw := ensure(&req.Network)
	dev := ensure(&req.Device)
	act := ensure(&req.Action)
	sess := ensure(&req.Session)
	var errs []error
	ts := func(name, v string) *timestamppb.Timestamp {
		t, err := parseWhen(v, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s: %v", name, err))
			return nil
		}
		return timestamppb.New(t)
	}
	str := func(name string, dst *string, v string) {
		if set[name] {
			*dst = v
		}
	}
	str("tenant", &req.Tenant, f.tenant)
	str("environment", &req.Environment, f.environment)
	str("user", &sub.Id, f.user)
	str("email", &sub.Email, f.email)
	str("subject-tenant", &sub.Tenant, f.subjectTenant)
	str("provider", &authn.Provider, f.provider)
	str("ip", &netw.Ip, f.ip)
	str("country", &netw.Country, f.country)
	str("device", &dev.Id, f.device)
	str("action", &act.Name, f.action)
	str("resource", &act.Resource, f.resource)
	str("session", &sess.Id, f.session)
	if set["roles"] {
		sub.Roles = splitList(f.roles)
	}
	if set["groups"] {
		sub.Groups = splitList(f.groups)
	}
	if set["methods"] {
		authn.Methods = splitList(f.methods)
	}
	if set["mfa-enrolled"] {
		sub.MfaEnrolled = f.mfaEnrolled
	}
	if set["device-managed"] {
		dev.Managed = f.deviceManaged
	}
	if set["device-compliant"] {
		dev.Compliant = f.deviceCompliant
	}
	if set["explain"] {
		req.Explain = f.explain
	}
	if set["authenticated-at"] {
		authn.AuthenticatedAt = ts("authenticated-at", f.authenticatedAt)
	}
	if set["mfa-verified-at"] {
		authn.MfaVerifiedAt = ts("mfa-verified-at", f.mfaVerifiedAt)
	}
	if set["session-started"] {
		sess.StartedAt = ts("session-started", f.sessionStarted)
	}
	if set["last-activity"] {
		sess.LastActivityAt = ts("last-activity", f.lastActivity)
	}
	if set["time"] {
		req.Time = ts("time", f.requestTime)
	}
	if req.GetTenant() == "" {
		errs = append(errs, errors.New("--tenant is required"))
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

func printRPCError(w io.Writer, err error) {
	st := status.Convert(err)
	fmt.Fprintf(w, "pdp check: %s: %s\n", st.Code(), st.Message())
	for _, v := range fieldViolations(st) {
		fmt.Fprintf(w, "  %s: %s\n", v[0], v[1])
	}
}
