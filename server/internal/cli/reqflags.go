package cli

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// requestFlags are the flags `pdp check` and `pdp report` share: where the
// server is, how to reach it, and the context of a request or an event
// (tenant, subject, authentication, network, device, action, session, time).
type requestFlags struct {
	addr                                               string
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
	sec                                                clientSecurity
}

// register adds the shared flags to fs; what names the message in the
// help of --time ("request", "event").
func (f *requestFlags) register(fs *flag.FlagSet, getenv func(string) string, what string) {
	fs.StringVar(&f.addr, "addr", "127.0.0.1:9191", "gRPC address of the server")
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
	fs.StringVar(&f.requestTime, "time", "", what+" time: RFC 3339 or an age such as 5m (default: the server clock)")
	f.sec.getenv = getenv
	f.sec.register(fs)
}

// requestParts point at the fields of a CheckRequest or a ReportRequest
// that the shared flags fill.
type requestParts struct {
	tenant, environment *string
	subject             **pdpv1.Subject
	authentication      **pdpv1.Authentication
	network             **pdpv1.Network
	device              **pdpv1.Device
	action              **pdpv1.Action
	session             **pdpv1.Session
	time                **timestamppb.Timestamp
}

// fill writes the flags that were set (set holds their names) into p and
// returns what is wrong with their values.
func (f *requestFlags) fill(p requestParts, set map[string]bool, now time.Time) error {
	sub := ensure(p.subject)
	authn := ensure(p.authentication)
	netw := ensure(p.network)
	dev := ensure(p.device)
	act := ensure(p.action)
	sess := ensure(p.session)
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
	str("tenant", p.tenant, f.tenant)
	str("environment", p.environment, f.environment)
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
		*p.time = ts("time", f.requestTime)
	}
	if *p.tenant == "" {
		errs = append(errs, errors.New("--tenant is required"))
	}
	return errors.Join(errs...)
}
