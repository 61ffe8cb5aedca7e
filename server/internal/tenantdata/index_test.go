package tenantdata

import "testing"

func TestAnIndexReadsAgainOnlyTheChangedTenants(t *testing.T) {
	doc := func(n int) map[string]any {
		return map[string]any{"environments": map[string]any{"production": map[string]any{"n": n}}}
	}
	reads := 0
	read := func(tenant, env string, policy map[string]any) string {
		reads++
		return tenant + "/" + env
	}
	x := NewIndex(map[string]any{"a": doc(1), "b": doc(2)}, read)
	if reads != 2 {
		t.Fatalf("%d reads, want 2", reads)
	}
	y := x.With(map[string]any{"a": doc(3), "c": doc(4)}, map[string]bool{"a": true, "b": true, "c": true})
	if reads != 4 {
		t.Fatalf("%d reads after With, want 4 (a and c again, b removed)", reads)
	}
	if _, ok := y.Get("b", "production"); ok {
		t.Error("a removed tenant is still indexed")
	}
	if v, ok := y.Get("c", "production"); !ok || v != "c/production" {
		t.Errorf("an added tenant: %q %v", v, ok)
	}
	if _, ok := x.Get("b", "production"); !ok {
		t.Error("With changed the index it was called on")
	}
}
