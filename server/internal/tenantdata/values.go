package tenantdata

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func isAlnum(c byte) bool { return isLowerAlnum(c) || c >= 'A' && c <= 'Z' }

// nameRule describes tenant and environment names in error messages.
const nameRule = "must be 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit"

// validRole reports whether s is a role name: 1 to 128 letters, digits,
// '.', '_', '-', ':' or '/', starting with a letter or digit. Roles come from
// identity providers, so case is kept and compared exactly.
func validRole(s string) bool {
	if len(s) == 0 || len(s) > 128 || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && !strings.ContainsRune("._-:/", rune(c)) {
			return false
		}
	}
	return true
}

// roleRule describes role names in error messages.
const roleRule = "must be 1 to 128 letters, digits, '.', '_', '-', ':' or '/', starting with a letter or digit"

// globProblem explains why s is not an action glob, or returns "". A glob is
// 1 to 256 letters, digits, '.', '_', '-', ':', '/' and '*' ("api.*",
// "*.delete", "admin.users.read").
func globProblem(s string) string {
	if s == "" {
		return "must not be empty"
	}
	if len(s) > 256 {
		return "must be at most 256 characters"
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && !strings.ContainsRune("._-:/*", rune(c)) {
			return fmt.Sprintf("%q may only hold letters, digits, '.', '_', '-', ':', '/' and '*'", s)
		}
	}
	return ""
}

// providerProblem explains why s is not an authentication provider, or
// returns "".
func providerProblem(s string) string {
	if slices.Contains(fixedProviders, s) {
		return ""
	}
	if kind, name, ok := strings.Cut(s, ":"); ok && (kind == "saml" || kind == "oidc") {
		if validProviderName(name) {
			return ""
		}
		return fmt.Sprintf("%q: the name after %q must be 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit", s, kind+":")
	}
	return fmt.Sprintf("must be password, google, github, microsoft, saml:<name> or oidc:<name>, not %q", s)
}

func validProviderName(s string) bool {
	if len(s) == 0 || len(s) > 63 || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// canonicalDomain lowercases a domain and strips one trailing dot.
func canonicalDomain(s string) string {
	return strings.ToLower(strings.TrimSuffix(s, "."))
}

// domainProblem explains why s is not an email domain, or returns "". A
// domain is a hostname of at least two labels, each 1 to 63 letters, digits
// and inner hyphens, at most 253 characters, whose last label is not
// numeric; case does not matter and one trailing dot is tolerated.
func domainProblem(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case strings.HasPrefix(s, "@"):
		return fmt.Sprintf("must not start with '@': write %q", strings.TrimPrefix(s, "@"))
	case strings.HasPrefix(s, "*."):
		return fmt.Sprintf("wildcards are not allowed: write %q and set include_subdomains", strings.TrimPrefix(s, "*."))
	case strings.Contains(s, "@"):
		return fmt.Sprintf("%q is an email address, not a domain", s)
	}
	for _, r := range s {
		if r >= utf8.RuneSelf {
			return fmt.Sprintf("%q is not ASCII: write an internationalised domain in its xn-- form", s)
		}
	}
	d := canonicalDomain(s)
	if len(d) > 253 {
		return "must be at most 253 characters"
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return fmt.Sprintf("%q must have at least two labels, such as acme.com", s)
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 {
			return fmt.Sprintf("%q has a label that is empty or longer than 63 characters", s)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Sprintf("%q has a label that starts or ends with '-'", s)
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !isLowerAlnum(c) && c != '-' {
				return fmt.Sprintf("%q may only hold letters, digits, '-' and '.'", s)
			}
		}
	}
	if _, err := strconv.Atoi(labels[len(labels)-1]); err == nil {
		return fmt.Sprintf("%q ends in a number: an IP address is not a domain", s)
	}
	return ""
}

// parseCIDR reads a CIDR or a bare address (a /32 or /128) in canonical
// form. IPv4-mapped IPv6 prefixes become IPv4 prefixes; a prefix with host
// bits set is refused.
func parseCIDR(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, fmt.Errorf("%q is not a CIDR such as 203.0.113.0/24 or 2001:db8::/32", s)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return p, fmt.Errorf("%q is not an IP address or a CIDR such as 203.0.113.0/24 or 2001:db8::/32", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return p, fmt.Errorf("%q is an IPv4-mapped prefix shorter than /96", s)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if m := p.Masked(); m != p {
		return p, fmt.Errorf("%q has host bits set: write %s for the network or %s for the one address",
			s, m, netip.PrefixFrom(p.Addr(), p.Addr().BitLen()))
	}
	return p, nil
}

// canonicalCIDRText is the canonical text of a CIDR, or s when it does not
// parse.
func canonicalCIDRText(s string) string {
	p, err := parseCIDR(s)
	if err != nil {
		return s
	}
	return p.String()
}

// parseClock reads "HH:MM" (or "H:MM") as minutes after midnight. "24:00"
// is accepted only when end is true.
func parseClock(s string, end bool) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 {
		return 0, fmt.Errorf("%q is not a time of day such as \"09:00\"", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || h[0] == '+' || h[0] == '-' || m[0] == '+' || m[0] == '-' {
		return 0, fmt.Errorf("%q is not a time of day such as \"09:00\"", s)
	}
	if end && hh == 24 && mm == 0 {
		return 24 * 60, nil
	}
	if hh > 23 || mm > 59 {
		return 0, fmt.Errorf("%q is not a time of day between 00:00 and 23:59", s)
	}
	return hh*60 + mm, nil
}
