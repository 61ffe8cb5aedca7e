package engine

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	pdp "github.com/pdp-dev/pdp"
)

// decisionQuery is the one query the server evaluates.
var decisionQuery = ast.MustParseBody("data.pdp.decision")

// decisionRef is the rule the library must define.
var decisionRef = ast.MustParseRef("data.pdp.decision")

// builtinLibrary is the library embedded in the binary.
func builtinLibrary() fs.FS { return pdp.Policies }

// LibraryModules returns the policy modules of a library file system: every
// *.rego file but *_test.rego, path to source, in any directory.
func LibraryModules(fsys fs.FS) (map[string]string, error) {
	modules := map[string]string{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !IsPolicyFile(p) {
			return nil
		}
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		modules[p] = string(src)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read policy library: %w", err)
	}
	return modules, nil
}

// IsPolicyFile reports whether a file name is a Rego module that is not a
// test: it ends in .rego but not in _test.rego, and is not hidden (editor
// and lock files start with a dot).
func IsPolicyFile(name string) bool {
	base := path.Base(name)
	return strings.HasSuffix(base, ".rego") && !strings.HasSuffix(base, "_test.rego") && !strings.HasPrefix(base, ".")
}

// prepare builds a complete policy set without touching the serving one.
func (e *Engine) prepare(ctx context.Context, b Bundle) (*prepared, error) {
	library, err := LibraryModules(e.library)
	if err != nil {
		return nil, err
	}
	sources := make(map[string]string, len(library)+len(b.Modules))
	maps.Copy(sources, library)
	for name, src := range b.Modules {
		if _, clash := library[name]; clash {
			return nil, fmt.Errorf("module %s: the path is taken by the built-in library", name)
		}
		sources[name] = src
	}

	if libraryOnly(b.Modules) {
		sources[libraryOnlyModule] = libraryOnlySource
	}

	compiler, err := compile(sources)
	if err != nil {
		return nil, err
	}
	if err := CheckShapes(compiler, func(f string) bool { _, ok := b.Modules[f]; return ok }); err != nil {
		return nil, err
	}

	mods := &modules{compiler: compiler, authored: len(b.Modules) > 0, digest: modulesDigest(sources),
		tenantLocal: tenantLocal(compiler, b.Modules)}
	data, err := newTenantData(b.Tenants)
	if err != nil {
		return nil, err
	}
	return e.assemble(ctx, mods, data, tenantChange{})
}

// modules is the compiled half of a policy set: the library and the
// authors' modules. LoadTenants keeps it from one set to the next.
type modules struct {
	compiler *ast.Compiler
	// authored is whether the bundle had modules of its authors: only
	// then are new sets probed.
	authored bool
	// digest has hashed every module for the revision; each set's tenant
	// data continues a clone of it (see revision).
	digest hash.Cloner
	// tenantLocal is whether no author module reads data beyond its own
	// package's rules (data.tenants, say): a tenant environment's residual
	// then depends on no other tenant's data, and LoadTenants keeps the
	// residuals of the tenants it did not change.
	tenantLocal bool
}

// tenantLocal reports whether none of the authors' modules reads
// data.tenants, or data under a name computed at evaluation. (The library
// reads only the requesting tenant's data.)
func tenantLocal(c *ast.Compiler, authored map[string]string) bool {
	local := true
	for name := range authored {
		m := c.Modules[name]
		if m == nil {
			continue
		}
		ast.WalkRefs(m, func(r ast.Ref) bool {
			if !r.HasPrefix(ast.DefaultRootRef) {
				return false
			}
			if len(r) < 2 {
				local = false
				return false
			}
			if key, ok := r[1].Value.(ast.String); !ok || key == "tenants" {
				local = false
			}
			return false
		})
	}
	return local
}

// tenantChange names the tenants whose data a new set changes from the
// set it replaces, so that work done per tenant (the probes; anything
// else built for one tenant's data) is redone only for them. The zero
// value, which Load uses, means every tenant is new.
type tenantChange struct {
	// previous is the set replaced; nil after Load.
	previous *prepared
	// tenants are the tenants LoadTenants added, replaced or removed.
	tenants map[string]bool
}

// changed reports whether the data of tenant may differ from previous's.
func (c tenantChange) changed(tenant string) bool { return c.previous == nil || c.tenants[tenant] }

