package config

import (
	"flag"
	"net/url"
)

// AuthZEN configures the AuthZEN Authorization API of the HTTP port
// (docs/authzen.md).
type AuthZEN struct {
	// AuthZENTenant is the tenant the API's default paths
	// (/access/v1/...) and /.well-known/authzen-configuration serve; empty
	// answers them 404, leaving /tenants/{tenant}/access/v1/...
	// (--authzen-tenant, PDP_AUTHZEN_TENANT).
	AuthZENTenant string
	// PublicURL is the base URL clients reach the HTTP port at, for a
	// server behind a proxy: the PDP identifier and endpoints of the
	// AuthZEN metadata start with it. Empty takes the scheme and Host of
	// each request (--public-url, PDP_PUBLIC_URL).
	PublicURL string
}

func (c *Config) registerAuthZEN(fs *flag.FlagSet) {
	fs.StringVar(&c.AuthZENTenant, "authzen-tenant", c.AuthZENTenant, "tenant served by the AuthZEN paths without /tenants/{tenant} (/access/v1/..., /.well-known/authzen-configuration); empty answers them 404")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "base URL clients reach the HTTP port at, behind a proxy (https://pdp.example.com); the AuthZEN metadata's URLs start with it; empty takes each request's scheme and Host")
}

func (c Config) checkAuthZEN(bad func(string, ...any)) {
	if t := c.AuthZENTenant; t != "" && !validTenantName(t) {
		bad("--authzen-tenant %q: must be a tenant name: 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit", t)
	}
	if s := c.PublicURL; s != "" {
		u, err := url.Parse(s)
		switch {
		case err != nil:
			bad("--public-url %q: %v", s, err)
		case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
			bad("--public-url %q: must be an absolute http or https URL", s)
		case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			bad("--public-url %q: must have no query, fragment or user", s)
		}
	}
}

// validTenantName is the tenant name syntax (config is a leaf, so it
// cannot ask the tenant data package; the AuthZEN handler checks the same
// name again when the server starts).
func validTenantName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '-' && c != '_') {
			return false
		}
	}
	return true
}
