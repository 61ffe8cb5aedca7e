package reload

import (
	"maps"
	"path/filepath"
	"slices"
	"testing"
)

func TestNoteChangeKeepsTenantFilesAndReadsAllOnAStrangeName(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	tenants, policies := filepath.Join(root, "tenants"), filepath.Join(root, "policies")
	l := New(nil, Options{TenantsDir: tenants + "/", PolicyDirs: []string{policies}})
	for _, tt := range []struct {
		name  string
		files []string
		all   bool
	}{
		{filepath.Join(tenants, "acme.yaml"), []string{filepath.Join(tenants, "acme.yaml")}, false},
		{tenants + "//globex.json", []string{filepath.Join(tenants, "globex.json")}, false},
		{filepath.Join(tenants, ".acme.yaml.swp"), nil, false},
		{filepath.Join(tenants, "..data"), nil, false},
		{filepath.Join(tenants, "..2026_01_01", "acme.yaml"), nil, false},
		{filepath.Join(policies, "geo.rego"), nil, false},
		{filepath.Join(policies, "sub", "geo.rego"), nil, false},
		{filepath.Join(root, "elsewhere", "acme.yaml"), nil, true},
		{"acme.yaml", nil, true},
	} {
		c := l.newFileChanges()
		l.noteChange(c, tt.name)
		if files := slices.Sorted(maps.Keys(c.files)); !slices.Equal(files, tt.files) || c.all != tt.all {
			t.Errorf("%s: files %v, all %v; want %v, %v", tt.name, files, c.all, tt.files, tt.all)
		}
	}
}
