package engine

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

func TestLoadRevision(t *testing.T) {
	t.Parallel()
	lib := coreLibrary(t, nil)
	custom := map[string]string{"policies/custom.rego": "package pdp.custom\n\nnotices contains {\"code\": \"c\", \"message\": \"m\", \"rule\": \"r\"} if input.explain\n"}
	tenants := demoTenants(t)

	load := func(b Bundle) string {
		t.Helper()
		rev, err := New(Options{Library: lib}).Load(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	base := load(Bundle{Modules: custom, Tenants: tenants})
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(base) {
		t.Fatalf("revision %q is not 16 hex digits", base)
	}
	if again := load(Bundle{Modules: custom, Tenants: demoTenants(t)}); again != base {
		t.Errorf("same inputs gave revisions %q and %q", base, again)
	}
	others := map[string]Bundle{
		"no modules":       {Tenants: tenants},
		"no tenants":       {Modules: custom},
		"module renamed":   {Modules: map[string]string{"policies/other.rego": custom["policies/custom.rego"]}, Tenants: tenants},
		"module edited":    {Modules: map[string]string{"policies/custom.rego": custom["policies/custom.rego"] + "\n"}, Tenants: tenants},
		"tenant data edit": {Modules: custom, Tenants: map[string]any{"acme": map[string]any{"plan": "free"}}},
	}
	for name, b := range others {
		if rev := load(b); rev == base {
			t.Errorf("%s: revision unchanged (%q)", name, rev)
		}
	}
}

func TestLoadBrokenKeepsServing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tenants := demoTenants(t)
	e := New(Options{Library: coreLibrary(t, nil)})

	good := "package pdp.custom\n\ndeny contains {\"code\": \"custom.blocked\", \"message\": \"blocked\", \"rule\": \"custom.blocked\"} if {\n\tinput.action.name == \"api.blocked\"\n}\n"
	rev1, err := e.Load(ctx, Bundle{Modules: map[string]string{"policies/custom.rego": good}, Tenants: tenants})
	if err != nil {
		t.Fatal(err)
	}

	broken := []struct {
		name    string
		modules map[string]string
		wantErr []string
	}{
		{
			name:    "syntax error",
			modules: map[string]string{"policies/custom.rego": "package pdp.custom\n\ndeny contains x if {\n\tx := \n}\n"},
			wantErr: []string{"policies/custom.rego:5"},
		},
		{
			name: "unsafe variable in two files",
			modules: map[string]string{
				"policies/a.rego": "package pdp.custom\n\ndeny contains x if {\n\ty == 1\n}\n",
				"policies/b.rego": "package pdp.custom\n\n\nchallenge contains z if {\n\tw == 1\n}\n",
			},
			wantErr: []string{"policies/a.rego:3", "policies/b.rego:4"},
		},
		{
			name:    "type error",
			modules: map[string]string{"policies/custom.rego": "package pdp.custom\n\nnotices contains x if {\n\tx := concat(\",\", 7)\n}\n"},
			wantErr: []string{"policies/custom.rego:4"},
		},
		{
			name:    "path taken by the library",
			modules: map[string]string{"rego/core.rego": "package pdp.custom\n"},
			wantErr: []string{"rego/core.rego", "built-in library"},
		},
	}
	for _, tt := range broken {
		rev, err := e.Load(ctx, Bundle{Modules: tt.modules, Tenants: tenants})
		if err == nil {
			t.Fatalf("%s: Load succeeded with revision %q", tt.name, rev)
		}
		for _, want := range tt.wantErr {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not name %q", tt.name, err, want)
			}
		}
		if got := e.Revision(); got != rev1 {
			t.Errorf("%s: Revision() = %q, want the last good %q", tt.name, got, rev1)
		}
		req := demoRequest()
		req.Action.Name = "api.blocked"
		d, err := e.Decide(ctx, req)
		if err != nil {
			t.Fatalf("%s: Decide after a failed Load: %v", tt.name, err)
		}
		if d.PolicyRevision != rev1 || d.Kind != decision.KindDeny {
			t.Errorf("%s: decided %s with revision %q, want deny by %q", tt.name, d.Kind, d.PolicyRevision, rev1)
		}
	}

	fixed := strings.ReplaceAll(good, "api.blocked", "api.read")
	rev3, err := e.Load(ctx, Bundle{Modules: map[string]string{"policies/custom.rego": fixed}, Tenants: tenants})
	if err != nil {
		t.Fatal(err)
	}
	if rev3 == rev1 || e.Revision() != rev3 {
		t.Fatalf("after the fix: Load = %q, Revision() = %q, first = %q", rev3, e.Revision(), rev1)
	}
	d, err := e.Decide(ctx, demoRequest())
	if err != nil {
		t.Fatal(err)
	}
	if d.PolicyRevision != rev3 || d.Kind != decision.KindDeny || d.Reasons[0].Code != "custom.blocked" {
		t.Errorf("after the fix: %+v", d)
	}
}

