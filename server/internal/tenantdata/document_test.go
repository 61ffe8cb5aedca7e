package tenantdata

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEnvironmentsVisitsEveryEnvironmentInOrder(t *testing.T) {
	t.Parallel()
	tenants := map[string]any{
		"globex": map[string]any{"environments": map[string]any{"production": map[string]any{"a": 1}}},
		"acme": map[string]any{"environments": map[string]any{
			"staging": "not an object", "production": map[string]any{"b": 2},
		}},
		"broken": "not an object",
	}
	var got []string
	Environments(tenants, func(tenant, env string, policy map[string]any) {
		got = append(got, tenant+"/"+env+"/"+map[bool]string{true: "policy", false: "nil"}[policy != nil])
	})
	want := []string{"acme/production/policy", "acme/staging/nil", "globex/production/policy"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatal(diff)
	}
}

func TestInt(t *testing.T) {
	t.Parallel()
	doc := map[string]any{"incident": map[string]any{
		"a": int64(5), "b": 7, "c": uint32(9), "d": 1.5e9, "e": json.Number("42"), "f": "x", "g": json.Number("1.5"),
	}}
	for _, tc := range []struct {
		key  string
		want int64
		ok   bool
	}{{"a", 5, true}, {"b", 7, true}, {"c", 9, true}, {"d", 1500000000, true}, {"e", 42, true},
		{"f", 0, false}, {"g", 0, false}, {"missing", 0, false}} {
		n, ok := Int(doc, "incident", tc.key)
		if n != tc.want || ok != tc.ok {
			t.Errorf("Int(incident.%s) = %d, %v; want %d, %v", tc.key, n, ok, tc.want, tc.ok)
		}
	}
	if _, ok := Int(doc, "incident", "a", "deeper"); ok {
		t.Error("a path through a number must not be found")
	}
}
