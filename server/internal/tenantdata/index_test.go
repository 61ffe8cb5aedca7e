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

func TestASettingsIndexAnswersTheDefaultsForWhatTheDocumentLacks(t *testing.T) {
	doc := map[string]any{"a": map[string]any{"environments": map[string]any{"production": map[string]any{}}}}
	read := func(tenant, env string, _ map[string]any) string { return "read " + tenant + "/" + env }
	def := func(tenant, env string) string { return "default " + tenant + "/" + env }
	x := NewSettingsIndex(doc, read, def)
	if got := x.Settings("a", "production"); got != "read a/production" {
		t.Errorf("an indexed environment: %q", got)
	}
	if got := x.Settings("a", "staging"); got != "default a/staging" {
		t.Errorf("an environment the document lacks: %q", got)
	}
	y := x.With(map[string]any{}, map[string]bool{"a": true})
	if got := y.Settings("a", "production"); got != "default a/production" {
		t.Errorf("a removed tenant: %q", got)
	}
	if got := x.Settings("a", "production"); got != "read a/production" {
		t.Errorf("With changed the index it was called on: %q", got)
	}
}
