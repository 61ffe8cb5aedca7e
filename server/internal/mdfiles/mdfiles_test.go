package mdfiles

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWalkFindsDocumentsOnlyOutsideSkippedFolders(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"README.md", "docs/a.md", "docs/b.txt", "testdata/c.md", "node_modules/d.md", "bin/e.md", "x/data/f.md", "x/g.md"} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	if err := Walk(dir, func(path string) error {
		rel, _ := filepath.Rel(dir, path)
		got = append(got, filepath.ToSlash(rel))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"README.md", "docs/a.md", "x/g.md"}; !slices.Equal(got, want) {
		t.Fatalf("Walk found %q, want %q", got, want)
	}
}
