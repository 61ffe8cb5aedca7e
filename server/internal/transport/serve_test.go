package transport_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/pdp-dev/pdp/server/internal/grpcserver"
	"github.com/pdp-dev/pdp/server/internal/transport"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return lis
}

func TestDrainEndsCallsThatOutliveTheTimeout(t *testing.T) {
	entered := make(chan struct{}, 1)
	ports := transport.Ports{
		GRPC: grpcserver.New(grpcserver.Options{Health: grpcserver.NewHealth()}),
		HTTP: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			entered <- struct{}{}
			<-r.Context().Done()
		})},
	}
	grpcLis, httpLis := listen(t), listen(t)
	failed := ports.Serve(grpcLis, httpLis)

	conn, err := grpc.NewClient(grpcLis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	watch, err := healthpb.NewHealthClient(conn).Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil {
		t.Fatal(err)
	}
	httpDone := make(chan error, 1)
	go func() {
		rs, err := http.Get("http://" + httpLis.Addr().String())
		if err == nil {
			rs.Body.Close()
		}
		httpDone <- err
	}()
	<-entered

	start := time.Now()
	ports.Drain(100 * time.Millisecond)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Drain took %s with a 100ms timeout", d)
	}
	if _, err := watch.Recv(); err == nil {
		t.Fatal("the gRPC stream outlived Drain")
	}
	if err := <-httpDone; err == nil {
		t.Fatal("the HTTP request outlived Drain")
	}
	select {
	case err := <-failed:
		t.Fatalf("a drained server reported a failure: %v", err)
	default:
	}
}

func TestServeReportsAListenerThatFails(t *testing.T) {
	ports := transport.Ports{GRPC: grpcserver.New(grpcserver.Options{}), HTTP: &http.Server{}}
	grpcLis, httpLis := listen(t), listen(t)
	httpLis.Close()
	failed := ports.Serve(grpcLis, httpLis)
	defer ports.Drain(time.Second)
	select {
	case err := <-failed:
		if !errors.Is(err, transport.ErrServe) {
			t.Fatalf("failure %v does not wrap ErrServe", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a closed listener was not reported")
	}
}
