package pdpgrpc_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/pdp-dev/pdp/clients/go/pdpclient"
	"github.com/pdp-dev/pdp/clients/go/pdpfake"
	"github.com/pdp-dev/pdp/clients/go/pdpgrpc"
	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// testService is the protected service: it reports the decision it got in
// the x-seen-decision header.
type testService struct {
	testpb.UnimplementedTestServiceServer
}

func (testService) EmptyCall(ctx context.Context, _ *testpb.Empty) (*testpb.Empty, error) {
	d, ok := pdpclient.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no decision in context")
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs("x-seen-decision", d.ID()))
	return &testpb.Empty{}, nil
}

func (testService) StreamingOutputCall(_ *testpb.StreamingOutputCallRequest, stream testpb.TestService_StreamingOutputCallServer) error {
	d, ok := pdpclient.FromContext(stream.Context())
	if !ok {
		return status.Error(codes.Internal, "no decision in context")
	}
	if err := stream.SetHeader(metadata.Pairs("x-seen-decision", d.ID())); err != nil {
		return err
	}
	for range 2 {
		if err := stream.Send(&testpb.StreamingOutputCallResponse{}); err != nil {
			return err
		}
	}
	return nil
}

// identity reads the user from metadata, as an app's auth layer would.
func identity(ctx context.Context, _ string, req *pdpv1.CheckRequest) error {
	md, _ := metadata.FromIncomingContext(ctx)
	switch users := md.Get("x-user"); {
	case len(users) == 0:
		return nil
	case users[0] == "invalid":
		return errors.New("bad token")
	default:
		req.Subject = &pdpv1.Subject{Id: users[0]}
		return nil
	}
}

