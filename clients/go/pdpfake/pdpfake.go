// Package pdpfake serves a programmable pdp.v1.DecisionService on a real
// loopback port, for tests of code that uses the Go client, the HTTP
// middleware or the gRPC interceptors. It records every request and the
// metadata it came with.
package pdpfake

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// CheckFunc answers one Check. An error is returned to the client as is, so
// return status errors. A response without a decision id gets one.
type CheckFunc func(ctx context.Context, req *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error)

// Server is a fake DecisionService listening on 127.0.0.1. Its methods are
// safe for concurrent use.
type Server struct {
	pdpv1.UnimplementedDecisionServiceServer

	lis net.Listener
	srv *grpc.Server

	mu       sync.Mutex
	check    CheckFunc
	checks   []*pdpv1.CheckRequest
	reports  []*pdpv1.ReportRequest
	metadata []metadata.MD
	ids      int
}

// New starts a fake answering Check with check on a free loopback port.
// Server options can add TLS credentials or interceptors.
func New(check CheckFunc, opts ...grpc.ServerOption) (*Server, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("pdpfake: %w", err)
	}
	s := &Server{lis: lis, srv: grpc.NewServer(opts...), check: check}
	pdpv1.RegisterDecisionServiceServer(s.srv, s)
	go func() { _ = s.srv.Serve(lis) }()
	return s, nil
}

// Start is New for a test: it fails the test on error and stops the fake
// when the test ends.
func Start(tb testing.TB, check CheckFunc, opts ...grpc.ServerOption) *Server {
	tb.Helper()
	s, err := New(check, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Addr is the host:port the fake listens on, a target for pdpclient.New.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Close stops the fake, ending the calls in progress.
func (s *Server) Close() { s.srv.Stop() }

// SetCheck replaces the function answering Check.
func (s *Server) SetCheck(check CheckFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.check = check
}

// Check implements pdp.v1.DecisionService.
func (s *Server) Check(ctx context.Context, req *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	s.checks = append(s.checks, proto.CloneOf(req))
	s.metadata = append(s.metadata, md.Copy())
	s.ids++
	id, check := fmt.Sprintf("fake-%d", s.ids), s.check
	s.mu.Unlock()
	if check == nil {
		return Allow(0), nil
	}
	resp, err := check(ctx, req)
	if err != nil || resp == nil {
		return resp, err
	}
	resp = proto.CloneOf(resp)
	if resp.DecisionId == "" {
		resp.DecisionId = id
	}
	return resp, nil
}

// BatchCheck implements pdp.v1.DecisionService by answering each check in
// turn with the CheckFunc; an item whose check fails carries the error
// alone, as the real server does.
func (s *Server) BatchCheck(ctx context.Context, req *pdpv1.BatchCheckRequest) (*pdpv1.BatchCheckResponse, error) {
	out := &pdpv1.BatchCheckResponse{}
	for _, c := range req.GetChecks() {
		resp, err := s.Check(ctx, c)
		if err != nil {
			out.Results = append(out.Results, &pdpv1.BatchCheckResult{Result: &pdpv1.BatchCheckResult_Error{Error: status.Convert(err).Proto()}})
			continue
		}
		out.Results = append(out.Results, &pdpv1.BatchCheckResult{Result: &pdpv1.BatchCheckResult_Response{Response: resp}})
	}
	return out, nil
}

// Report implements pdp.v1.DecisionService by recording the event.
func (s *Server) Report(ctx context.Context, req *pdpv1.ReportRequest) (*pdpv1.ReportResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reports = append(s.reports, proto.CloneOf(req))
	s.metadata = append(s.metadata, md.Copy())
	return &pdpv1.ReportResponse{EventId: fmt.Sprintf("fake-event-%d", len(s.reports))}, nil
}

// Checks returns the Check requests received so far, in order.
func (s *Server) Checks() []*pdpv1.CheckRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*pdpv1.CheckRequest(nil), s.checks...)
}

// CheckCount is the number of Check requests received so far.
func (s *Server) CheckCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.checks)
}

// Reports returns the Report requests received so far, in order.
func (s *Server) Reports() []*pdpv1.ReportRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*pdpv1.ReportRequest(nil), s.reports...)
}

// Metadata returns the incoming metadata of every call so far, in order.
func (s *Server) Metadata() []metadata.MD {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]metadata.MD(nil), s.metadata...)
}

// Respond is a CheckFunc that always answers resp.
func Respond(resp *pdpv1.CheckResponse) CheckFunc {
	return func(context.Context, *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error) {
		return resp, nil
	}
}

// Allow is an allow decision the client may cache for ttl (0: not at all).
func Allow(ttl time.Duration) *pdpv1.CheckResponse {
	return &pdpv1.CheckResponse{
		Decision: pdpv1.Decision_DECISION_ALLOW,
		Allowed:  true,
		CacheTtl: durationpb.New(ttl),
		Enforced: true,
	}
}

// Deny is a deny decision with the given reason codes, not cacheable.
func Deny(codes ...string) *pdpv1.CheckResponse {
	resp := &pdpv1.CheckResponse{Decision: pdpv1.Decision_DECISION_DENY, Enforced: true}
	for _, c := range codes {
		resp.Reasons = append(resp.Reasons, &pdpv1.Reason{Code: c, Message: c})
	}
	return resp
}

// Challenge is a challenge decision asking for the given step-ups, each
// also listed as a reason.
func Challenge(stepUps ...*pdpv1.StepUp) *pdpv1.CheckResponse {
	resp := &pdpv1.CheckResponse{
		Decision: pdpv1.Decision_DECISION_CHALLENGE,
		StepUps:  stepUps,
		Enforced: true,
	}
	for _, s := range stepUps {
		if s.GetReasonCode() != "" {
			resp.Reasons = append(resp.Reasons, &pdpv1.Reason{Code: s.GetReasonCode(), Message: s.GetReasonCode()})
		}
	}
	return resp
}

// MFA is the step-up of authn.mfa_required: a second factor no older than
// maxAge.
func MFA(maxAge time.Duration) *pdpv1.StepUp {
	return &pdpv1.StepUp{
		Kind:       pdpv1.StepUpKind_STEP_UP_MFA,
		MaxAge:     durationpb.New(maxAge),
		ReasonCode: "authn.mfa_required",
	}
}
