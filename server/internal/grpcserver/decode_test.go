package grpcserver_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/grpcserver"
)

// rawCodec sends and receives messages as the bytes given, so a test can
// put anything on the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error)      { return v.([]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error { *(v.(*[]byte)) = data; return nil }
func (rawCodec) Name() string                       { return "proto" }

// garbage is not a protobuf message: a length-delimited field whose
// length runs past the end.
var garbage = []byte{0x0a, 0xff, 0xff, 0x01}

// callRaw calls a unary method with body as the request message.
func callRaw(ctx context.Context, conn *grpc.ClientConn, method string, body []byte) error {
	var out []byte
	return conn.Invoke(ctx, method, body, &out, grpc.ForceCodec(rawCodec{}))
}

// streamRaw sends body on a streaming method, closes its side and reads
// the answer.
func streamRaw(ctx context.Context, conn *grpc.ClientConn, method string, body []byte) error {
	s, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return err
	}
	// A server that answered already refuses the send; its status comes
	// on Recv.
	_ = s.SendMsg(body)
	_ = s.CloseSend()
	var out []byte
	for {
		if err := s.RecvMsg(&out); err != nil {
			return err
		}
	}
}

// denyStream is denyGuard for streams.
func denyStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if md, _ := metadata.FromIncomingContext(ss.Context()); len(md.Get("x-test-deny")) > 0 {
		return fault.New(fault.Unauthenticated, "missing API key")
	}
	return handler(srv, ss)
}

func startDecoding(t *testing.T) (*grpc.ClientConn, *logBuffer) {
	t.Helper()
	logger, logs := newLogger()
	h := grpcserver.NewHealth()
	srv := grpcserver.New(grpcserver.Options{
		Logger:       logger,
		Health:       h,
		UnaryGuards:  []grpc.UnaryServerInterceptor{denyGuard},
		StreamGuards: []grpc.StreamServerInterceptor{denyStream},
	})
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
	return conn, logs
}

func TestGRPCUndecodableRequestIsInvalidArgumentAfterTheGuards(t *testing.T) {
	t.Parallel()
	conn, logs := startDecoding(t)
	denied := metadata.AppendToOutgoingContext(t.Context(), "x-test-deny", "1")
	const check, health = "/pdp.v1.DecisionService/Check", "/grpc.health.v1.Health/Check"
	const reflect = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
	valid, err := proto.Marshal(&pdpv1.CheckRequest{Tenant: "acme", Action: &pdpv1.Action{Name: "allow"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"unary garbage", func() error { return callRaw(t.Context(), conn, check, garbage) }, codes.InvalidArgument},
		{"unary garbage from a refused caller", func() error { return callRaw(denied, conn, check, garbage) }, codes.Unauthenticated},
		{"unary valid message", func() error { return callRaw(t.Context(), conn, check, valid) }, codes.OK},
		{"unary valid message from a refused caller", func() error { return callRaw(denied, conn, check, valid) }, codes.Unauthenticated},
		{"health garbage", func() error { return callRaw(t.Context(), conn, health, garbage) }, codes.InvalidArgument},
		{"streamed garbage", func() error { return streamRaw(t.Context(), conn, reflect, garbage) }, codes.InvalidArgument},
		{"streamed garbage from a refused caller", func() error { return streamRaw(denied, conn, reflect, garbage) }, codes.Unauthenticated},
	} {
		err := tt.call()
		if status.Code(err) != tt.want {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.want)
		}
		if tt.want == codes.InvalidArgument && !strings.Contains(status.Convert(err).Message(), "request message does not decode") {
			t.Errorf("%s: message %q does not say the message was unreadable", tt.name, status.Convert(err).Message())
		}
	}
	if strings.Contains(logs.String(), "internal error") {
		t.Errorf("an unreadable message was logged as an internal error:\n%s", logs)
	}
	if !strings.Contains(logs.String(), `"grpc.code":"InvalidArgument"`) {
		t.Errorf("the call log does not show the INVALID_ARGUMENT:\n%s", logs)
	}
}

// TestGRPCGuardsSeeTheRequestBeforeItIsRead pins what guards are told:
// the request they get is empty, since it is read after them.
func TestGRPCGuardsSeeTheRequestBeforeItIsRead(t *testing.T) {
	t.Parallel()
	seen := make(chan string, 1)
	peek := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		tenant := req.(*pdpv1.CheckRequest).GetTenant()
		resp, err := handler(ctx, req)
		seen <- tenant + " then " + req.(*pdpv1.CheckRequest).GetTenant()
		return resp, err
	}
	f := startGRPC(t, grpcserver.Options{UnaryGuards: []grpc.UnaryServerInterceptor{peek}})
	if _, err := f.client.Check(t.Context(), &pdpv1.CheckRequest{Tenant: "acme", Action: &pdpv1.Action{Name: "allow"}}); err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got != " then acme" {
		t.Errorf("the guard saw the tenant as %q, want it empty before the handler and acme after", got)
	}
}
