package pdptest_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// rawCodec puts the given bytes on the wire as the request message.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error)      { return v.([]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error { *(v.(*[]byte)) = data; return nil }
func (rawCodec) Name() string                       { return "proto" }

// notProtobuf is not a protobuf message: a length-delimited field whose
// length runs past the end.
var notProtobuf = []byte{0x0a, 0xff, 0xff, 0x01}

// sendRaw calls method with body as its one request message, streaming it
// when stream is set, and returns the call's status code.
func sendRaw(ctx context.Context, conn *grpc.ClientConn, method string, stream bool, body []byte) codes.Code {
	var out []byte
	if !stream {
		return status.Code(conn.Invoke(ctx, method, body, &out, grpc.ForceCodec(rawCodec{})))
	}
	s, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return status.Code(err)
	}
	_ = s.SendMsg(body) // a server that answered already refuses it; Recv has the status
	_ = s.CloseSend()
	return status.Code(s.RecvMsg(&out))
}

// TestMalformedMessagesAreInvalidArgumentAfterAuthentication sends a
// message that is not protobuf to unary and client-streaming methods of
// every service, with keys on (no key, a valid key) and off: a caller
// without a key learns UNAUTHENTICATED and nothing else; one allowed to
// call learns INVALID_ARGUMENT, never INTERNAL.
func TestMalformedMessagesAreInvalidArgumentAfterAuthentication(t *testing.T) {
	t.Parallel()
	root := pdptest.NewKey(t, "root", authn.RoleAdmin)
	withKeys := pdptest.Start(t, pdptest.WithAPIKeys(t, root), pdptest.WithTenant("sec.yaml", secTenant))
	open := pdptest.Start(t, pdptest.WithTenant("sec.yaml", secTenant))

	methods := []struct {
		name   string
		stream bool
		public bool // health needs no key
	}{
		{"/pdp.v1.DecisionService/Check", false, false},
		{"/pdp.v1.DecisionService/Report", false, false},
		{"/pdp.v1.PolicyAdminService/ListTenants", false, false},
		{"/pdp.v1.PolicyAdminService/ImportIPList", true, false},
		{"/envoy.service.auth.v3.Authorization/Check", false, false},
		{"/grpc.health.v1.Health/Check", false, true},
	}
	for _, m := range methods {
		for _, tt := range []struct {
			who  string
			conn *grpc.ClientConn
			want codes.Code
		}{
			{"no key", withKeys.DialAs(t, ""), codes.Unauthenticated},
			{"an admin key", withKeys.DialAs(t, root.Key), codes.InvalidArgument},
			{"keys off", open.Conn, codes.InvalidArgument},
		} {
			want := tt.want
			if m.public {
				want = codes.InvalidArgument
			}
			if got := sendRaw(secCtx(t), tt.conn, m.name, m.stream, notProtobuf); got != want {
				t.Errorf("%s with %s: %s, want %s", m.name, tt.who, got, want)
			}
		}
	}
}
