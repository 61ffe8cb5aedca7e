// The layers of server/internal, bottom to top. A package imports packages
// of its own layer or below, never above: the transports call the
// services, the services the domain, the domain its stores, and app only
// wires. docs/development.md states the same table.
package internal_test

import (
	"go/build"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/pdp-dev/pdp/server/internal/"

// layers lists each layer's packages by path below server/internal; a
// package belongs to the longest path that is it or one of its parents.
var layers = []struct {
	name string
	pkgs []string
}{
	{"foundation", []string{"config", "decision", "fault", "version", "follow", "filewatch", "fulldisk", "gctune",
		"mdfiles", "docexamples", "bearer", "rpcstatus", "telemetry", "tlsutil", "contract"}},
	{"domain and state", []string{"engine", "regotester", "compliance", "tenantdata", "tenantstore", "ipset", "iprules",
		"audit", "geo", "store", "ssf"}},
	{"store backends", []string{"store/memory", "store/bolt", "store/redis", "store/backend"}},
	{"services", []string{"signals", "incident", "reload", "decisionlog", "replay", "authn", "decide", "pdpsvc", "admin", "gateway", "ssf/receiver"}},
	{"doors", []string{"transport", "grpcserver", "httpapi", "extauthz", "forwardauth", "authzen", "console"}},
	{"wiring", []string{"app"}},
	{"commands", []string{"cli"}},
}

// layerOf is the layer of pkg (a path below server/internal), or -1 when
// the table does not place it.
func layerOf(pkg string) int {
	best, layer := "", -1
	for i, l := range layers {
		for _, p := range l.pkgs {
			if (pkg == p || strings.HasPrefix(pkg, p+"/")) && len(p) > len(best) {
				best, layer = p, i
			}
		}
	}
	return layer
}

// imports reads the imports below server/internal of every package there,
// test files left out: a test may start what it tests from above.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if path == "." {
			return nil // this test's own directory
		}
		if name := d.Name(); name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			return filepath.SkipDir
		}
		p, err := build.Default.ImportDir(path, 0)
		if err != nil {
			if _, ok := err.(*build.NoGoError); ok {
				return nil
			}
			return err
		}
		if len(p.GoFiles) == 0 {
			return nil // tests only: nothing imports it
		}
		pkg := filepath.ToSlash(path)
		for _, imp := range p.Imports {
			if rest, ok := strings.CutPrefix(imp, module); ok {
				out[pkg] = append(out[pkg], rest)
			}
		}
		if _, ok := out[pkg]; !ok {
			out[pkg] = nil
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestImportsPointDown(t *testing.T) {
	all := imports(t)
	for pkg, imps := range all {
		from := layerOf(pkg)
		if from < 0 {
			t.Errorf("%s is in no layer: add it to the table of layers_test.go and docs/development.md", pkg)
			continue
		}
		for _, imp := range imps {
			if to := layerOf(imp); to > from {
				t.Errorf("%s (%s) imports %s (%s), a higher layer", pkg, layers[from].name, imp, layers[to].name)
			}
		}
	}
	if len(all) < 40 {
		t.Fatalf("read %d packages; the walk missed server/internal", len(all))
	}
}

func TestConfigIsALeaf(t *testing.T) {
	// Every layer reads the configuration; it imports nothing of this
	// repository, not even the generated API.
	p, err := build.Default.ImportDir("config", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range p.Imports {
		if strings.HasPrefix(imp, "github.com/pdp-dev/pdp") {
			t.Errorf("config imports %s", imp)
		}
	}
}

func TestTheDocsStateTheSameLayers(t *testing.T) {
	b, err := os.ReadFile("../../docs/development.md")
	if err != nil {
		t.Fatal(err)
	}
	// A row: | layer | pkg, pkg (a remark), ... |
	row := regexp.MustCompile(`(?m)^\| ([a-z ]+) \| (.+) \|$`)
	remark := regexp.MustCompile(`\([^)]*\)`)
	docs := map[string][]string{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		for _, p := range strings.Split(remark.ReplaceAllString(m[2], ""), ",") {
			docs[m[1]] = append(docs[m[1]], strings.TrimSpace(p))
		}
	}
	for _, l := range layers {
		got, want := slices.Sorted(slices.Values(docs[l.name])), slices.Sorted(slices.Values(l.pkgs))
		if !slices.Equal(got, want) {
			t.Errorf("layer %q: docs/development.md lists %v, layers_test.go %v", l.name, got, want)
		}
	}
}
