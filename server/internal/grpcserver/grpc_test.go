package grpcserver_test

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/grpcserver"
	"github.com/pdp-dev/pdp/server/internal/rpcstatus"
)

// denyGuard refuses calls carrying "x-test-deny" metadata, standing in for
// the authentication interceptor a guard slot is for.
func denyGuard(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if md, _ := metadata.FromIncomingContext(ctx); len(md.Get("x-test-deny")) > 0 {
		return nil, fault.New(fault.Unauthenticated, "missing API key")
	}
	return handler(ctx, req)
}

type grpcFixture struct {
	client pdpv1.DecisionServiceClient
	health healthpb.HealthClient
	hs     *grpcserver.Health
	srv    *grpcserver.Server
	logs   *logBuffer
}

func startGRPC(t *testing.T, opts grpcserver.Options) *grpcFixture {
	t.Helper()
	logger, logs := newLogger()
	opts.Logger = logger
	hs := grpcserver.NewHealth()
	opts.Health = hs
	opts.UnaryGuards = append(opts.UnaryGuards, denyGuard)
	srv := grpcserver.New(opts)
	pdpv1.RegisterDecisionServiceServer(srv, newService(t))

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
	return &grpcFixture{client: pdpv1.NewDecisionServiceClient(conn), health: healthpb.NewHealthClient(conn), hs: hs, srv: srv, logs: logs}
}

func TestGRPCInvalidArgument(t *testing.T) {
	t.Parallel()
	f := startGRPC(t, grpcserver.Options{})
	_, err := f.client.Check(t.Context(), &pdpv1.CheckRequest{
		Tenant: "acme", Action: &pdpv1.Action{Name: "allow"}, Network: &pdpv1.Network{Ip: "999.1.1.1"},
	})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code = %v, want InvalidArgument (%v)", st.Code(), err)
	}
	var got []*errdetails.BadRequest_FieldViolation
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			got = append(got, br.GetFieldViolations()...)
		}
	}
	want := []*errdetails.BadRequest_FieldViolation{{Field: "network.ip", Description: "not an IPv4 or IPv6 address"}}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("field violations (-want +got):\n%s", diff)
	}
}

