package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/benchkit"
)

// scalingStep is one pdp configuration of the scaling runs.
type scalingStep struct {
	name     string
	cidrs    int  // global deny-list entries stored before start
	profiles int  // user profiles reported after start
	reuse    bool // start from the previous step's store instead of a new one
}

// scale measures pdp, each time in a fresh process and store, at a fixed
// rate of half the maximum pdp reached in the side-by-side runs, with
// growing deny lists and user profile counts, and finally with the largest
// of both at once (the memory target).
func (b *bench) scale() error {
	pdp := b.find("pdp")
	rate := max(int(pdp.max.rps()/2), 1)
	steps := []scalingStep{
		{name: "cidr 1k", cidrs: 1000},
		{name: "cidr 100k", cidrs: 100_000},
		{name: fmt.Sprintf("cidr %s", count(b.c.maxCIDRs)), cidrs: b.c.maxCIDRs},
		{name: "profiles 1k", profiles: 1000},
		{name: fmt.Sprintf("profiles %s", count(b.c.maxProfiles)), profiles: b.c.maxProfiles},
		// The previous step's store already holds the profiles.
		{name: fmt.Sprintf("cidr %s + profiles %s", count(b.c.maxCIDRs), count(b.c.maxProfiles)), cidrs: b.c.maxCIDRs, reuse: true},
	}
	fmt.Printf("scaling runs at %d req/s (50%% of pdp's max)\n", rate)
	dir := ""
	for i, st := range steps {
		if !st.reuse {
			dir = filepath.Join(b.tmp, fmt.Sprintf("scale-%d", i))
		}
		r, err := b.scaleStep(st, dir, rate)
		if err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
		b.scaling = append(b.scaling, r)
	}
	return nil
}

