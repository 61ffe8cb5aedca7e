package ipset

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

// Sources the server itself writes.
const (
	// SourceTenantPolicy lists the CIDRs of a tenant policy environment.
	SourceTenantPolicy = "tenant policy"
	// SourceAutoBlock lists addresses blocked by incident response.
	SourceAutoBlock = "auto-block"
)

// AdminRuleSource names the source of the admin rule with id.
func AdminRuleSource(id string) string { return "admin rule " + id }

// ImportSource names the source of an imported list.
func ImportSource(name string) string { return "import:" + name }

// policyLists maps the effective policy's keys to lists.
var policyLists = []struct {
	key  string
	list List
}{
	{"ip_allowlist", Allow},
	{"ip_denylist", Deny},
}

// TenantPolicyEntries reads the data.tenants document (tenant →
// {"environments": {env: effective policy}}) and returns one entry per CIDR
// of each environment's "ip_allowlist" and "ip_denylist", scoped to that
// tenant and environment, with source SourceTenantPolicy. A single address
// counts as its /32 or /128. Lists may be []any or []string. It returns the
// entries of every valid CIDR and an InvalidArgument fault naming each
// invalid one (field "tenants.<t>.environments.<e>.ip_allowlist[<i>]").
func TenantPolicyEntries(tenants map[string]any) ([]Entry, error) {
	var entries []Entry
	var v fault.Violations
	tenantdata.Environments(tenants, func(tenant, env string, policy map[string]any) {
		for _, pl := range policyLists {
			field := fmt.Sprintf("tenants.%s.environments.%s.%s", tenant, env, pl.key)
			for i, s := range stringsOf(policy[pl.key]) {
				pfx, err := ParsePrefix(s)
				if err != nil {
					v.Add(fmt.Sprintf("%s[%d]", field, i), "%v", err)
					continue
				}
				entries = append(entries, Entry{
					Scope:  Scope{Tenant: tenant, Environment: env},
					List:   pl.list,
					Prefix: pfx,
					Source: SourceTenantPolicy,
				})
			}
		}
	})
	return entries, v.Err()
}

// FromTenantPolicies builds a snapshot holding the tenant policies' lists.
func FromTenantPolicies(tenants map[string]any) (*Snapshot, error) {
	entries, err := TenantPolicyEntries(tenants)
	if err != nil {
		return nil, err
	}
	b := NewBuilder()
	for _, e := range entries {
		_ = b.Add(e)
	}
	return b.Snapshot(), nil
}

// ParsePrefix parses a CIDR or a single address (as /32 or /128), unmaps
// IPv4-mapped IPv6 and masks the host bits.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is neither a CIDR nor an IP address", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR", s)
	}
	if a := p.Addr(); a.Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			return netip.Prefix{}, fmt.Errorf("%q is an IPv4-mapped prefix shorter than /96", s)
		}
		p = netip.PrefixFrom(a.Unmap(), bits)
	}
	return p.Masked(), nil
}

func stringsOf(v any) []string {
	switch l := v.(type) {
	case []string:
		return l
	case []any:
		out := make([]string, 0, len(l))
		for _, x := range l {
			s, ok := x.(string)
			if !ok {
				s = fmt.Sprint(x)
			}
			out = append(out, s)
		}
		return out
	}
	return nil
}