func TestGRPCPanicIsInternalAndServerKeepsServing(t *testing.T) {
	t.Parallel()
	f := startGRPC(t, grpcserver.Options{})
	ctx := t.Context()
	_, err := f.client.Check(ctx, &pdpv1.CheckRequest{Tenant: "acme", Action: &pdpv1.Action{Name: "panic"}})
	if st := status.Convert(err); st.Code() != codes.Internal || st.Message() != rpcstatus.InternalMessage {
		t.Fatalf("got %v, want INTERNAL %q", err, rpcstatus.InternalMessage)
	}
	resp, err := f.client.Check(ctx, &pdpv1.CheckRequest{Tenant: "acme", Action: &pdpv1.Action{Name: "allow"}})
	if err != nil || !resp.GetAllowed() {
		t.Fatalf("after a panic: %v, %v; want an allow", resp, err)
	}
	logs := f.logs.String()
	for _, want := range []string{"panic in gRPC handler", "decider exploded", "goroutine"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

func TestGRPCInternalDetailLoggedNotSent(t *testing.T) {
	t.Parallel()
	f := startGRPC(t, grpcserver.Options{})
	_, err := f.client.Check(t.Context(), &pdpv1.CheckRequest{Tenant: "acme", Action: &pdpv1.Action{Name: "internal"}})
	if st := status.Convert(err); st.Code() != codes.Internal || strings.Contains(st.Message(), "password") {
		t.Fatalf("got %v, want INTERNAL without detail", err)
	}
	if !strings.Contains(f.logs.String(), "database password rejected") {
		t.Errorf("internal detail not logged:\n%s", f.logs.String())
	}
}

func TestGRPCUnavailable(t *testing.T) {
	t.Parallel()
	f := startGRPC(t, grpcserver.Options{})
	_, err := f.client.Check(t.Context(), &pdpv1.CheckRequest{Tenant: "acme", Action: &pdpv1.Action{Name: "unavailable"}})
	if st := status.Convert(err); st.Code() != codes.Unavailable || st.Message() != "no policy loaded" {
		t.Fatalf("got %v, want UNAVAILABLE", err)
	}
}

func TestGRPCGuardErrorsAreMappedAndLogged(t *testing.T) {
	t.Parallel()
	f := startGRPC(t, grpcserver.Options{})
	ctx := metadata.AppendToOutgoingContext(t.Context(), "x-test-deny", "1", "authorization", "Bearer sekrit-key")
	_, err := f.client.Check(ctx, &pdpv1.CheckRequest{Tenant: "payload-tenant", Action: &pdpv1.Action{Name: "allow"}})
	if st := status.Convert(err); st.Code() != codes.Unauthenticated || st.Message() != "missing API key" {
		t.Fatalf("got %v, want UNAUTHENTICATED", err)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"grpc.code":"Unauthenticated"`) || !strings.Contains(logs, `"grpc.method":"Check"`) {
		t.Errorf("finished-call line lacks code or method:\n%s", logs)
	}
	for _, secret := range []string{"sekrit-key", "payload-tenant", "authorization"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
}

func TestGRPCBatchCheckItemStatusEqualsCheckStatus(t *testing.T) {
	t.Parallel()
	f := startGRPC(t, grpcserver.Options{})
	ctx := t.Context()
	bad := &pdpv1.CheckRequest{Tenant: "acme", Action: &pdpv1.Action{Name: "allow"}, Subject: &pdpv1.Subject{Email: "x"}}
	resp, err := f.client.BatchCheck(ctx, &pdpv1.BatchCheckRequest{Checks: []*pdpv1.CheckRequest{
		{Tenant: "acme", Action: &pdpv1.Action{Name: "deny"}}, bad,
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, checkErr := f.client.Check(ctx, bad)
	if diff := cmp.Diff(status.Convert(checkErr).Proto(), resp.GetResults()[1].GetError(), protocmp.Transform()); diff != "" {
		t.Errorf("item status differs from Check status (-check +item):\n%s", diff)
	}
	if got := resp.GetResults()[0].GetResponse().GetDecision(); got != pdpv1.Decision_DECISION_DENY {
		t.Errorf("first item = %v, want deny", got)
	}
	_, err = f.client.BatchCheck(ctx, &pdpv1.BatchCheckRequest{})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("empty batch: %v, want INVALID_ARGUMENT", err)
	}
}

func TestGRPCMaxRecvMsgSize(t *testing.T) {
	t.Parallel()
	f := startGRPC(t, grpcserver.Options{MaxRecvMsgSize: 1024})
	_, err := f.client.Check(t.Context(), &pdpv1.CheckRequest{Tenant: "acme", Action: &pdpv1.Action{Name: "allow", Resource: strings.Repeat("r", 2048)}})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("got %v, want RESOURCE_EXHAUSTED", err)
	}
}

func TestGRPCHealthAndReflection(t *testing.T) {
	t.Parallel()
	f := startGRPC(t, grpcserver.Options{})
	ctx := t.Context()
	statusOf := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		resp, err := f.health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("health %q: %v", service, err)
		}
		return resp.GetStatus()
	}
	services := []string{"", "pdp.v1.DecisionService"}
	for _, s := range services {
		if got := statusOf(s); got != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("initial %q = %v, want NOT_SERVING", s, got)
		}
	}
	f.hs.SetServing(true)
	for _, s := range services {
		if got := statusOf(s); got != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("after SetServing(true) %q = %v, want SERVING", s, got)
		}
	}
	if !f.hs.Serving() {
		t.Error("Serving() = false after SetServing(true)")
	}
	f.hs.Shutdown()
	f.hs.SetServing(true)
	for _, s := range services {
		if got := statusOf(s); got != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("after Shutdown %q = %v, want NOT_SERVING", s, got)
		}
	}
	info := f.srv.GetServiceInfo()
	for _, name := range []string{"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "pdp.v1.DecisionService"} {
		if _, ok := info[name]; !ok {
			t.Errorf("service %s not registered", name)
		}
	}
}

func TestGRPCReflectionCanBeDisabled(t *testing.T) {
	t.Parallel()
	srv := grpcserver.New(grpcserver.Options{DisableReflection: true, NumStreamWorkers: 2})
	defer srv.Stop()
	if _, ok := srv.GetServiceInfo()["grpc.reflection.v1.ServerReflection"]; ok {
		t.Error("reflection registered although disabled")
	}
}

func TestGRPCServerSpans(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	f := startGRPC(t, grpcserver.Options{TracerProvider: tp})
	_, err := f.client.Check(t.Context(), &pdpv1.CheckRequest{Tenant: "acme", Action: &pdpv1.Action{Name: "unavailable"}})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v, want UNAVAILABLE", err)
	}
	f.srv.Stop() // the span ends after the response is written; Stop waits for it
	var names []string
	for _, s := range rec.Ended() {
		names = append(names, s.Name())
		if s.Name() != "pdp.v1.DecisionService/Check" {
			continue
		}
		for _, kv := range s.Attributes() {
			if kv.Key == "rpc.response.status_code" {
				if got := kv.Value.AsString(); got != "UNAVAILABLE" {
					t.Errorf("span status code %q, want the mapped UNAVAILABLE", got)
				}
				return
			}
		}
		t.Fatalf("Check span has no rpc.response.status_code: %v", s.Attributes())
	}
	t.Errorf("no server span for Check among %v", names)
}

// TestGRPCFinishedCallIsDebugUnlessTheServerFailed keeps the info log for
// what an operator acts on: a call that succeeded (or failed by the
// caller's mistake) is logged at debug, a refused key at info, one the
// server failed at error.
func TestGRPCFinishedCallIsDebugUnlessTheServerFailed(t *testing.T) {
	t.Parallel()
	f := startGRPC(t, grpcserver.Options{})
	ctx := t.Context()
	if _, err := f.client.Check(ctx, &pdpv1.CheckRequest{Tenant: "acme", Action: &pdpv1.Action{Name: "allow"}}); err != nil {
		t.Fatal(err)
	}
	_, _ = f.client.Check(ctx, &pdpv1.CheckRequest{Tenant: "acme", Action: &pdpv1.Action{Name: "allow"}, Network: &pdpv1.Network{Ip: "999.1.1.1"}})
	_, _ = f.client.Check(ctx, &pdpv1.CheckRequest{Tenant: "acme", Action: &pdpv1.Action{Name: "internal"}})
	_, _ = f.client.Check(metadata.AppendToOutgoingContext(ctx, "x-test-deny", "1"), &pdpv1.CheckRequest{Tenant: "acme", Action: &pdpv1.Action{Name: "allow"}})
	levels := map[string]string{}
	for line := range strings.Lines(f.logs.String()) {
		var e struct {
			Msg, Level string
			Code       string `json:"grpc.code"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if e.Msg == "finished call" {
			levels[e.Code] = e.Level
		}
	}
	want := map[string]string{"OK": "DEBUG", "InvalidArgument": "DEBUG", "Unauthenticated": "INFO", "Internal": "ERROR"}
	if diff := cmp.Diff(want, levels); diff != "" {
		t.Errorf("level of finished call by code (-want +got):\n%s", diff)
	}
}
