package guard

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

func TestActorAndTenants(t *testing.T) {
	t.Parallel()
	with := func(c authn.Caller) context.Context { return authn.WithCaller(context.Background(), c) }
	cases := []struct {
		caller  authn.Caller
		actor   string
		tenants []string
	}{
		{authn.Caller{Name: "root", Role: authn.RoleAdmin}, "root", nil},
		{authn.Caller{Name: "acme-admin", Role: authn.RoleTenantAdmin, Tenants: []string{"acme"}}, "acme-admin", []string{"acme"}},
		{authn.Caller{Anonymous: true, CertIdentity: "spiffe://corp/ops"}, "spiffe://corp/ops", nil},
		{authn.Caller{Anonymous: true}, Anonymous, nil},
		{authn.Caller{Name: "gw", Role: authn.RolePEP}, "gw", []string{}},
	}
	for _, c := range cases {
		ctx := with(c.caller)
		if got := Actor(ctx); got != c.actor {
			t.Errorf("Actor(%+v) = %q, want %q", c.caller, got, c.actor)
		}
		got := Tenants(ctx)
		if (got == nil) != (c.tenants == nil) || !slices.Equal(got, c.tenants) {
			t.Errorf("Tenants(%+v) = %#v, want %#v", c.caller, got, c.tenants)
		}
	}
	if Tenants(context.Background()) == nil {
		t.Error("a context without a caller may administer every tenant")
	}
	if Tenant(context.Background(), "acme") == nil {
		t.Error("a context without a caller may administer acme")
	}
}

func TestPagingAndTokens(t *testing.T) {
	t.Parallel()
	var v fault.Violations
	if PageSize(&v, 0) != DefaultPageSize || PageSize(&v, 7) != 7 || v.Len() != 0 {
		t.Fatal("valid page sizes refused")
	}
	PageSize(&v, -1)
	PageSize(&v, MaxPageSize+1)
	if v.Len() != 2 {
		t.Fatalf("%d violations, want 2", v.Len())
	}
	var w fault.Violations
	if got := DecodeToken(&w, EncodeToken("globex")); got != "globex" || w.Len() != 0 {
		t.Fatalf("token round trip = %q", got)
	}
	if got := DecodeSeqToken(&w, SeqToken(42)); got != 42 || SeqToken(0) != "" {
		t.Fatalf("sequence token round trip = %d", got)
	}
	DecodeToken(&w, "!!")
	DecodeSeqToken(&w, EncodeToken("x"))
	if w.Len() != 2 {
		t.Fatalf("%d violations for bad tokens, want 2", w.Len())
	}
}

func TestAuditEventKeepsEveryField(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	e := audit.Event{Entry: audit.Entry{Time: at, Actor: "root", Action: "x.y", Tenant: "acme", Target: "u1", Reason: "r",
		Before: map[string]any{"a": 1.0}, After: map[string]any{"b": []any{"c"}}}, ID: "id", PrevHash: "p", Hash: "h"}
	got := AuditEvent(e)
	if got.GetId() != "id" || !got.GetTime().AsTime().Equal(at) || got.GetActor() != "root" || got.GetTarget() != "u1" ||
		got.GetBefore().GetFields()["a"].GetNumberValue() != 1 || got.GetAfter().GetFields()["b"].GetListValue() == nil ||
		got.GetPrevHash() != "p" || got.GetHash() != "h" {
		t.Fatalf("AuditEvent = %v", got)
	}
	if AuditEvent(audit.Event{}).GetBefore() != nil {
		t.Error("an absent before became a value")
	}
}

// committerFunc is an audit.Committer whose Commit runs the change and then
// returns err.
type committerFunc struct {
	audit.Log
	err error
}

func (c committerFunc) Commit(ctx context.Context, e audit.Entry, change func(context.Context, *audit.Entry) error) (audit.Event, error) {
	if err := change(ctx, &e); err != nil {
		return audit.Event{}, err
	}
	return audit.Event{}, c.err
}

func TestCommitSaysWhetherTheChangeStayed(t *testing.T) {
	entry := audit.Entry{Actor: "k", Action: "ip_rule.add", Reason: "r"}
	noop := func(context.Context, *audit.Entry) error { return nil }
	for _, tc := range []struct {
		name, want string
		err        error
	}{
		{"the log refused the record", "so nothing was changed", errors.New("disk gone")},
		{"the record waits to be linked", "the change was made and its audit record stored",
			fault.Wrap(errors.Join(audit.ErrLinkPending, errors.New("link failed")), fault.Unavailable, "pending")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Commit(context.Background(), committerFunc{err: tc.err}, entry, noop)
			if !errors.Is(err, fault.ErrUnavailable) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Commit = %v, want UNAVAILABLE saying %q", err, tc.want)
			}
		})
	}
}

func TestAnOptionLeftOutTakesItsDefault(t *testing.T) {
	t.Parallel()
	if before, now := time.Now(), Clock(nil)(); now.Before(before) {
		t.Errorf("Clock(nil) is not the wall clock: %v before %v", now, before)
	}
	fixed := time.Unix(1, 0)
	if got := Clock(func() time.Time { return fixed })(); !got.Equal(fixed) {
		t.Errorf("Clock replaced a given clock: %v", got)
	}
	if l := Logger(nil); l == nil || l.Enabled(context.Background(), slog.LevelError) {
		t.Errorf("Logger(nil) = %v, want one that discards", l)
	}
	given := slog.Default()
	if l := Logger(given); l != given {
		t.Error("Logger replaced a given logger")
	}
}
