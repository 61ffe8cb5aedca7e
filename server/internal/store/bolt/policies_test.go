package bolt

import (
	"context"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/pdp-dev/pdp/server/internal/tenantstore"
	"github.com/pdp-dev/pdp/server/internal/tenantstore/tenantstoretest"
)

func TestPolicyConformance(t *testing.T) {
	t.Parallel()
	tenantstoretest.Run(t, func(t *testing.T) tenantstore.Store {
		s, err := Open(filepath.Join(t.TempDir(), "pdp.db"), Options{SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s.Policies()
	})
}

func TestPoliciesSurviveReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pdp.db")
	s, err := Open(path, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	put, err := s.Policies().Put(ctx, tenantstoretest.Policy("acme", 2), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Policies().Get(ctx, "acme"); err == nil {
		t.Fatal("Get on a closed store succeeded")
	}
	s, err = Open(path, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Policies().Get(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, put) {
		t.Fatalf("after reopen Get = %v, want %v", got, put)
	}
}