// serve starts the test and health services behind the interceptors on a
// loopback port and returns a connection to them.
func serve(t *testing.T, fake *pdpfake.Server, clientOpts []pdpclient.Option, opts ...pdpgrpc.Option) *grpc.ClientConn {
	t.Helper()
	c, err := pdpclient.New(fake.Addr(), append([]pdpclient.Option{pdpclient.WithInsecure(),
		pdpclient.WithTimeout(5 * time.Second), pdpclient.WithoutRetries()}, clientOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	opts = append([]pdpgrpc.Option{pdpgrpc.WithTenant("acme"), pdpgrpc.WithIdentity(identity)}, opts...)
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(pdpgrpc.UnaryServerInterceptor(c, opts...)),
		grpc.ChainStreamInterceptor(pdpgrpc.StreamServerInterceptor(c, opts...)),
	)
	testpb.RegisterTestServiceServer(srv, testService{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// outcome is what a caller of the protected service observed.
type outcome struct {
	code    codes.Code
	header  metadata.MD
	trailer metadata.MD
	info    *errdetails.ErrorInfo
}

func callUnary(t *testing.T, conn *grpc.ClientConn, user string) outcome {
	t.Helper()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-user", user)
	var o outcome
	_, err := testpb.NewTestServiceClient(conn).EmptyCall(ctx, &testpb.Empty{}, grpc.Header(&o.header), grpc.Trailer(&o.trailer))
	o.code, o.info = status.Code(err), errorInfo(err)
	return o
}

func callStream(t *testing.T, conn *grpc.ClientConn, user string) outcome {
	t.Helper()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-user", user)
	stream, err := testpb.NewTestServiceClient(conn).StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var o outcome
	for err == nil {
		_, err = stream.Recv()
	}
	o.header, _ = stream.Header()
	o.trailer = stream.Trailer()
	if !errors.Is(err, io.EOF) {
		o.code, o.info = status.Code(err), errorInfo(err)
	}
	return o
}

func errorInfo(err error) *errdetails.ErrorInfo {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

const mfaChallenge = `Bearer error="insufficient_user_authentication", ` +
	`error_description="multi-factor authentication required", acr_values="urn:pdp:acr:mfa", max_age=120`

func TestInterceptorsEnforce(t *testing.T) {
	t.Parallel()
	unavailable := func(context.Context, *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error) {
		return nil, status.Error(codes.Unavailable, "no policy loaded")
	}
	tests := []struct {
		name       string
		check      pdpfake.CheckFunc
		clientOpts []pdpclient.Option
		code       codes.Code
		header     map[string]string
		trailer    map[string]string
		info       *errdetails.ErrorInfo
	}{
		{name: "allow", check: pdpfake.Respond(pdpfake.Allow(0)), code: codes.OK,
			header: map[string]string{pdpgrpc.DecisionMetadataKey: "fake-1", "x-seen-decision": "fake-1"}},
		{name: "challenge", check: pdpfake.Respond(pdpfake.Challenge(pdpfake.MFA(2 * time.Minute))), code: codes.Unauthenticated,
			header:  map[string]string{pdpgrpc.DecisionMetadataKey: "fake-1", pdpgrpc.AuthenticateMetadataKey: mfaChallenge},
			trailer: map[string]string{pdpgrpc.AuthenticateMetadataKey: mfaChallenge},
			info: &errdetails.ErrorInfo{Reason: "INSUFFICIENT_USER_AUTHENTICATION", Domain: "pdp", Metadata: map[string]string{
				"decision_id": "fake-1", "reason_codes": "authn.mfa_required", "step_ups": "STEP_UP_MFA",
				"acr_values": "urn:pdp:acr:mfa", "max_age": "120"}}},
		{name: "deny", check: pdpfake.Respond(pdpfake.Deny("network.ip_denied", "risk.deny")), code: codes.PermissionDenied,
			header: map[string]string{pdpgrpc.DecisionMetadataKey: "fake-1"},
			info: &errdetails.ErrorInfo{Reason: "NETWORK_IP_DENIED", Domain: "pdp", Metadata: map[string]string{
				"decision_id": "fake-1", "reason_codes": "network.ip_denied,risk.deny"}}},
		{name: "deny without reasons", check: pdpfake.Respond(pdpfake.Deny()), code: codes.PermissionDenied,
			info: &errdetails.ErrorInfo{Reason: "POLICY_DENIED", Domain: "pdp", Metadata: map[string]string{
				"decision_id": "fake-1", "reason_codes": ""}}},
		{name: "no decision fails closed", check: unavailable, code: codes.Unavailable},
		{name: "fail open when asked", check: unavailable, code: codes.OK,
			clientOpts: []pdpclient.Option{pdpclient.WithFailOpen(pdpclient.FailOpenOnUnavailable)},
			header:     map[string]string{"x-seen-decision": ""}},
	}
	for _, tt := range tests {
		for kind, call := range map[string]func(*testing.T, *grpc.ClientConn, string) outcome{"unary": callUnary, "stream": callStream} {
			t.Run(tt.name+"/"+kind, func(t *testing.T) {
				t.Parallel()
				fake := pdpfake.Start(t, tt.check)
				got := call(t, serve(t, fake, tt.clientOpts), "alice")
				if got.code != tt.code {
					t.Errorf("code %v; want %v", got.code, tt.code)
				}
				for k, want := range tt.header {
					if v := got.header.Get(k); len(v) != 1 || v[0] != want {
						t.Errorf("header %s = %q; want %q", k, v, want)
					}
				}
				for k, want := range tt.trailer {
					if v := got.trailer.Get(k); len(v) != 1 || v[0] != want {
						t.Errorf("trailer %s = %q; want %q", k, v, want)
					}
				}
				if diff := cmp.Diff(tt.info, got.info, protocmp.Transform()); diff != "" {
					t.Errorf("ErrorInfo (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestInterceptorBuildsRequest(t *testing.T) {
	t.Parallel()
	fake := pdpfake.Start(t, nil)
	conn := serve(t, fake, nil, pdpgrpc.WithEnvironment("staging"))
	callUnary(t, conn, "alice")
	callStream(t, conn, "bob")
	want := []*pdpv1.CheckRequest{
		{Tenant: "acme", Environment: "staging", Subject: &pdpv1.Subject{Id: "alice"},
			Network: &pdpv1.Network{Ip: "127.0.0.1"}, Action: &pdpv1.Action{Name: "/grpc.testing.TestService/EmptyCall"}},
		{Tenant: "acme", Environment: "staging", Subject: &pdpv1.Subject{Id: "bob"},
			Network: &pdpv1.Network{Ip: "127.0.0.1"}, Action: &pdpv1.Action{Name: "/grpc.testing.TestService/StreamingOutputCall"}},
	}
	if diff := cmp.Diff(want, fake.Checks(), protocmp.Transform()); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
}

func TestInterceptorOptions(t *testing.T) {
	t.Parallel()
	fake := pdpfake.Start(t, pdpfake.Respond(pdpfake.Challenge(pdpfake.MFA(time.Minute))))
	conn := serve(t, fake, nil,
		pdpgrpc.WithTenantFunc(func(_ context.Context, method string) string { return "t-" + method[1:5] }),
		pdpgrpc.WithAction(func(context.Context, string) *pdpv1.Action { return &pdpv1.Action{Name: "api.read"} }),
		pdpgrpc.WithClientIP(func(context.Context) string { return "198.51.100.9" }),
		pdpgrpc.WithACRValues(pdpclient.ACRValues{pdpv1.StepUpKind_STEP_UP_MFA: "phr"}),
	)
	got := callUnary(t, conn, "alice")
	want := `Bearer error="insufficient_user_authentication", ` +
		`error_description="multi-factor authentication required", acr_values="phr", max_age=60`
	if v := got.header.Get(pdpgrpc.AuthenticateMetadataKey); len(v) != 1 || v[0] != want {
		t.Errorf("www-authenticate %q", v)
	}
	wantReq := []*pdpv1.CheckRequest{{Tenant: "t-grpc", Subject: &pdpv1.Subject{Id: "alice"},
		Network: &pdpv1.Network{Ip: "198.51.100.9"}, Action: &pdpv1.Action{Name: "api.read"}}}
	if diff := cmp.Diff(wantReq, fake.Checks(), protocmp.Transform()); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
}

func TestInterceptorIdentityError(t *testing.T) {
	t.Parallel()
	fake := pdpfake.Start(t, nil)
	conn := serve(t, fake, nil)
	for name, call := range map[string]func(*testing.T, *grpc.ClientConn, string) outcome{"unary": callUnary, "stream": callStream} {
		if got := call(t, conn, "invalid"); got.code != codes.Unauthenticated {
			t.Errorf("%s: code %v; want Unauthenticated", name, got.code)
		}
	}
	if n := fake.CheckCount(); n != 0 {
		t.Errorf("the PDP was asked %d times", n)
	}
}

func TestInterceptorSkip(t *testing.T) {
	t.Parallel()
	fake := pdpfake.Start(t, pdpfake.Respond(pdpfake.Deny("authz.role_forbidden")))
	health := healthpb.NewHealthClient(serve(t, fake, nil))
	if _, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health check by default: %v", err)
	}
	health = healthpb.NewHealthClient(serve(t, fake, nil, pdpgrpc.WithSkip(func(context.Context, string) bool { return false })))
	if _, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("health check without skip: %v; want PermissionDenied", err)
	}
	if n := fake.CheckCount(); n != 1 {
		t.Errorf("the PDP was asked %d times; want 1", n)
	}
}

func TestInterceptorsConcurrent(t *testing.T) {
	t.Parallel()
	fake := pdpfake.Start(t, func(_ context.Context, req *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error) {
		if req.GetSubject().GetId() == "mallory" {
			return pdpfake.Deny("incident.user_suspended"), nil
		}
		return pdpfake.Allow(time.Minute), nil
	})
	conn := serve(t, fake, nil)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			user, want, call := "alice", codes.OK, callUnary
			if i%2 == 0 {
				call = callStream
			}
			if i%5 == 0 {
				user, want = "mallory", codes.PermissionDenied
			}
			if got := call(t, conn, user); got.code != want {
				t.Errorf("%s: %v; want %v", user, got.code, want)
			}
		})
	}
	wg.Wait()
}
