package pdpclient_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/pdp-dev/pdp/clients/go/pdpclient"
	"github.com/pdp-dev/pdp/clients/go/pdpfake"
	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

func TestCheckOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                        string
		resp                        *pdpv1.CheckResponse
		allowed, denied, challenged bool
		codes                       []string
	}{
		{name: "allow", resp: pdpfake.Allow(0), allowed: true, codes: []string{}},
		{name: "deny", resp: pdpfake.Deny("network.ip_denied", "authz.role_forbidden"), denied: true,
			codes: []string{"network.ip_denied", "authz.role_forbidden"}},
		{name: "challenge", resp: pdpfake.Challenge(pdpfake.MFA(5 * time.Minute)), challenged: true,
			codes: []string{"authn.mfa_required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := pdpfake.Start(t, pdpfake.Respond(tt.resp))
			d, err := newClient(t, fake).Check(context.Background(), request("alice"))
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if d.Allowed() != tt.allowed || d.Denied() != tt.denied || d.Challenged() != tt.challenged {
				t.Errorf("allowed, denied, challenged = %t, %t, %t; want %t, %t, %t",
					d.Allowed(), d.Denied(), d.Challenged(), tt.allowed, tt.denied, tt.challenged)
			}
			if diff := cmp.Diff(tt.codes, d.ReasonCodes()); diff != "" {
				t.Errorf("reason codes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.resp, d.Response(), protocmp.Transform(),
				protocmp.IgnoreFields(&pdpv1.CheckResponse{}, "decision_id")); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(d.ID(), "fake-") || d.Synthetic() || d.Cached() || d.Err() != nil {
				t.Errorf("id %q synthetic %t cached %t err %v", d.ID(), d.Synthetic(), d.Cached(), d.Err())
			}
			if diff := cmp.Diff(request("alice"), fake.Checks()[0], protocmp.Transform()); diff != "" {
				t.Errorf("request the server saw (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFailClosed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		check pdpfake.CheckFunc
		code  codes.Code
		isErr error
	}{
		{name: "unavailable", check: failing(100, codes.Unavailable, nil), code: codes.Unavailable},
		{name: "invalid argument", check: failing(100, codes.InvalidArgument, nil), code: codes.InvalidArgument},
		{name: "permission denied", check: failing(100, codes.PermissionDenied, nil), code: codes.PermissionDenied},
		{name: "unspecified decision", check: pdpfake.Respond(&pdpv1.CheckResponse{}), code: codes.Unknown, isErr: pdpclient.ErrInvalidResponse},
		{name: "allowed flag contradicts deny", check: pdpfake.Respond(&pdpv1.CheckResponse{
			Decision: pdpv1.Decision_DECISION_DENY, Allowed: true}), code: codes.Unknown, isErr: pdpclient.ErrInvalidResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := pdpfake.Start(t, tt.check)
			c := newClient(t, fake, pdpclient.WithRetryPolicy(pdpclient.RetryPolicy{
				MaxAttempts: 2, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond, BackoffMultiplier: 1}))
			d, err := c.Check(context.Background(), request("alice"))
			if err == nil {
				t.Fatal("Check succeeded; want an error")
			}
			if got := status.Code(err); got != tt.code {
				t.Errorf("code = %v; want %v (%v)", got, tt.code, err)
			}
			if tt.isErr != nil && !errors.Is(err, tt.isErr) {
				t.Errorf("error %v is not %v", err, tt.isErr)
			}
			assertFailClosed(t, d, err)
		})
	}
}

func assertFailClosed(t *testing.T, d *pdpclient.Decision, err error) {
	t.Helper()
	if d == nil {
		t.Fatal("nil decision with the error")
	}
	if d.Allowed() || !d.Denied() || !d.Synthetic() || d.FailedOpen() || d.Err() != err || d.ID() != "" {
		t.Errorf("synthetic deny: allowed %t denied %t synthetic %t failed open %t err %v id %q",
			d.Allowed(), d.Denied(), d.Synthetic(), d.FailedOpen(), d.Err(), d.ID())
	}
	if diff := cmp.Diff([]string{pdpclient.ReasonNoDecision}, d.ReasonCodes()); diff != "" {
		t.Errorf("reason codes (-want +got):\n%s", diff)
	}
}

func TestFailOpen(t *testing.T) {
	t.Parallel()
	fake := pdpfake.Start(t, failing(1000, codes.Unavailable, nil))
	c := newClient(t, fake, pdpclient.WithoutRetries(), pdpclient.WithFailOpen(pdpclient.FailOpenOnUnavailable))
	d, err := c.Check(context.Background(), request("alice"))
	if err != nil {
		t.Fatalf("Check: %v; want fail open", err)
	}
	if !d.Allowed() || !d.FailedOpen() || !d.Synthetic() || status.Code(d.Err()) != codes.Unavailable {
		t.Errorf("allowed %t failed open %t synthetic %t err %v", d.Allowed(), d.FailedOpen(), d.Synthetic(), d.Err())
	}
	if !d.HasReason(pdpclient.ReasonFailOpen) {
		t.Errorf("reasons %v lack %s", d.ReasonCodes(), pdpclient.ReasonFailOpen)
	}

	// The predicate keeps other errors closed.
	fake.SetCheck(failing(1000, codes.InvalidArgument, nil))
	d, err = c.Check(context.Background(), request("bob"))
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("err = %v; want InvalidArgument", err)
	}
	assertFailClosed(t, d, err)
}

func TestFailOpenOnUnavailable(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]bool{
		status.Error(codes.Unavailable, ""):      true,
		status.Error(codes.DeadlineExceeded, ""): true,
		status.Error(codes.Canceled, ""):         false,
		status.Error(codes.InvalidArgument, ""):  false,
		status.Error(codes.Unauthenticated, ""):  false,
		pdpclient.ErrInvalidResponse:             false,
		errors.New("something else"):             false,
	} {
		if got := pdpclient.FailOpenOnUnavailable(err); got != want {
			t.Errorf("FailOpenOnUnavailable(%v) = %t; want %t", err, got, want)
		}
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	fast := pdpclient.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, BackoffMultiplier: 2}
	tests := []struct {
		name      string
		check     pdpfake.CheckFunc
		opts      []pdpclient.Option
		wantCalls int
		wantCode  codes.Code
	}{
		{name: "unavailable twice then allow", check: failing(2, codes.Unavailable, pdpfake.Allow(0)),
			opts: []pdpclient.Option{pdpclient.WithRetryPolicy(fast)}, wantCalls: 3, wantCode: codes.OK},
		{name: "attempts exhausted", check: failing(3, codes.Unavailable, pdpfake.Allow(0)),
			opts: []pdpclient.Option{pdpclient.WithRetryPolicy(fast)}, wantCalls: 3, wantCode: codes.Unavailable},
		{name: "default policy", check: failing(2, codes.Unavailable, pdpfake.Allow(0)), wantCalls: 3, wantCode: codes.OK},
		{name: "other codes are not retried", check: failing(1, codes.Internal, pdpfake.Allow(0)),
			opts: []pdpclient.Option{pdpclient.WithRetryPolicy(fast)}, wantCalls: 1, wantCode: codes.Internal},
		{name: "without retries", check: failing(1, codes.Unavailable, pdpfake.Allow(0)),
			opts: []pdpclient.Option{pdpclient.WithoutRetries()}, wantCalls: 1, wantCode: codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := pdpfake.Start(t, tt.check)
			d, err := newClient(t, fake, tt.opts...).Check(context.Background(), request("alice"))
			if got := status.Code(err); got != tt.wantCode {
				t.Errorf("code = %v; want %v", got, tt.wantCode)
			}
			if tt.wantCode == codes.OK && !d.Allowed() {
				t.Errorf("not allowed after retries: %v", d.ReasonCodes())
			}
			if got := fake.CheckCount(); got != tt.wantCalls {
				t.Errorf("server saw %d calls; want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestDeadline(t *testing.T) {
	t.Parallel()
	fake := pdpfake.Start(t, func(ctx context.Context, _ *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Second):
			return pdpfake.Allow(0), nil
		}
	})
	c := newClient(t, fake, pdpclient.WithTimeout(100*time.Millisecond))
	start := time.Now()
	d, err := c.Check(context.Background(), request("alice"))
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Check took %v with a 100ms timeout", took)
	}
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("err = %v; want DeadlineExceeded", err)
	}
	assertFailClosed(t, d, err)

	// A caller's earlier deadline wins over the client's timeout.
	c = newClient(t, fake, pdpclient.WithTimeout(10*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := c.Check(ctx, request("bob")); status.Code(err) != codes.DeadlineExceeded || time.Since(start) > 3*time.Second {
		t.Errorf("err = %v after %v; want DeadlineExceeded quickly", err, time.Since(start))
	}
}

func TestAPIKeyInsecure(t *testing.T) {
	t.Parallel()
	fake := pdpfake.Start(t, nil)
	c := newClient(t, fake, pdpclient.WithAPIKey("k3y"))
	if _, err := c.Check(context.Background(), request("alice")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Report(context.Background(), &pdpv1.ReportRequest{Tenant: "acme", Event: pdpv1.Event_EVENT_LOGOUT}); err != nil {
		t.Fatal(err)
	}
	for i, md := range fake.Metadata() {
		if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer k3y" {
			t.Errorf("call %d: authorization = %q", i, got)
		}
	}
}

func TestAPIKeyOverTLS(t *testing.T) {
	t.Parallel()
	cert, roots := selfSigned(t)
	fake := pdpfake.Start(t, nil, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
	c, err := pdpclient.New(fake.Addr(), pdpclient.WithTLSConfig(&tls.Config{RootCAs: roots}), pdpclient.WithAPIKey("s3cret"),
		pdpclient.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Check(context.Background(), request("alice")); err != nil {
		t.Fatalf("Check over TLS: %v", err)
	}
	if got := fake.Metadata()[0].Get("authorization"); len(got) != 1 || got[0] != "Bearer s3cret" {
		t.Errorf("authorization = %q", got)
	}

	// The default credentials verify the server against the system roots,
	// which do not hold the test certificate: the check fails closed.
	c2, err := pdpclient.New(fake.Addr(), pdpclient.WithAPIKey("s3cret"), pdpclient.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	d, err := c2.Check(context.Background(), request("alice"))
	if status.Code(err) != codes.Unavailable {
		t.Errorf("err = %v; want Unavailable (handshake failure)", err)
	}
	assertFailClosed(t, d, err)
}

// selfSigned makes a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "pdp test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestReport(t *testing.T) {
	t.Parallel()
	fake := pdpfake.Start(t, nil)
	c := newClient(t, fake)
	req := &pdpv1.ReportRequest{Tenant: "acme", Event: pdpv1.Event_EVENT_LOGIN_FAILED, Subject: &pdpv1.Subject{Id: "alice"}}
	resp, err := c.Report(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetEventId() == "" {
		t.Error("empty event id")
	}
	if diff := cmp.Diff([]*pdpv1.ReportRequest{req}, fake.Reports(), protocmp.Transform()); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
}

func TestClosedClientFailsClosed(t *testing.T) {
	t.Parallel()
	fake := pdpfake.Start(t, nil)
	c := newClient(t, fake)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := c.Check(context.Background(), request("alice"))
	if err == nil {
		t.Fatal("Check after Close succeeded")
	}
	assertFailClosed(t, d, err)
}

func TestNilRequestAndCancelledContext(t *testing.T) {
	t.Parallel()
	fake := pdpfake.Start(t, nil)
	c := newClient(t, fake)
	d, err := c.Check(context.Background(), nil)
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("nil request: err = %v", err)
	}
	assertFailClosed(t, d, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, err = c.Check(ctx, request("alice"))
	if status.Code(err) != codes.Canceled {
		t.Errorf("cancelled: err = %v", err)
	}
	assertFailClosed(t, d, err)
	if n := fake.CheckCount(); n != 0 {
		t.Errorf("server saw %d checks", n)
	}
}

func TestNewValidation(t *testing.T) {
	t.Parallel()
	_, err := pdpclient.New(" ",
		pdpclient.WithInsecure(), pdpclient.WithTLSConfig(&tls.Config{}),
		pdpclient.WithAPIKey("a b"),
		pdpclient.WithTimeout(0),
		pdpclient.WithRetryPolicy(pdpclient.RetryPolicy{MaxAttempts: 9}),
		pdpclient.WithCacheSize(-1),
		pdpclient.WithCacheMaxTTL(-time.Second),
	)
	if err == nil {
		t.Fatal("New accepted invalid options")
	}
	for _, want := range []string{"target is empty", "both set", "API key", "timeout 0s", "retry attempts 9", "cache size -1", "cache max TTL -1s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	_, err = pdpclient.New("127.0.0.1:1", pdpclient.WithInsecure(), pdpclient.WithRetryPolicy(pdpclient.RetryPolicy{
		MaxAttempts: 2, InitialBackoff: time.Second, MaxBackoff: time.Millisecond, BackoffMultiplier: 0.5}))
	if err == nil || !strings.Contains(err.Error(), "backoff") || !strings.Contains(err.Error(), "multiplier") {
		t.Errorf("bad backoff: err = %v", err)
	}
}

func TestContext(t *testing.T) {
	t.Parallel()
	if _, ok := pdpclient.FromContext(context.Background()); ok {
		t.Error("decision in an empty context")
	}
	d := pdpclient.NewDecision(pdpfake.Allow(time.Second))
	got, ok := pdpclient.FromContext(pdpclient.NewContext(context.Background(), d))
	if !ok || got != d {
		t.Errorf("FromContext = %v, %t", got, ok)
	}
	if d.CacheTTL() != time.Second || !d.Enforced() {
		t.Errorf("ttl %v enforced %t", d.CacheTTL(), d.Enforced())
	}
}
