package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// noopService answers every Check with a fixed allow and evaluates
// nothing: the ceiling of gRPC on this machine with pdp's message types.
type noopService struct {
	pdpv1.UnimplementedDecisionServiceServer
}

// Check returns a fixed allow.
func (noopService) Check(context.Context, *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error) {
	return &pdpv1.CheckResponse{Decision: pdpv1.Decision_DECISION_ALLOW, Allowed: true, Enforced: true}, nil
}

// serveNoop runs the no-op server on addr until SIGTERM or SIGINT. It is
// the -noop-serve mode of this program, started as a child process so
// its CPU time and RSS are measured like the other servers'.
func serveNoop(addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s := grpc.NewServer()
	pdpv1.RegisterDecisionServiceServer(s, noopService{})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; s.Stop() }()
	if err := s.Serve(lis); err != nil {
		return fmt.Errorf("no-op server: %w", err)
	}
	return nil
}
