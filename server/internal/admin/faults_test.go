package admin_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/admin"
	"github.com/pdp-dev/pdp/server/internal/admin/iplists"
	"github.com/pdp-dev/pdp/server/internal/admin/tenants"
	"github.com/pdp-dev/pdp/server/internal/admin/users"
	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/compliance"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/fault"
	rules "github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/reload"
	"github.com/pdp-dev/pdp/server/internal/store"
	"github.com/pdp-dev/pdp/server/internal/store/bolt"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
	"github.com/pdp-dev/pdp/server/internal/tenantstore"
)

var t0 = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

// tenantFiles: acme has no compliance profile (changes apply at once),
// globex declares SOX (changes wait for approval).
var tenantFiles = map[string]string{
	"acme.yaml": `
tenant: acme
plan: enterprise
environments:
  production:
    roles:
      member: {actions: [login, "api.*"]}
`,
	"globex.yaml": `
tenant: globex
plan: enterprise
environments:
  production:
    mfa: {mode: all}
    roles:
      admin: {actions: ["*"]}
    compliance: [SOX]
`,
}

// world is the whole admin service over one memory backend, with a user,
// an IP rule and a pending change already in place.
type world struct {
	srv      *admin.Server
	state    store.Store
	log      audit.Log
	policies tenantstore.Store
	rules    rules.Store
	ruleID   string
	changeID string
}

// newWorld builds the world over the memory backend.
func newWorld(t *testing.T) *world {
	t.Helper()
	st := memory.New(memory.Options{SweepInterval: -1})
	t.Cleanup(func() { _ = st.Close() })
	return newWorldOf(t, &world{state: st, log: st.AuditLog(), policies: memory.NewPolicies(), rules: memory.NewIPRules()})
}

// newBoltWorld builds the world over a bolt file; wrap, when not nil,
// wraps its audit log.
func newBoltWorld(t *testing.T, wrap func(audit.Log) audit.Log) *world {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "pdp.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	log := st.AuditLog()
	if wrap != nil {
		log = wrap(log)
	}
	return newWorldOf(t, &world{state: st, log: log, policies: st.Policies(), rules: st.IPRules()})
}