// assemble completes a policy set from compiled modules and the tenants'
// data, without touching the serving one: it stores the data, prepares
// data.pdp.decision against it, computes the revision and probes the set
// where change says the outcome may differ. Load and LoadTenants both end
// here.
func (e *Engine) assemble(ctx context.Context, mods *modules, data *tenantData, change tenantChange) (*prepared, error) {
	// The store serves the AST data without conversion on read; nothing
	// is ever written to it afterwards.
	store := inmem.NewFromASTObject(ast.NewObject(ast.Item(ast.InternedTerm("tenants"), ast.NewTerm(data.object))))

	query, err := rego.New(
		rego.ParsedQuery(decisionQuery),
		rego.Compiler(mods.compiler),
		rego.Store(store),
		rego.StrictBuiltinErrors(e.strict),
		rego.GenerateJSON(astResult),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("prepare data.pdp.decision: %w", err)
	}

	revision, err := mods.revision(data)
	if err != nil {
		return nil, err
	}
	p := &prepared{query: query, revision: revision, set: &Set{Compiler: mods.compiler, Store: store},
		directory: &directorySet{compiler: mods.compiler, store: store},
		builtins:  rego.EvalInterQueryBuiltinValueCache(e.builtins),
		modules:   mods, tenants: data}
	if mods.authored {
		p.probed = probeWindow(data.values)
		if err := e.probe(ctx, p, change); err != nil {
			return nil, err
		}
	}
	if err := e.newSpecialisations(ctx, p, envKeys(data.values), change); err != nil {
		return nil, err
	}
	return p, nil
}

// libraryOnlyModule is the module the engine adds to a policy set in which
// no author module is in package pdp or below it: nothing but the library
// can then add to the sets the decision combines, and core_library_only
// lets the common allow skip reading them (see rego/core.rego). The name
// is not a file path, so no author module can take it.
const (
	libraryOnlyModule = "<engine>/library_only.rego"
	libraryOnlySource = "package pdp\n\ncore_library_only := true\n"
)

// pdpPath is the path of package pdp.
var pdpPath = ast.MustParseRef("data.pdp")

// libraryOnly reports whether no module is in package pdp or below it. A
// module that does not parse counts as being there: compile reports it.
func libraryOnly(modules map[string]string) bool {
	for name, src := range modules {
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil || m.Package.Path.HasPrefix(pdpPath) {
			return false
		}
	}
	return true
}

// compile parses and compiles every module. Errors keep OPA's locations,
// so each line of the message starts with file:line.
func compile(sources map[string]string) (*ast.Compiler, error) {
	modules := make(map[string]*ast.Module, len(sources))
	var parseErrs []error
	for _, name := range slices.Sorted(maps.Keys(sources)) {
		m, err := ast.ParseModuleWithOpts(name, sources[name], ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			parseErrs = append(parseErrs, err)
			continue
		}
		modules[name] = m
	}
	if len(parseErrs) > 0 {
		return nil, fmt.Errorf("parse policies: %w", errors.Join(parseErrs...))
	}

	compiler := ast.NewCompiler().WithEnablePrintStatements(false)
	if compiler.Compile(modules); compiler.Failed() {
		return nil, fmt.Errorf("compile policies: %w", compiler.Errors)
	}
	if len(compiler.GetRules(decisionRef)) == 0 {
		return nil, errors.New("compile policies: no module defines data.pdp.decision")
	}
	return compiler, nil
}

// revisionLen is the number of hex digits of a revision.
const revisionLen = 16

// modulesDigest hashes every module (library included, in path order),
// the first part of a revision.
func modulesDigest(sources map[string]string) hash.Cloner {
	h := sha256.New().(hash.Cloner)
	for _, name := range slices.Sorted(maps.Keys(sources)) {
		writeField(h, []byte(name))
		writeField(h, []byte(sources[name]))
	}
	return h
}

// revision identifies the set of these modules and data, so that
// identical inputs give identical revisions: the modules' digest
// continued with each tenant's name and the digest of its data, in name
// order. A set that changes one tenant encodes and hashes only that one.
func (m *modules) revision(d *tenantData) (string, error) {
	h, err := m.digest.Clone()
	if err != nil {
		return "", fmt.Errorf("revision: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(d.sums)) {
		sum := d.sums[name]
		writeField(h, []byte(name))
		writeField(h, sum[:])
	}
	return hex.EncodeToString(h.Sum(nil))[:revisionLen], nil
}

// writeField writes a length-prefixed field, so that no two different
// sequences of fields hash alike.
func writeField(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}
