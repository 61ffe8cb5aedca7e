package pdpgrpc_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/pdp-dev/pdp/clients/go/pdpclient"
	"github.com/pdp-dev/pdp/clients/go/pdpfake"
	"github.com/pdp-dev/pdp/clients/go/pdpgrpc"
	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

func ExampleUnaryServerInterceptor() {
	// A fake PDP that denies user mallory and allows everyone else.
	fake, err := pdpfake.New(func(_ context.Context, req *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error) {
		if req.GetSubject().GetId() == "mallory" {
			return pdpfake.Deny("incident.user_suspended"), nil
		}
		return pdpfake.Allow(0), nil
	})
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()
	client, err := pdpclient.New(fake.Addr(), pdpclient.WithInsecure(), pdpclient.WithTimeout(2*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	// The protected service: every call is checked before its handler.
	opts := []pdpgrpc.Option{
		pdpgrpc.WithTenant("acme"),
		pdpgrpc.WithIdentity(func(ctx context.Context, _ string, req *pdpv1.CheckRequest) error {
			// Here the user comes from metadata; in production, from a
			// verified token or the peer certificate.
			md, _ := metadata.FromIncomingContext(ctx)
			if users := md.Get("x-user"); len(users) > 0 {
				req.Subject = &pdpv1.Subject{Id: users[0]}
			}
			return nil
		}),
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(pdpgrpc.UnaryServerInterceptor(client, opts...)),
		grpc.ChainStreamInterceptor(pdpgrpc.StreamServerInterceptor(client, opts...)),
	)
	testpb.RegisterTestServiceServer(srv, testService{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	for _, user := range []string{"alice", "mallory"} {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "x-user", user)
		_, err := testpb.NewTestServiceClient(conn).EmptyCall(ctx, &testpb.Empty{})
		st := status.Convert(err)
		fmt.Println(user, st.Code())
		for _, d := range st.Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok {
				fmt.Println(" ", info.GetDomain(), info.GetReason(), info.GetMetadata()["reason_codes"])
			}
		}
	}
	// Output:
	// alice OK
	// mallory PermissionDenied
	//   pdp INCIDENT_USER_SUSPENDED incident.user_suspended
}
