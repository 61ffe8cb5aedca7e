package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/benchkit"
)

// benchEpoch is the request time of the workload: a Wednesday at 11:00 in
// Berlin, inside acme's business hours, so the mix of outcomes does not
// depend on when the benchmark runs.
var benchEpoch = time.Date(2026, time.November, 25, 10, 0, 0, 0, time.UTC)

// workload is the rotating request set, encoded once for each client.
type workload struct {
	reqs   []*pdpv1.CheckRequest
	wire   [][]byte // protobuf encoding, for the gRPC servers
	bodies [][]byte // {"input": ...} for OPA's REST API
	kinds  []string // what each request was written to get
	users  []user   // the users the requests are of
}

// user is one member of a demo tenant with stable attributes, so the
// server's per-user signals (devices, countries, travel) stay consistent
// across requests.
type user struct {
	tenant, id, email, provider, country, device string
	roles                                        []string
	ip                                           netip.Addr
}

// tenantSpec is what a realistic request of a demo tenant looks like.
type tenantSpec struct {
	name, domain string
	roles        []string
	actions      map[string][]string // allowed actions per role
	denied       []string            // actions no role but the top one may do
	providers    []string
	nets         []netip.Prefix // where its users connect from
}

var demoTenants = []tenantSpec{
	{
		name: "acme", domain: "acme.com",
		roles: []string{"engineer", "analyst", "viewer", "admin"},
		actions: map[string][]string{
			"engineer": {"login", "api.read", "api.write", "cache.purge", "export.reports"},
			"analyst":  {"login", "api.read", "export.csv"},
			"viewer":   {"login", "api.read"},
			"admin":    {"login", "api.read", "api.write", "admin.users"},
		},
		denied:    []string{"db.direct_query", "billing.delete", "admin.users"},
		providers: []string{"microsoft", "google", "saml:okta"},
		nets: []netip.Prefix{
			netip.MustParsePrefix("203.0.113.0/24"),
			netip.MustParsePrefix("198.51.100.0/24"),
			netip.MustParsePrefix("2001:db8:ac3e::/48"),
		},
	},
	{
		name: "globex", domain: "globex.example",
		roles: []string{"member", "owner"},
		actions: map[string][]string{
			"member": {"login", "api.read", "api.write", "cache.read"},
			"owner":  {"login", "api.read", "admin.settings"},
		},
		denied:    []string{"admin.settings", "db.direct_query"},
		providers: []string{"google", "microsoft"},
		nets: []netip.Prefix{
			netip.MustParsePrefix("192.0.2.0/24"),
			netip.MustParsePrefix("2001:db8:6b0e::/48"),
		},
	},
	{
		name: "initech", domain: "initech.example",
		roles: []string{"member"},
		actions: map[string][]string{
			"member": {"login", "api.read"},
		},
		denied:    []string{"api.write", "export.csv"},
		providers: []string{"google"},
		nets: []netip.Prefix{
			netip.MustParsePrefix("198.18.0.0/15"),
			netip.MustParsePrefix("2001:db8:1e7c::/48"),
		},
	},
}

var (
	countries = []string{"DE", "US", "FR", "GB", "NL", "SE"}
	platforms = []string{"macos", "windows", "ios", "android", "linux"}
)

// randAddr returns an address inside p with a random host part.
func randAddr(r *rand.Rand, p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits() / 8; i < len(b); i++ {
		b[i] = byte(r.IntN(256))
	}
	if p.Bits()%8 != 0 {
		i := p.Bits() / 8
		keep := byte(0xff << (8 - p.Bits()%8))
		b[i] = p.Addr().AsSlice()[i]&keep | b[i]&^keep
	}
	a, _ := netip.AddrFromSlice(b)
	if a == p.Addr() || (a.Is4() && b[3] == 0) {
		return a.Next()
	}
	return a
}

// makeUsers returns perTenant users of each demo tenant, deterministically.
func makeUsers(r *rand.Rand, perTenant int) []user {
	var out []user
	for _, t := range demoTenants {
		for i := range perTenant {
			role := t.roles[r.IntN(len(t.roles))]
			if i%5 != 0 && role != t.roles[0] { // most users hold the common role
				role = t.roles[0]
			}
			out = append(out, user{
				tenant:   t.name,
				id:       fmt.Sprintf("%s-u%06d", t.name, i),
				email:    fmt.Sprintf("user%06d@%s", i, t.domain),
				provider: t.providers[r.IntN(len(t.providers))],
				country:  countries[r.IntN(len(countries))],
				device:   fmt.Sprintf("dev-%s-%06d", t.name, i),
				roles:    []string{role},
				ip:       randAddr(r, t.nets[r.IntN(len(t.nets))]),
			})
		}
	}
	return out
}

func specOf(tenant string) *tenantSpec {
	for i := range demoTenants {
		if demoTenants[i].name == tenant {
			return &demoTenants[i]
		}
	}
	panic("unknown tenant " + tenant)
}