func TestLibraryModules(t *testing.T) {
	t.Parallel()
	lib := fstest.MapFS{
		"rego/core.rego":       {Data: []byte("package pdp\n")},
		"rego/core_test.rego":  {Data: []byte("package pdp_test\n")},
		"rego/README.md":       {Data: []byte("# library\n")},
		"rego/.#core.rego":     {Data: []byte("lock")},
		"rego/sub/extra.rego":  {Data: []byte("package pdp.extra\n")},
		"rego/sub/extra.rego~": {Data: []byte("backup")},
	}
	got, err := LibraryModules(lib)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"rego/core.rego": "package pdp\n", "rego/sub/extra.rego": "package pdp.extra\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("modules mismatch (-want +got):\n%s", diff)
	}
}

func TestLibraryOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		modules map[string]string
		want    bool
	}{
		{"no modules", nil, true},
		{"other packages", map[string]string{"a.rego": "package acme.helpers\n\nx := 1\n", "b.rego": "package pdpx\n\ny := 2\n"}, true},
		{"package pdp", map[string]string{"a.rego": "package pdp\n\nx := 1\n"}, false},
		{"package pdp.custom", map[string]string{"a.rego": "package acme\n\nx := 1\n", "b.rego": "package pdp.custom\n\ny := 2\n"}, false},
		{"below pdp.custom", map[string]string{"a.rego": "package pdp.custom.geo\n\nx := 1\n"}, false},
		{"does not parse", map[string]string{"a.rego": "package acme\n\nx := \n"}, false},
	}
	for _, tt := range tests {
		if got := libraryOnly(tt.modules); got != tt.want {
			t.Errorf("%s: libraryOnly = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// An author rule of package pdp or pdp.custom is read even when every
// control of the library is quiet, and a module elsewhere changes nothing.
func TestAuthorRulesOnQuietRequests(t *testing.T) {
	t.Parallel()
	for _, pkg := range []string{"pdp", "pdp.custom"} {
		mods := map[string]string{"policies/extra.rego": "package " + pkg + `

deny contains {"code": "extra.no_reads", "message": "no reads", "rule": "extra.no_reads"} if input.action.name == "api.read"

risk_factors contains {"name": "unusual_time", "weight": 0.1, "detail": "extra"} if input.action.name == "api.read"
`}
		e := loaded(t, Options{}, Bundle{Modules: mods, Tenants: demoTenants(t)})
		d, err := e.Decide(context.Background(), demoRequest())
		if err != nil {
			t.Fatal(err)
		}
		if d.Kind != decision.KindDeny || len(d.Reasons) != 1 || d.Reasons[0].Code != "extra.no_reads" || len(d.Risk.Factors) != 1 {
			t.Errorf("package %s: %s %+v %+v, want the author's deny and factor", pkg, d.Kind, d.Reasons, d.Risk)
		}
	}
	e := loaded(t, Options{}, Bundle{Modules: map[string]string{"policies/h.rego": "package acme\n\nx := 1\n"}, Tenants: demoTenants(t)})
	d, err := e.Decide(context.Background(), demoRequest())
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != decision.KindAllow || len(d.Reasons) != 0 {
		t.Errorf("module of another package: %s %+v, want a plain allow", d.Kind, d.Reasons)
	}
}
