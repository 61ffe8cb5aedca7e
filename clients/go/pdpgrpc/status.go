package pdpgrpc

import (
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pdp-dev/pdp/clients/go/pdpclient"
)

// ErrorInfoDomain is the domain of the google.rpc.ErrorInfo details.
const ErrorInfoDomain = "pdp"

// maxReasonLen is the longest ErrorInfo reason (AIP-193).
const maxReasonLen = 63

// denyStatus is PERMISSION_DENIED with the reason codes in an ErrorInfo.
func denyStatus(d *pdpclient.Decision) *status.Status {
	reason := "POLICY_DENIED"
	if codes := d.ReasonCodes(); len(codes) > 0 {
		reason = upperSnake(codes[0])
	}
	return withInfo(status.New(codes.PermissionDenied, "the request is denied by policy"), &errdetails.ErrorInfo{
		Reason:   reason,
		Domain:   ErrorInfoDomain,
		Metadata: infoMetadata(d),
	})
}

// challengeStatus is UNAUTHENTICATED with the step-ups in an ErrorInfo,
// and the WWW-Authenticate value of the challenge.
func challengeStatus(d *pdpclient.Decision, acr pdpclient.ACRValues) (*status.Status, string) {
	c, _ := d.Challenge(acr)
	md := infoMetadata(d)
	kinds := make([]string, 0, len(d.StepUps()))
	for _, s := range d.StepUps() {
		kinds = append(kinds, s.GetKind().String())
	}
	md["step_ups"] = strings.Join(kinds, ",")
	if len(c.ACRValues) > 0 {
		md["acr_values"] = strings.Join(c.ACRValues, " ")
	}
	if c.HasMaxAge {
		md["max_age"] = strconv.FormatInt(int64(c.MaxAge/time.Second), 10)
	}
	st := withInfo(status.New(codes.Unauthenticated, "insufficient user authentication: "+c.Description), &errdetails.ErrorInfo{
		Reason:   "INSUFFICIENT_USER_AUTHENTICATION",
		Domain:   ErrorInfoDomain,
		Metadata: md,
	})
	return st, c.Header()
}

func infoMetadata(d *pdpclient.Decision) map[string]string {
	md := map[string]string{"reason_codes": strings.Join(d.ReasonCodes(), ",")}
	if d.ID() != "" {
		md["decision_id"] = d.ID()
	}
	return md
}

// withInfo attaches info to st, or returns st alone if that fails.
func withInfo(st *status.Status, info *errdetails.ErrorInfo) *status.Status {
	if with, err := st.WithDetails(info); err == nil {
		return with
	}
	return st
}

// upperSnake turns a reason code into an ErrorInfo reason:
// "network.ip_denied" becomes "NETWORK_IP_DENIED".
func upperSnake(code string) string {
	var b strings.Builder
	for _, r := range code {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := strings.Trim(b.String(), "_")
	if len(s) > maxReasonLen {
		s = strings.TrimRight(s[:maxReasonLen], "_")
	}
	if s == "" {
		return "POLICY_DENIED"
	}
	return s
}
