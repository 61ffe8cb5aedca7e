// Package replay decides recorded decisions again with a candidate policy
// set, and says what would change: pdp replay reads the decision log
// (lines written with --decision-log-inputs), shadow evaluation hands it
// live requests. Both go through Candidate.Decide, so a shadow count and a
// replay of the same traffic agree.
//
// A candidate is built from policy directories and tenant files as the
// server builds its set (package reload) into an engine of its own; no
// store is read or written. What the server computed from its state before
// evaluating (profile signals, IP list verdicts, GeoIP) is taken as
// recorded, but for the verdicts of the tenant files' own IP lists, which
// the candidate may change: they are looked up again in the candidate's
// lists (see Candidate.Decide).
package replay

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/ipset"
	"github.com/pdp-dev/pdp/server/internal/reload"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

// Candidate is a policy set that decides recorded inputs. It is safe for
// concurrent use.
type Candidate struct {
	engine   *engine.Engine
	revision string
	// lists are the IP allow and deny lists of the candidate's tenant
	// policies.
	lists *ipset.Snapshot
}

// Load builds the candidate of policy directories (the authors' modules;
// the built-in library is always there) and a directory of tenant files,
// checked as pdp serve checks them.
func Load(ctx context.Context, policyDirs []string, tenantsDir string) (*Candidate, error) {
	e := engine.New(engine.Options{})
	var set reload.Set
	l := reload.New(e, reload.Options{PolicyDirs: policyDirs, TenantsDir: tenantsDir, OnLoad: func(s reload.Set) { set = s }})
	if _, err := l.Load(ctx); err != nil {
		return nil, err
	}
	return newCandidate(e, set.Revision, set.Tenants)
}

// FromBundle builds the candidate of a bundle: the authors' modules and
// the data.tenants document (tenantdata.Data).
func FromBundle(ctx context.Context, b engine.Bundle) (*Candidate, error) {
	e := engine.New(engine.Options{})
	rev, err := e.Load(ctx, b)
	if err != nil {
		return nil, err
	}
	return newCandidate(e, rev, b.Tenants)
}

func newCandidate(e *engine.Engine, revision string, tenants map[string]any) (*Candidate, error) {
	lists, err := ipset.FromTenantPolicies(tenants)
	if err != nil {
		return nil, fmt.Errorf("the IP lists of the tenant policies: %w", err)
	}
	return &Candidate{engine: e, revision: revision, lists: lists}, nil
}

// Revision identifies the candidate set.
func (c *Candidate) Revision() string { return c.revision }

// Approximate fields a replay names besides the masked ones.
const (
	// ApproxIPLists: the request's IP is masked, so the candidate's IP
	// lists could not be looked up.
	ApproxIPLists = "signals.ip"
)

// Decide decides a recorded input document again. masked are the paths
// the log masked; the decision is approximate in each, and in the
// returned approximate paths (masked first, sorted). The input is not
// modified.
//
// A masked network.ip that is no longer an address or a network (hashed,
// redacted) is left out, as if the request had none; a truncated one is
// matched as its network. When the input holds IP list verdicts
// (signals.ip), those that came from the tenant policy's own lists are
// replaced by the candidate's: a deny of the candidate's ip_denylist is
// added, a recorded deny of source "tenant policy" that the candidate no
// longer lists is dropped, and an address on the candidate's
// ip_allowlist is allowed (a recorded allow stays, its source not being
// recorded).
func (c *Candidate) Decide(ctx context.Context, input map[string]any, masked []string) (*decision.Decision, []string, error) {
	in := maps.Clone(input)
	approx := slices.Clone(masked)
	network, _ := in["network"].(map[string]any)
	ipText, _ := network["ip"].(string)
	if slices.Contains(masked, "network.ip") && !usableIP(ipText) {
		network = maps.Clone(network)
		delete(network, "ip")
		in["network"] = network
		ipText = ""
	}
	if sig, ok := in["signals"].(map[string]any); ok {
		if ip, ok := sig["ip"].(map[string]any); ok {
			tenant, _ := in["tenant"].(string)
			env, _ := in["environment"].(string)
			addr, known := parseIP(ipText)
			if !known {
				approx = append(approx, ApproxIPLists)
			} else {
				sig = maps.Clone(sig)
				sig["ip"] = c.ipVerdicts(ip, tenant, env, addr, inputTime(in))
				in["signals"] = sig
			}
		}
	}
	slices.Sort(approx)
	approx = slices.Compact(approx)
	d, err := c.engine.Evaluate(ctx, in, c.revision)
	if err != nil {
		return nil, approx, err
	}
	return d, approx, nil
}

// ipVerdicts are the recorded IP list verdicts with the tenant policy's
// replaced by the candidate's.
func (c *Candidate) ipVerdicts(recorded map[string]any, tenant, env string, addr netip.Addr, at time.Time) map[string]any {
	out := maps.Clone(recorded)
	r := c.lists.Lookup(tenant, env, addr, at)
	denied, _ := recorded["denied"].(bool)
	deniedBy, _ := recorded["denied_by"].(string)
	if denied && strings.HasSuffix(deniedBy, "("+ipset.SourceTenantPolicy+")") {
		denied, deniedBy = false, ""
	}
	if !denied && r.Deny.Found() {
		denied, deniedBy = true, r.Deny.Description()
	}
	out["denied"], out["denied_by"] = denied, deniedBy
	if r.Allow.Found() {
		out["allowed"] = true
	}
	return out
}

// usableIP reports whether a masked network.ip is still an address or a
// network (truncated).
func usableIP(s string) bool {
	_, ok := parseIP(s)
	return ok
}

// parseIP reads an address, or a truncated one as its network's first
// address.
func parseIP(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a, true
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Addr(), true
	}
	return netip.Addr{}, false
}

// inputTime is the input's time_ns.
func inputTime(in map[string]any) time.Time {
	if ns, ok := tenantdata.Int(in, "time_ns"); ok {
		return time.Unix(0, ns).UTC()
	}
	return time.Time{}
}
