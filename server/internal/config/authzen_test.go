package config

import (
	"strings"
	"testing"
)

func TestAuthZENFlagsAreCheckedAtStart(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		tenant, url, problem string
	}{
		{"acme", "https://pdp.example.com/base/", ""},
		{"", "", ""},
		{"Acme", "", "--authzen-tenant"},
		{"-acme", "", "--authzen-tenant"},
		{"", "pdp.example.com", "--public-url"},
		{"", "https://pdp.example.com/?q=1", "--public-url"},
	} {
		c := Default()
		c.AuthZENTenant, c.PublicURL = tt.tenant, tt.url
		err := c.Validate()
		switch {
		case tt.problem == "" && err != nil && (strings.Contains(err.Error(), "--authzen-tenant") || strings.Contains(err.Error(), "--public-url")):
			t.Errorf("%q %q refused: %v", tt.tenant, tt.url, err)
		case tt.problem != "" && (err == nil || !strings.Contains(err.Error(), tt.problem)):
			t.Errorf("%q %q: error %v does not name %s", tt.tenant, tt.url, err, tt.problem)
		}
	}
}
