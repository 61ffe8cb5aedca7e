package benchkit_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/benchkit"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/store/bolt"
)

const demoTenants = "../demo/tenants"

var now = time.Date(2026, time.November, 25, 10, 0, 0, 0, time.UTC)

func check() *pdpv1.CheckRequest {
	return &pdpv1.CheckRequest{
		Tenant: "acme", Environment: "production",
		Subject: &pdpv1.Subject{Id: "u-42", Email: "ada@acme.com", Roles: []string{"developer"},
			MfaEnrolled: true, Tenant: "acme", CreatedAt: timestamppb.New(now.AddDate(-1, 0, 0))},
		Authentication: &pdpv1.Authentication{Provider: "google", Methods: []string{"pwd", "otp"},
			AuthenticatedAt: timestamppb.New(now.Add(-time.Hour)), MfaVerifiedAt: timestamppb.New(now.Add(-time.Hour))},
		Network: &pdpv1.Network{Ip: "203.0.113.7", Country: "pt"},
		Action:  &pdpv1.Action{Name: "api.read", Resource: "/v1/projects/9"},
		Time:    timestamppb.New(now),
	}
}

func TestTenantsDataHoldsEveryDemoTenant(t *testing.T) {
	t.Parallel()
	data, err := benchkit.TenantsData(demoTenants)
	if err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"acme", "globex", "initech"} {
		if _, ok := data[tenant].(map[string]any)["environments"]; !ok {
			t.Errorf("tenant %s has no environments in %v", tenant, data[tenant])
		}
	}
}

func TestEngineDecidesAPreparedRequestAndRefusesAnInvalidOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, err := benchkit.NewEngine(ctx, demoTenants, now)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.Prepare(check())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Decide(ctx, r); err != nil {
		t.Errorf("Decide: %v", err)
	}
	bad := check()
	bad.Tenant = ""
	if _, err := e.Prepare(bad); fault.As(err).Code != fault.InvalidArgument {
		t.Errorf("Prepare without a tenant: %v, want invalid argument", err)
	}
}

func TestInputJSONCarriesAKnownUserAndNoIPSignals(t *testing.T) {
	t.Parallel()
	in, err := benchkit.InputJSON(check(), now)
	if err != nil {
		t.Fatal(err)
	}
	signals, _ := in["signals"].(map[string]any)
	profile, _ := signals["profile"].(map[string]any)
	if profile["device_known"] != true || !slices.Equal(anyStrings(profile["countries"]), []string{"pt"}) {
		t.Errorf("profile signals = %v, want a known user seen in pt", profile)
	}
	if _, ok := signals["ip"]; ok {
		t.Errorf("signals.ip = %v, want none (OPA matches the lists in Rego)", signals["ip"])
	}
}

func anyStrings(v any) []string {
	var out []string
	switch l := v.(type) {
	case []string:
		return l
	case []any:
		for _, s := range l {
			str, _ := s.(string)
			out = append(out, str)
		}
	}
	return out
}

func TestSeedDenyListStoresTheFeedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pdp.db")
	for range 2 { // the same rules again update them: still n
		if err := benchkit.SeedDenyList(ctx, path, 25); err != nil {
			t.Fatal(err)
		}
	}
	st, err := bolt.Open(path, bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rules, _, err := st.IPRules().List(ctx, iprules.Query{List: "deny", Limit: iprules.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 25 {
		t.Errorf("%d deny rules stored, want 25", len(rules))
	}
}
