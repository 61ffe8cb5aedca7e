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
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/ipset"
	"github.com/pdp-dev/pdp/server/internal/reload"
	"github.com/pdp-dev/pdp/server/internal/signals"
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
	// settings are the signal settings of the candidate's tenant
	// policies (failed-login window, device compliance).
	settings *signals.PolicyIndex
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
	return &Candidate{engine: e, revision: revision, lists: lists, settings: signals.NewPolicyIndex(tenants)}, nil
}

// Settings are the signal settings of a tenant environment in the
// candidate set.
func (c *Candidate) Settings(tenant, env string) signals.Settings {
	return c.settings.Settings(tenant, env)
}

// Revision identifies the candidate set.
func (c *Candidate) Revision() string { return c.revision }

// Approximate fields a replay names besides the masked ones.
const (
	// ApproxIPLists: the request's IP is masked, so the candidate's IP
	// lists could not be looked up.
	ApproxIPLists = "signals.ip"
	// ApproxDeviceCompliant: the candidate keeps the compliance of a
	// device a Shared Signals event reported not compliant, and the input
	// says it is not compliant, which the server may have set.
	ApproxDeviceCompliant = "device.compliant"
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
	in, approx := prepare(input, masked, c.lists)
	in, approx = c.deviceCompliance(in, approx)
	d, err := c.engine.Evaluate(ctx, in, c.revision)
	if err != nil {
		return nil, approx, err
	}
	return d, approx, nil
}

// deviceCompliance applies the candidate's shared_signals.device_compliance
// to an input whose signals.ssf holds a device reported not compliant: a
// candidate that enforces it marks the device non-compliant, as the server
// would have; one that keeps it cannot know what the enforcement point
// reported when the input says non-compliant, so the decision is
// approximate in device.compliant.
func (c *Candidate) deviceCompliance(in map[string]any, approx []string) (map[string]any, []string) {
	if !inputDeviceReportedNotCompliant(in) {
		return in, approx
	}
	tenant, _ := in["tenant"].(string)
	env, _ := in["environment"].(string)
	device, _ := in["device"].(map[string]any)
	compliant, _ := device["compliant"].(bool)
	switch {
	case !c.Settings(tenant, env).DeviceComplianceKept && compliant:
		device = maps.Clone(device)
		device["compliant"] = false
		in["device"] = device
	case c.Settings(tenant, env).DeviceComplianceKept && !compliant:
		approx = append(approx, ApproxDeviceCompliant)
		slices.Sort(approx)
		approx = slices.Compact(approx)
	}
	return in, approx
}

// inputDeviceReportedNotCompliant reports whether an input's signals.ssf
// holds a device compliance change to not-compliant (the reader keeps the
// newest compliance state only, and only while it is not-compliant).
func inputDeviceReportedNotCompliant(in map[string]any) bool {
	sig, _ := in["signals"].(map[string]any)
	ssf, _ := sig["ssf"].(map[string]any)
	events, _ := ssf["events"].([]any)
	for _, e := range events {
		if m, ok := e.(map[string]any); ok && m["event"] == "device-compliance-change" && m["status"] == "not-compliant" {
			return true
		}
	}
	return false
}

// prepare is the input to decide a recorded one again with (see
// Candidate.Decide), and the fields it is approximate in; lists nil takes
// the IP list verdicts as recorded.
func prepare(input map[string]any, masked []string, lists *ipset.Snapshot) (map[string]any, []string) {
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
	if sig, ok := in["signals"].(map[string]any); ok && lists != nil {
		if ip, ok := sig["ip"].(map[string]any); ok {
			tenant, _ := in["tenant"].(string)
			env, _ := in["environment"].(string)
			addr, known := parseIP(ipText)
			if !known {
				approx = append(approx, ApproxIPLists)
			} else {
				sig = maps.Clone(sig)
				sig["ip"] = ipVerdicts(lists, ip, tenant, env, addr, inputTime(in))
				in["signals"] = sig
			}
		}
	}
	slices.Sort(approx)
	return in, slices.Compact(approx)
}

// ipVerdicts are the recorded IP list verdicts with the tenant policy's
// replaced by the candidate's.
func ipVerdicts(lists *ipset.Snapshot, recorded map[string]any, tenant, env string, addr netip.Addr, at time.Time) map[string]any {
	out := maps.Clone(recorded)
	r := lists.Lookup(tenant, env, addr, at)
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

// Explained is a recorded decision evaluated again with its explanation.
type Explained struct {
	// Decision is the decision evaluated again, with Explanation; its
	// PolicyRevision is the revision that evaluated it.
	Decision *decision.Decision
	// RecordedRevision is true when that is the recorded revision, false
	// when the engine no longer held it and its current set evaluated.
	RecordedRevision bool
	// Approximate are the fields of the input it is approximate in.
	Approximate []string
}

// Explain evaluates a recorded decision again from its input, asking for
// the explanation, with the revision that decided it when e still holds
// it, the IP list verdicts as recorded. Else e's current set evaluates
// it, whose data.tenants document current returns: the verdicts of the
// tenant policies' own IP lists are then looked up in its lists, as
// Candidate.Decide does.
func Explain(ctx context.Context, e *engine.Engine, r *Record, current func() map[string]any) (*Explained, error) {
	if r.Input == nil {
		return nil, errNoInput
	}
	var lists *ipset.Snapshot
	if !e.Knows(r.PolicyRevision) && current != nil {
		var err error
		if lists, err = ipset.FromTenantPolicies(current()); err != nil {
			return nil, fault.Wrap(err, fault.Internal, "the IP lists of the tenant policies")
		}
	}
	in, approx := prepare(r.Input, r.Masked, lists)
	in["explain"] = true
	d, err := e.Evaluate(ctx, in, r.PolicyRevision)
	if err != nil {
		return nil, err
	}
	return &Explained{Decision: d, RecordedRevision: d.PolicyRevision == r.PolicyRevision, Approximate: approx}, nil
}

// errNoInput is Explain's error for a line without an input.
var errNoInput = fault.New(fault.FailedPrecondition,
	"the decision was logged without its input (start pdp serve with --decision-log-inputs), so it cannot be evaluated again")
