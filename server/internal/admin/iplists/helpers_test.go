package iplists

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/authn"
	rules "github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/ipset"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
)

var now = time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)

// auditLog records appended entries.
type auditLog struct {
	mu      sync.Mutex
	entries []audit.Entry
}

func (l *auditLog) Append(_ context.Context, e audit.Entry) (audit.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, e)
	return audit.Event{Entry: e, Seq: uint64(len(l.entries))}, nil
}

func (l *auditLog) List(context.Context, audit.Query) ([]audit.Event, uint64, error) {
	return nil, 0, nil
}

func (l *auditLog) all() []audit.Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]audit.Entry(nil), l.entries...)
}

type fixture struct {
	svc   *Service
	store rules.Store
	audit *auditLog
	set   *ipset.Set
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := memory.NewIPRules()
	set := ipset.NewSet(nil)
	log := &auditLog{}
	svc, err := New(Options{Store: st, Audit: log, Applier: rules.NewApplier(set, st), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, store: st, audit: log, set: set}
}

func adminCtx() context.Context {
	return authn.WithCaller(context.Background(), authn.Caller{Name: "root-key", Role: authn.RoleAdmin})
}

func tenantAdminCtx(tenants ...string) context.Context {
	return authn.WithCaller(context.Background(), authn.Caller{Name: "acme-ops", Role: authn.RoleTenantAdmin, Tenants: tenants})
}

func pepCtx() context.Context {
	return authn.WithCaller(context.Background(), authn.Caller{Name: "gateway", Role: authn.RolePEP})
}

// importStream feeds chunks to ImportIPList.
type importStream struct {
	grpc.ServerStream
	ctx    context.Context
	chunks []*pdpv1.ImportIPListRequest
	resp   *pdpv1.ImportIPListResponse
}

func (s *importStream) Context() context.Context { return s.ctx }

func (s *importStream) Recv() (*pdpv1.ImportIPListRequest, error) {
	if len(s.chunks) == 0 {
		return nil, io.EOF
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	return c, nil
}

func (s *importStream) SendAndClose(r *pdpv1.ImportIPListResponse) error {
	s.resp = r
	return nil
}