// makeWorkload builds n distinct requests from a fixed seed: about 80% are
// written to be allowed; the rest need a step-up (stale MFA) or are denied
// (an action outside the role, a denied or unlisted address, a blocked
// country, a foreign e-mail domain). The outcome each server reaches is
// counted separately; kinds only records the intent.
func makeWorkload(n int, seed uint64) (*workload, error) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	users := makeUsers(r, 200)
	w := &workload{users: users}
	seen := map[string]bool{}
	for len(w.reqs) < n {
		u := users[r.IntN(len(users))]
		spec := specOf(u.tenant)
		at := benchEpoch.Add(time.Duration(r.IntN(4*3600)) * time.Second)
		allowed := spec.actions[u.roles[0]]
		action := allowed[r.IntN(len(allowed))]
		ip, country, email := u.ip, u.country, u.email
		mfaAge := time.Duration(5+r.IntN(300)) * time.Minute
		kind := "allow"
		switch p := r.IntN(100); {
		case p < 80:
		case p < 87:
			kind = "challenge"
			mfaAge = time.Duration(13+r.IntN(48)) * time.Hour
		case p < 91:
			kind = "deny:action"
			action = spec.denied[r.IntN(len(spec.denied))]
		case p < 94:
			kind = "deny:ip"
			if u.tenant == "acme" {
				ip = netip.MustParseAddr("203.0.113.66")
			} else {
				ip = randAddr(r, netip.MustParsePrefix("2001:db8:dead::/48"))
			}
		case p < 97:
			kind = "deny:country"
			country = []string{"KP", "IR"}[r.IntN(2)]
		default:
			kind = "deny:email"
			email = fmt.Sprintf("someone%d@mailbox.example", r.IntN(1000))
		}
		if u.tenant == "acme" && kind == "allow" && r.IntN(3) == 0 {
			// acme allowlists its office ranges; some users work from the
			// IPv6 one.
			ip = randAddr(r, spec.nets[2])
		}
		authAt := at.Add(-mfaAge - time.Duration(r.IntN(60))*time.Second)
		mfaAt := at.Add(-mfaAge)
		sessStart := at.Add(-time.Duration(10+r.IntN(120)) * time.Minute)
		req := &pdpv1.CheckRequest{
			Tenant:      u.tenant,
			Environment: "production",
			Subject: &pdpv1.Subject{
				Id: u.id, Email: email, Roles: u.roles,
				Groups:      []string{"staff", "team-" + string(rune('a'+r.IntN(6)))},
				MfaEnrolled: true,
				CreatedAt:   timestamppb.New(benchEpoch.AddDate(-1, 0, 0)),
			},
			Authentication: &pdpv1.Authentication{
				Provider:        u.provider,
				Methods:         []string{"pwd", "otp"},
				AuthenticatedAt: timestamppb.New(authAt),
				MfaVerifiedAt:   timestamppb.New(mfaAt),
				Acr:             "urn:mfa",
			},
			Network: &pdpv1.Network{Ip: ip.String(), Country: country, City: "Somewhere", Asn: uint32(64500 + r.IntN(20))},
			Device: &pdpv1.Device{
				Id: u.device, Platform: platforms[r.IntN(len(platforms))],
				Managed: true, Compliant: true,
			},
			Action: &pdpv1.Action{Name: action, Resource: fmt.Sprintf("/v1/projects/%d/items/%d", r.IntN(50), r.IntN(10000))},
			Session: &pdpv1.Session{
				Id:             fmt.Sprintf("s-%08x", r.Uint32()),
				StartedAt:      timestamppb.New(sessStart),
				LastActivityAt: timestamppb.New(at.Add(-time.Duration(r.IntN(600)) * time.Second)),
			},
			Time: timestamppb.New(at),
		}
		wire, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
		if err != nil {
			return nil, err
		}
		if seen[string(wire)] {
			continue
		}
		seen[string(wire)] = true
		body, err := opaBody(req)
		if err != nil {
			return nil, fmt.Errorf("request %d: %w", len(w.reqs), err)
		}
		w.reqs = append(w.reqs, req)
		w.wire = append(w.wire, wire)
		w.bodies = append(w.bodies, body)
		w.kinds = append(w.kinds, kind)
	}
	return w, nil
}

// opaBody is the POST body for OPA's data API: the input document pdp's
// engine evaluates for req (benchkit.InputJSON). The profile signals pdp
// computes from its store are filled in as a warmed-up pdp would for a
// known user on a known device. The IP signals are left out: without
// them the library matches the client address against the tenant's
// allow and deny lists in Rego (net.cidr_contains), which is how OPA on
// its own has to do it.
func opaBody(req *pdpv1.CheckRequest) ([]byte, error) {
	in, err := benchkit.InputJSON(req, benchEpoch)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"input": in})
}
