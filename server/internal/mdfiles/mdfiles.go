// Package mdfiles finds the repository's Markdown documents, for the tools
// that check them (mdlinks) and fill them (flagdocs), so that both read the
// same set of files.
package mdfiles

import (
	"io/fs"
	"path/filepath"
	"strings"
)

// Walk calls fn, in lexical order, with the path of every .md file under
// root, skipping the folders that hold no documentation (version control,
// dependencies, test data, run-time state and build output). An error from
// fn stops the walk and is returned.
func Walk(root string, fn func(path string) error) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "testdata", "data", "bin":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".md") {
			return nil
		}
		return fn(path)
	})
}