// count writes 1000 as 1k and 1000000 as 1M.
func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// scaleStep stores st's deny list in dir's bolt file, starts pdp on it,
// reports st's profiles and measures a fixed-rate run.
func (b *bench) scaleStep(st scalingStep, dir string, rate int) (*result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var notes []string
	if st.cidrs > 0 {
		t0 := time.Now()
		if err := seedDenyList(filepath.Join(dir, "pdp.db"), st.cidrs); err != nil {
			return nil, fmt.Errorf("seed deny list: %w", err)
		}
		notes = append(notes, fmt.Sprintf("stored %d deny CIDRs in %s", st.cidrs, time.Since(t0).Round(time.Millisecond)))
	}
	t0 := time.Now()
	srv, err := b.startSystem("pdp", dir, filepath.Join(b.c.root, "server/demo/tenants"))
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	notes = append(notes, fmt.Sprintf("ready in %s", time.Since(t0).Round(time.Millisecond)))
	if st.profiles > 0 {
		t0 := time.Now()
		if err := b.seedProfiles(st.profiles); err != nil {
			return nil, fmt.Errorf("seed profiles: %w", err)
		}
		notes = append(notes, fmt.Sprintf("reported %d users in %s", st.profiles, time.Since(t0).Round(time.Millisecond)))
	}
	fmt.Printf("  %s: %s\n", st.name, strings.Join(notes, ", "))
	// A short unreported warm-up, then the measured run.
	if _, err := b.load("pdp", srv, "warm-up", loadSpec{rate: rate, duration: time.Second, conc: b.c.conc}); err != nil {
		return nil, err
	}
	r, err := b.load("pdp", srv, st.name, loadSpec{rate: rate, duration: b.c.scaleDur, conc: b.c.conc})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// seedDenyList stores n distinct global deny rules in a bolt file, as
// an imported feed: the same records ImportIPList writes, loaded by pdp
// at start (benchkit.SeedDenyList: none covers the workload's addresses).
// (A tenant policy file is capped at 1 MiB, too small for the larger
// lists.)
func seedDenyList(path string, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return benchkit.SeedDenyList(ctx, path, n)
}

// seedProfiles reports a successful login for n distinct users, spread
// over the demo tenants; the first ones are the workload's own users.
func (b *bench) seedProfiles(n int) error {
	return b.report(n, func(i int) *pdpv1.ReportRequest { return reportFor(b.w.users, i) })
}

// warmHistory is how many earlier logins warmProfiles gives each user of
// the workload.
const warmHistory = 5

// warmProfiles gives every user of the workload a history: a successful
// login on each of the warmHistory days before the requests, from the
// user's device, address and country, at an hour the requests fall in,
// and the day before the requests, the actions the user's role is allowed.
func (b *bench) warmProfiles() error {
	users := b.w.users
	type activity struct {
		u      int
		action string
	}
	var acts []activity
	for i, u := range users {
		for _, a := range specOf(u.tenant).actions[u.roles[0]] {
			acts = append(acts, activity{i, a})
		}
	}
	logins := len(users) * warmHistory
	return b.report(logins+len(acts), func(i int) *pdpv1.ReportRequest {
		if i >= logins {
			a := acts[i-logins]
			r := reportFor(users, a.u)
			at := benchEpoch.Add(-24 * time.Hour).Add(time.Duration(i%(4*3600)) * time.Second)
			r.Event = pdpv1.Event_EVENT_ACTIVITY
			r.Action = &pdpv1.Action{Name: a.action}
			r.Time = timestamppb.New(at)
			return r
		}
		day := i / len(users)
		r := reportFor(users, i%len(users))
		hour := time.Duration((day+i)%4) * time.Hour // 10:00 to 13:59, like the requests
		at := benchEpoch.Add(-time.Duration(warmHistory-day)*24*time.Hour + hour).
			Add(time.Duration(i%3600) * time.Second)
		r.Time = timestamppb.New(at)
		r.Authentication.AuthenticatedAt = timestamppb.New(at)
		r.Authentication.MfaVerifiedAt = timestamppb.New(at)
		return r
	})
}

// report sends the n reports made by req, 32 at a time on one connection,
// and returns the first error.
func (b *bench) report(n int, req func(i int) *pdpv1.ReportRequest) error {
	cc, err := grpc.NewClient(b.c.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer cc.Close()
	cl := pdpv1.NewDecisionServiceClient(cc)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := cl.Report(ctx, req(i))
				cancel()
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("report %d: %w", i, err)
					}
					mu.Unlock()
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

// reportFor is the i-th seeding event: one of the workload's users while
// they last, then synthetic users of the same tenants.
func reportFor(users []user, i int) *pdpv1.ReportRequest {
	var u user
	if i < len(users) {
		u = users[i]
	} else {
		t := demoTenants[i%len(demoTenants)]
		k := i / len(demoTenants)
		u = user{
			tenant: t.name, id: fmt.Sprintf("%s-s%07d", t.name, k),
			email: fmt.Sprintf("seed%07d@%s", k, t.domain), provider: t.providers[0],
			country: countries[k%len(countries)], device: fmt.Sprintf("dev-%s-s%07d", t.name, k),
			roles: []string{t.roles[0]},
			ip:    netip.AddrFrom4([4]byte{198, 18, byte(k >> 8), byte(k)}),
		}
	}
	at := benchEpoch.Add(-24 * time.Hour).Add(time.Duration(i%3600) * time.Second)
	return &pdpv1.ReportRequest{
		Tenant:         u.tenant,
		Environment:    "production",
		Event:          pdpv1.Event_EVENT_LOGIN_SUCCEEDED,
		Subject:        &pdpv1.Subject{Id: u.id, Email: u.email, Roles: u.roles, MfaEnrolled: true},
		Authentication: &pdpv1.Authentication{Provider: u.provider, Methods: []string{"pwd", "otp"}, AuthenticatedAt: timestamppb.New(at), MfaVerifiedAt: timestamppb.New(at)},
		Network:        &pdpv1.Network{Ip: u.ip.String(), Country: u.country},
		Device:         &pdpv1.Device{Id: u.device, Platform: "macos", Managed: true, Compliant: true},
		Time:           timestamppb.New(at),
	}
}

// scalingTargets adds the list and memory targets to the targets table.
func (b *bench) scalingTargets(w io.Writer) {
	byName := map[string]*result{}
	for _, r := range b.scaling {
		byName[r.run] = r
	}
	small, big := byName["cidr 1k"], byName["cidr "+count(b.c.maxCIDRs)]
	if small != nil && big != nil && small.pct(0.5) > 0 && small.pct(0.99) > 0 && small.cpuPerDecision() > 0 {
		grow := func(a, b time.Duration) float64 { return float64(b)/float64(a) - 1 }
		g50, g99 := grow(small.pct(0.5), big.pct(0.5)), grow(small.pct(0.99), big.pct(0.99))
		gcpu := grow(small.cpuPerDecision(), big.cpuPerDecision())
		fmt.Fprintf(w, "| %s deny list ≤ 10%% more latency than 1k | p50 %+.0f%%, p99 %+.0f%% (server CPU per decision %+.0f%%) | %s |\n",
			count(b.c.maxCIDRs), 100*g50, 100*g99, 100*gcpu, yes(g50 <= 0.10 && g99 <= 0.10))
	}
	both := byName[fmt.Sprintf("cidr %s + profiles %s", count(b.c.maxCIDRs), count(b.c.maxProfiles))]
	if both != nil {
		fmt.Fprintf(w, "| RSS ≤ 300 MB with %s CIDRs + %s profiles | %s MB | %s |\n",
			count(b.c.maxCIDRs), count(b.c.maxProfiles), mb(both.rss), yes(both.rss <= 300<<20))
	}
}

// scalingNote says how the scaling runs were taken.
func (b *bench) scalingNote() string {
	return "Each row is a fresh pdp process (the last one reuses the store of the one before, adding the deny list) at a fixed rate of half pdp's maximum above, for " +
		b.c.scaleDur.String() + ". Deny lists are global imported feeds (IPv4 /32 and /24, IPv6 /64) " +
		"stored in the bolt file before start, as ImportIPList stores them; profiles are seeded with " +
		"Report calls (a successful login per user, 32 concurrent) after start. Peak RSS includes loading."
}