// newWorldOf wires the admin service over w's stores and puts a user, an
// IP rule and a pending change in place.
func newWorldOf(t *testing.T, w *world) *world {
	t.Helper()
	dir := t.TempDir()
	for name, src := range tenantFiles {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	eng := engine.New(engine.Options{})
	served := new(atomic.Pointer[reload.Set])
	loader := reload.New(eng, reload.Options{
		TenantsDir: dir, OnLoad: func(s reload.Set) { served.Store(&s) },
		Stored: func(ctx context.Context) (map[string]*pdpv1.TenantPolicy, error) {
			list, err := w.policies.List(ctx)
			out := map[string]*pdpv1.TenantPolicy{}
			for _, p := range list {
				out[p.GetTenant()] = p
			}
			return out, err
		},
	})
	ctx := context.Background()
	if _, err := loader.Load(ctx); err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return t0 }
	pol, err := tenants.New(tenants.Options{
		Store: w.policies, Audit: w.log, State: w.state, Compliance: compliance.NewReporter(eng), Now: now,
		Reload: func(ctx context.Context, tenant string) error {
			_, err := loader.LoadStoredTenants(ctx, tenant)
			return err
		},
		Current: func() reload.Set { return *served.Load() },
	})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := iplists.New(iplists.Options{Store: w.rules, Audit: w.log, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	us, err := users.New(users.Options{Store: w.state, Audit: w.log, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if w.srv, err = admin.New(pol, rs, us); err != nil {
		t.Fatal(err)
	}

	if err := w.state.SetSuspension(ctx, "acme", "u1", store.Suspension{Suspended: true, Reason: "brute force", At: t0, By: "incident response"}); err != nil {
		t.Fatal(err)
	}
	added, err := w.srv.AddIPRule(root, &pdpv1.AddIPRuleRequest{Tenant: "acme", List: pdpv1.IPList_IP_LIST_DENY, Cidr: "198.51.100.0/24", Reason: "scanner"})
	if err != nil {
		t.Fatal(err)
	}
	w.ruleID = added.GetRule().GetId()
	cur, err := w.srv.GetTenantPolicy(root, &pdpv1.GetTenantPolicyRequest{Tenant: "globex"})
	if err != nil {
		t.Fatal(err)
	}
	put, err := w.srv.PutTenantPolicy(tenantAdmin("globex-author", "globex"), &pdpv1.PutTenantPolicyRequest{Policy: cur.GetPolicy(), Reason: "quarterly review"})
	if err != nil || put.GetPendingChange() == nil {
		t.Fatalf("proposing a globex change: %v, %v", put, err)
	}
	w.changeID = put.GetPendingChange().GetId()
	return w
}

var root = authn.WithCaller(context.Background(), authn.Caller{Name: "root", Role: authn.RoleAdmin})

func tenantAdmin(name string, tenants ...string) context.Context {
	return authn.WithCaller(context.Background(), authn.Caller{Name: name, Role: authn.RoleTenantAdmin, Tenants: tenants})
}

// acmeAdmin holds a tenant-admin key: enough to reach every case below.
var acmeAdmin = tenantAdmin("acme-admin", "acme")

// snapshot describes everything an admin call can change, and the audit
// log.
func (w *world) snapshot(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	pols, err := w.policies.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pols {
		fmt.Fprintf(&b, "policy %s %s\n", p.GetTenant(), p.GetEtag())
	}
	pending, err := w.policies.ListPending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range pending {
		fmt.Fprintf(&b, "pending %s %s\n", c.GetId(), c.GetTenant())
	}
	all, err := w.rules.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range all {
		lines = append(lines, fmt.Sprintf("rule %s %q %s %s %q", r.ID, r.Tenant, r.List, r.Prefix, r.Reason))
	}
	sort.Strings(lines)
	b.WriteString(strings.Join(lines, "\n"))
	for _, tenant := range []string{"acme", "globex"} {
		var v store.View
		if err := w.state.Read(ctx, store.Query{Tenant: tenant, UserID: "u1", At: t0}, &v); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "\nstate %s: profile=%v suspended=%v mfa=%v sso=%v %+v", tenant, v.HasProfile,
			v.Profile.Suspension, v.Profile.MFAResetAt, v.HasSSO, v.SSO)
	}
	events, _, err := w.log.List(ctx, audit.Query{Limit: audit.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		fmt.Fprintf(&b, "\naudit %d %s %s %s", e.Seq, e.Action, e.Tenant, e.Target)
	}
	return b.String()
}

// importStream feeds one chunk to ImportIPList.
type importStream struct {
	grpc.ServerStream
	ctx   context.Context
	chunk *pdpv1.ImportIPListRequest
}

func (s *importStream) Context() context.Context { return s.ctx }

func (s *importStream) Recv() (*pdpv1.ImportIPListRequest, error) {
	if s.chunk == nil {
		return nil, io.EOF
	}
	c := s.chunk
	s.chunk = nil
	return c, nil
}

func (s *importStream) SendAndClose(*pdpv1.ImportIPListResponse) error { return nil }

// importList imports two entries; an import's reason is made from its
// source.
func importList(ctx context.Context, w *world, tenant, source string) error {
	return w.srv.ImportIPList(&importStream{ctx: ctx, chunk: &pdpv1.ImportIPListRequest{
		Tenant: tenant, List: pdpv1.IPList_IP_LIST_DENY, Source: source, Lines: []string{"192.0.2.1", "192.0.2.0/28"},
	}})
}

// adminCall is one admin RPC made with the fields a case gives.
type adminCall func(ctx context.Context, w *world, tenant, id, reason string) error

// calls are every admin RPC that changes something or is audited, made
// as a tenant-admin of acme would make them, each naming the tenant, the
// object (user, rule, change or source) and the reason it is given.
var calls = map[string]adminCall{
	"PutTenantPolicy": func(ctx context.Context, w *world, tenant, _, reason string) error {
		cur, err := w.srv.GetTenantPolicy(root, &pdpv1.GetTenantPolicyRequest{Tenant: "acme"})
		if err != nil {
			return err
		}
		p := cur.GetPolicy()
		p.Tenant = tenant
		p.GetEnvironments()["production"].GetRoles()["member"].Actions = append(
			p.GetEnvironments()["production"].GetRoles()["member"].Actions, "admin.*")
		_, err = w.srv.PutTenantPolicy(ctx, &pdpv1.PutTenantPolicyRequest{Policy: p, Reason: reason})
		return err
	},
	"PutTenantPolicy/proposed": func(ctx context.Context, w *world, tenant, _, reason string) error {
		cur, err := w.srv.GetTenantPolicy(root, &pdpv1.GetTenantPolicyRequest{Tenant: "globex"})
		if err != nil {
			return err
		}
		p := cur.GetPolicy()
		if tenant != "acme" {
			p.Tenant = tenant
		}
		_, err = w.srv.PutTenantPolicy(tenantAdmin("globex-admin", "globex"), &pdpv1.PutTenantPolicyRequest{Policy: p, Reason: reason})
		return err
	},
	"ApproveChange": func(_ context.Context, w *world, _, id, reason string) error {
		_, err := w.srv.ApproveChange(tenantAdmin("globex-approver", "globex"), &pdpv1.ApproveChangeRequest{Id: or(id, w.changeID), Reason: reason})
		return err
	},
	"RejectChange": func(_ context.Context, w *world, _, id, reason string) error {
		_, err := w.srv.RejectChange(tenantAdmin("globex-approver", "globex"), &pdpv1.RejectChangeRequest{Id: or(id, w.changeID), Reason: reason})
		return err
	},
	"SetSSOStatus": func(ctx context.Context, w *world, tenant, _, reason string) error {
		_, err := w.srv.SetSSOStatus(ctx, &pdpv1.SetSSOStatusRequest{Tenant: tenant, Available: false, Reason: reason})
		return err
	},
	"AddIPRule": func(ctx context.Context, w *world, tenant, _, reason string) error {
		_, err := w.srv.AddIPRule(ctx, &pdpv1.AddIPRuleRequest{Tenant: tenant, List: pdpv1.IPList_IP_LIST_DENY, Cidr: "203.0.113.0/24", Reason: reason})
		return err
	},
	"RemoveIPRule": func(ctx context.Context, w *world, _, id, reason string) error {
		_, err := w.srv.RemoveIPRule(ctx, &pdpv1.RemoveIPRuleRequest{Id: or(id, w.ruleID), Reason: reason})
		return err
	},
	"ImportIPList": func(ctx context.Context, w *world, tenant, id, _ string) error {
		return importList(ctx, w, tenant, or(id, "feed"))
	},
	"GetUserProfile": func(ctx context.Context, w *world, tenant, id, reason string) error {
		_, err := w.srv.GetUserProfile(ctx, &pdpv1.GetUserProfileRequest{Tenant: tenant, UserId: or(id, "u1"), Reason: reason})
		return err
	},
	"ResetUserMFA": func(ctx context.Context, w *world, tenant, id, reason string) error {
		_, err := w.srv.ResetUserMFA(ctx, &pdpv1.ResetUserMFARequest{Tenant: tenant, UserId: or(id, "u1"), Reason: reason})
		return err
	},
	"UnsuspendUser": func(ctx context.Context, w *world, tenant, id, reason string) error {
		_, err := w.srv.UnsuspendUser(ctx, &pdpv1.UnsuspendUserRequest{Tenant: tenant, UserId: or(id, "u1"), Reason: reason})
		return err
	},
	"ExportUserData": func(ctx context.Context, w *world, tenant, id, reason string) error {
		_, err := w.srv.ExportUserData(ctx, &pdpv1.ExportUserDataRequest{Tenant: tenant, UserId: or(id, "u1"), Reason: reason})
		return err
	},
	"EraseUserData": func(ctx context.Context, w *world, tenant, id, reason string) error {
		_, err := w.srv.EraseUserData(ctx, &pdpv1.EraseUserDataRequest{Tenant: tenant, UserId: or(id, "u1"), Reason: reason})
		return err
	},
}

func or(s, otherwise string) string {
	if s != "" {
		return s
	}
	return otherwise
}

// takesReason reports whether a call sends a reason; an import makes its
// reason from its source.
func takesReason(name string) bool { return name != "ImportIPList" }

// idField names the field a call's object is sent in.
var idField = map[string]string{
	"ApproveChange": "id", "RejectChange": "id", "RemoveIPRule": "id", "ImportIPList": "source",
	"GetUserProfile": "user_id", "ResetUserMFA": "user_id", "UnsuspendUser": "user_id",
	"ExportUserData": "user_id", "EraseUserData": "user_id",
}

// tenantField names the field a call's tenant is sent in; calls that
// name no tenant are absent.
var tenantField = map[string]string{
	"PutTenantPolicy": "policy.tenant", "PutTenantPolicy/proposed": "policy.tenant", "SetSSOStatus": "tenant",
	"AddIPRule": "tenant", "ImportIPList": "tenant", "GetUserProfile": "tenant", "ResetUserMFA": "tenant",
	"UnsuspendUser": "tenant", "ExportUserData": "tenant", "EraseUserData": "tenant",
}

// refused checks that err is INVALID_ARGUMENT naming field, and that the
// call changed nothing and logged nothing.
func refused(t *testing.T, w *world, before string, err error, field string) {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Code != fault.InvalidArgument {
		t.Fatalf("error %v, want INVALID_ARGUMENT naming %s", err, field)
	}
	if !slices.ContainsFunc(fe.Fields, func(f fault.FieldViolation) bool { return f.Field == field }) {
		t.Errorf("fields %+v do not name %s", fe.Fields, field)
	}
	if after := w.snapshot(t); after != before {
		t.Errorf("a refused call changed the state or the audit log:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestEveryAuditedCallWithAReasonTheLogRefusesChangesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	long := strings.Repeat("r", audit.MaxReasonLen+1)
	for name, call := range calls {
		if !takesReason(name) {
			continue
		}
		t.Run(name, func(t *testing.T) {
			before := w.snapshot(t)
			refused(t, w, before, call(acmeAdmin, w, "acme", "", long), "reason")
		})
	}
}

func TestAReasonAtTheLimitIsTaken(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	reason := strings.Repeat("r", audit.MaxReasonLen)
	if err := calls["AddIPRule"](acmeAdmin, w, "acme", "", reason); err != nil {
		t.Fatalf("AddIPRule with a reason of %d bytes: %v", audit.MaxReasonLen, err)
	}
	if err := calls["GetUserProfile"](acmeAdmin, w, "acme", "", reason); err != nil {
		t.Fatalf("GetUserProfile with a reason of %d bytes: %v", audit.MaxReasonLen, err)
	}
}

func TestEveryAuditedCallWithAnObjectTheLogRefusesChangesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for name, field := range idField {
		t.Run(name, func(t *testing.T) {
			before := w.snapshot(t)
			long := strings.Repeat("x", audit.MaxFieldLen+1)
			refused(t, w, before, calls[name](acmeAdmin, w, "acme", long, "ticket 7"), field)
		})
	}
}

func TestEveryCallNamingATenantRefusesAMalformedOne(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		"a path": "../x", "a NUL byte": "a\x00b", "upper case": "Acme", "a space": "ac me",
		"too long": strings.Repeat("a", 64), "far too long": strings.Repeat("a", audit.MaxFieldLen+1),
	}
	w := newWorld(t)
	for name, field := range tenantField {
		for what, tenant := range bad {
			t.Run(name+"/"+what, func(t *testing.T) {
				before := w.snapshot(t)
				// An admin key may administer every tenant, so the name
				// itself must be refused.
				refused(t, w, before, calls[name](root, w, tenant, "", "ticket 7"), field)
			})
		}
	}
}

func TestReadsNamingAMalformedTenantAreRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := root
	for _, tenant := range []string{"../x", "a\x00b"} {
		for name, call := range map[string]func() error{
			"GetTenantPolicy": func() error {
				_, err := w.srv.GetTenantPolicy(ctx, &pdpv1.GetTenantPolicyRequest{Tenant: tenant})
				return err
			},
			"ListIPRules": func() error {
				_, err := w.srv.ListIPRules(ctx, &pdpv1.ListIPRulesRequest{Tenant: tenant})
				return err
			},
			"ListPendingChanges": func() error {
				_, err := w.srv.ListPendingChanges(ctx, &pdpv1.ListPendingChangesRequest{Tenant: tenant})
				return err
			},
			"ComplianceReport": func() error {
				_, err := w.srv.ComplianceReport(ctx, &pdpv1.ComplianceReportRequest{Tenant: tenant})
				return err
			},
			"ListAuditEvents": func() error {
				_, err := w.srv.ListAuditEvents(ctx, &pdpv1.ListAuditEventsRequest{Tenant: tenant})
				return err
			},
		} {
			before := w.snapshot(t)
			err := call()
			t.Run(name+"/"+tenant, func(t *testing.T) { refused(t, w, before, err, "tenant") })
		}
	}
}

func TestAnImportSourceTheLogCannotNameIsRefusedBeforeAnyEntryIsStored(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	before := w.snapshot(t)
	long := strings.Repeat("s", audit.MaxFieldLen-len(rules.ImportPrefix)+1)
	refused(t, w, before, importList(acmeAdmin, w, "acme", long), "source")
	refused(t, w, before, importList(acmeAdmin, w, "acme", "two words"), "source")
	fits := strings.Repeat("s", audit.MaxFieldLen-len(rules.ImportPrefix))
	if err := importList(acmeAdmin, w, "acme", fits); err != nil {
		t.Fatalf("an import whose source fits the log: %v", err)
	}
}

// failingLog is an audit log whose store fails every append: a plain
// append fails at once, and a commit fails after the change ran (its
// record is made one the log cannot link), inside the backend's
// transaction.
type failingLog struct{ audit.Log }

func (failingLog) Append(context.Context, audit.Entry) (audit.Event, error) {
	return audit.Event{}, errors.New("disk full")
}

func (l failingLog) Commit(ctx context.Context, e audit.Entry, change func(context.Context, *audit.Entry) error) (audit.Event, error) {
	return l.Log.(audit.Committer).Commit(ctx, e, func(ctx context.Context, e *audit.Entry) error {
		if err := change(ctx, e); err != nil {
			return err
		}
		e.Target = strings.Repeat("x", audit.MaxFieldLen+1)
		return nil
	})
}

func TestEveryChangeWhoseRecordFailsIsRolledBack(t *testing.T) {
	t.Parallel()
	var broken atomic.Bool
	w := newBoltWorld(t, func(l audit.Log) audit.Log { return switchLog{Log: l, broken: &broken} })
	broken.Store(true)
	for name, call := range calls {
		if name == "GetUserProfile" || name == "ExportUserData" {
			continue // reads change nothing
		}
		t.Run(name, func(t *testing.T) {
			before := w.snapshot(t)
			err := call(acmeAdmin, w, "acme", "", "ticket 7")
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Code != fault.Unavailable || !strings.Contains(fe.Message, "nothing was changed") {
				t.Fatalf("error %v, want UNAVAILABLE saying nothing was changed", err)
			}
			if after := w.snapshot(t); after != before {
				t.Errorf("a change whose record failed stayed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// switchLog is the log it wraps until broken is set, then a failingLog.
type switchLog struct {
	audit.Log
	broken *atomic.Bool
}

func (l switchLog) Append(ctx context.Context, e audit.Entry) (audit.Event, error) {
	if l.broken.Load() {
		return failingLog{l.Log}.Append(ctx, e)
	}
	return l.Log.Append(ctx, e)
}

func (l switchLog) Commit(ctx context.Context, e audit.Entry, change func(context.Context, *audit.Entry) error) (audit.Event, error) {
	if l.broken.Load() {
		return failingLog{l.Log}.Commit(ctx, e, change)
	}
	return l.Log.(audit.Committer).Commit(ctx, e, change)
}
