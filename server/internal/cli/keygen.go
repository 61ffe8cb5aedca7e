package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"unicode"

	yaml "go.yaml.in/yaml/v3"

	"github.com/pdp-dev/pdp/server/internal/authn"
)

// runKeygen is `pdp keygen NAME ROLE [--tenants a,b] [--streams s]`: a new API key on
// the first line of standard output, then its entry for the --api-keys
// file, which holds only the key's SHA-256. The key is shown once.
// --tenants names a tenant-admin's tenants, or scopes a pep key to the
// tenants it may ask and report for; --streams names the Shared Signals
// streams a transmitter key pushes to.
func runKeygen(_ context.Context, args []string, env Env) int {
	fs := flag.NewFlagSet("pdp keygen", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	tenants := fs.String("tenants", "", "comma-separated tenants of a tenant-admin key, or the only tenants a pep key serves")
	streams := fs.String("streams", "", "comma-separated Shared Signals streams a transmitter key pushes to")
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: pdp keygen NAME ROLE [--tenants a,b] [--streams s]\n\n"+
			"Prints a new API key on the first line and, after it, the entry to add to the --api-keys file.\n"+
			"ROLE is admin, tenant-admin (needs --tenants) or pep (--tenants scopes it; without, it serves\n"+
			"every tenant), or transmitter (needs --streams: it pushes Shared Signals events to them).\n"+
			"The file keeps only the key's SHA-256:\n"+
			"store the key now, it cannot be shown again.\n\nflags:")
		fs.PrintDefaults()
	}
	pos, code, done := parseArgs(fs, args)
	if done {
		return code
	}
	if len(pos) != 2 {
		fs.Usage()
		return ExitUsage
	}
	entry, err := keyEntry(pos[0], pos[1], *tenants)
	if entry.Streams = splitList(*streams); err == nil {
		switch {
		case entry.Role == authn.RoleTransmitter && len(entry.Streams) == 0:
			err = errors.New("a transmitter key needs --streams")
		case entry.Role != authn.RoleTransmitter && len(entry.Streams) > 0:
			err = fmt.Errorf("--streams applies to transmitter keys only, not %s", entry.Role)
		}
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp keygen: %v\n", err)
		return ExitUsage
	}
	key, err := authn.GenerateKey()
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp keygen: %v\n", err)
		return ExitError
	}
	entry.KeySHA256 = authn.HashKey(key)
	out, err := yaml.Marshal([]authn.Entry{entry})
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp keygen: %v\n", err)
		return ExitError
	}
	// The entry must load exactly as printed.
	if _, err := authn.ParseKeys(out); err != nil {
		fmt.Fprintf(env.Stderr, "pdp keygen: %v\n", err)
		return ExitError
	}
	fmt.Fprintf(env.Stdout, "%s\n# Add to the --api-keys file (the key above is not stored anywhere):\n%s", key, out)
	return ExitOK
}

// keyEntry checks the name, role and tenants of a new key.
func keyEntry(name, role, tenants string) (authn.Entry, error) {
	var errs []error
	if strings.TrimSpace(name) == "" || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		errs = append(errs, fmt.Errorf("NAME %q: must be non-empty printable text", name))
	}
	r, err := authn.ParseRole(role)
	if err != nil {
		errs = append(errs, fmt.Errorf("ROLE: %w", err))
	}
	list := splitList(tenants)
	switch {
	case r == authn.RoleTenantAdmin && len(list) == 0:
		errs = append(errs, errors.New("a tenant-admin key needs --tenants"))
	case (r == authn.RoleAdmin || r == authn.RoleTransmitter) && len(list) > 0:
		errs = append(errs, fmt.Errorf("--tenants applies to tenant-admin and pep keys only, not %s", r))
	}
	return authn.Entry{Name: name, Role: r, Tenants: list}, errors.Join(errs...)
}
