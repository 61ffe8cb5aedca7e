package tenantdata

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// IsPolicyFile reports whether a directory entry name is a tenant policy
// file: it ends in .yaml, .yml or .json (any case) and is neither hidden
// (".acme.yaml", Kubernetes' "..data") nor an editor's temporary or lock
// file ("#acme.yaml#", "~acme.yaml", "acme.yaml~", "acme.yaml.swp").
func IsPolicyFile(name string) bool {
	if name == "" || strings.ContainsAny(name[:1], ".#~") {
		return false
	}
	return slices.Contains([]string{".yaml", ".yml", ".json"}, strings.ToLower(filepath.Ext(name)))
}

// LoadDir reads every tenant policy file of dir (see IsPolicyFile; not
// recursive, symbolic links followed) and returns the policies by tenant
// name, each parsed, validated, plan-checked and given its etag. Declared
// compliance profiles are not checked here: the Rego module
// data.pdp.compliance owns those controls (see EffectiveEnvironment).
//
// The tenant name is the file's tenant field or, when that is empty, the
// file name without its extension; a file whose tenant field differs from
// its name is refused, and so are two files for one tenant (neither is
// loaded, since neither is authoritative). Every problem
// of every file is reported, joined with errors.Join, each beginning with
// the file's path. On error the map still holds the files that loaded
// cleanly; a caller that needs all or nothing (a reload that keeps the last
// good set) discards it.
func LoadDir(dir string) (map[string]*pdpv1.TenantPolicy, error) {
	return NewDirReader(dir).Read()
}

// A DirReader reads one directory of tenant policy files again and again,
// each time as LoadDir does, but parses only the files whose content
// changed since its last read: it remembers each file that loaded by its
// path and the SHA-256 of its content, so that an edit keeping the size
// and the modification time is seen as well. A policy read again from an
// unchanged file is the same *pdpv1.TenantPolicy as the last time, so
// callers can tell what changed by comparing pointers; none may be
// modified. A DirReader is not safe for concurrent use.
type DirReader struct {
	dir   string
	known map[string]readFile // by path
}

// readFile is a file that loaded cleanly.
type readFile struct {
	sum    [sha256.Size]byte
	policy *pdpv1.TenantPolicy
}

// NewDirReader returns a reader of dir that has read nothing yet.
func NewDirReader(dir string) *DirReader { return &DirReader{dir: dir} }

// Read reads the directory as LoadDir does.
func (r *DirReader) Read() (map[string]*pdpv1.TenantPolicy, error) { return r.read(nil) }

// ReadChanged is Read when only the files of changed (paths of files of
// the directory, as filepath.Join names them) may have changed since the
// last read, as a watch of the directory reports: the directory is listed
// again, and a file it read cleanly last time is not read again unless
// changed names it or it is no longer a regular file (a symbolic link's
// target may change without a change in the directory).
func (r *DirReader) ReadChanged(changed map[string]bool) (map[string]*pdpv1.TenantPolicy, error) {
	return r.read(func(e fs.DirEntry, path string) bool { return e.Type().IsRegular() && !changed[path] })
}

// read reads the directory; unchanged, when set, tells the files that
// need no reading if they loaded cleanly last time.
func (r *DirReader) read(unchanged func(e fs.DirEntry, path string) bool) (map[string]*pdpv1.TenantPolicy, error) {
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return nil, fmt.Errorf("reading tenant policies: %w", err)
	}
	out := map[string]*pdpv1.TenantPolicy{}
	from := map[string]string{} // tenant -> file that defined it
	add := func(p *pdpv1.TenantPolicy, path string) error {
		if first, dup := from[p.Tenant]; dup {
			delete(out, p.Tenant) // neither file is authoritative
			return fault.New(fault.InvalidArgument, "%s: tenant %q is also defined by %s", path, p.Tenant, first)
		}
		from[p.Tenant] = path
		out[p.Tenant] = p
		return nil
	}
	known := make(map[string]readFile, len(r.known))
	var errs []error
	for _, e := range entries { // ReadDir sorts by name
		if !IsPolicyFile(e.Name()) {
			continue
		}
		path := filepath.Join(r.dir, e.Name())
		if was, ok := r.known[path]; ok && unchanged != nil && unchanged(e, path) {
			known[path] = was
			if err := add(was.policy, path); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		data, err := readLimited(path)
		if err != nil {
			if errors.Is(err, errNotRegular) {
				continue
			}
			errs = append(errs, err)
			continue
		}
		f := readFile{sum: sha256.Sum256(data)}
		if was, ok := r.known[path]; ok && was.sum == f.sum {
			f.policy = was.policy
		} else if f.policy, err = loadData(path, data); err != nil {
			errs = append(errs, err)
			continue
		}
		known[path] = f
		if err := add(f.policy, path); err != nil {
			errs = append(errs, err)
		}
	}
	r.known = known
	return out, errors.Join(errs...)
}

var errNotRegular = errors.New("not a regular file")

// LoadFile reads, parses, validates and plan-checks one tenant policy file
// and sets its etag. The tenant defaults to the file name without its
// extension. Errors begin with the path.
func LoadFile(path string) (*pdpv1.TenantPolicy, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	return loadData(path, data)
}

// loadData is LoadFile of the content data read from path.
func loadData(path string, data []byte) (*pdpv1.TenantPolicy, error) {
	p, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	switch {
	case p.Tenant == "":
		p.Tenant = base
	case p.Tenant != base:
		return nil, fmt.Errorf("%s: %w", path, &fault.Error{
			Code:    fault.InvalidArgument,
			Message: "invalid tenant policy",
			Fields: []fault.FieldViolation{{
				Field:       "tenant",
				Description: fmt.Sprintf("%q does not match the file name: name the file %s%s or remove the field", p.Tenant, p.Tenant, filepath.Ext(path)),
			}},
		})
	}
	if err := Validate(p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := CheckPlan(p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p.Etag = ETag(p)
	return p, nil
}

// readLimited reads a regular file of at most MaxFileSize bytes.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w", path, errNotRegular)
	}
	// Sized by the file, so that a read takes one call, not one per
	// doubling of a small buffer; one byte more sees the end of the file,
	// or a file that grew since.
	data := make([]byte, min(st.Size(), MaxFileSize)+1)
	n, err := io.ReadFull(f, data)
	switch {
	case err == nil: // it grew: read on, up to one byte past the limit
		rest, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1-int64(n)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return append(data, rest...), nil
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return data[:n], nil
	default:
		return nil, fmt.Errorf("%s: %w", path, err)
	}
}
