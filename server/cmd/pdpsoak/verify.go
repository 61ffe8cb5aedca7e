package main

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/store"
)

// verifyTries is how often a verification call is tried before its
// failure counts: the server may still be reconnecting to Redis.
const verifyTries = 10

// verify looks for every acknowledged write and returns how many are
// missing. Calls that fail even after retries are unexpected failures.
func (s *soak) verify(tmp string) (lost int64) {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	var logins, failures, rulesLive, rulesRemoved int
	miss := func(format string, args ...any) {
		lost++
		if lost <= 20 {
			fmt.Printf("lost: "+format+"\n", args...)
		}
	}

	for _, user := range sortedUsers(s.w.devices) {
		devices := s.w.devices[user]
		p, ok := s.profile(user)
		if !ok {
			continue
		}
		var missing int
		for _, d := range devices {
			if !slices.ContainsFunc(p.GetDevices(), func(k *pdpv1.KnownDevice) bool { return k.GetId() == d }) {
				missing++
			}
		}
		deficit := len(devices) - int(p.GetLoginCount())
		if n := max(missing, deficit); n > 0 {
			miss("%s: %d of %d acknowledged logins missing (login_count %d, %d devices absent)", user, n, len(devices), p.GetLoginCount(), missing)
			lost += int64(n) - 1
		}
		logins += len(devices)
	}

	cutoff := time.Now().Add(-store.DefaultFailureWindow + time.Minute) // older failures have left the window
	for _, user := range sortedUsers(s.w.failures) {
		var want int
		for _, at := range s.w.failures[user] {
			if at.After(cutoff) {
				want++
			}
		}
		if want == 0 {
			continue
		}
		p, ok := s.profile(user)
		if !ok {
			continue
		}
		if got := int(p.GetFailedLogins()); got < want {
			miss("%s: %d acknowledged failed logins in the window, the profile counts %d", user, want, got)
			lost += int64(want-got) - 1
		}
		failures += want
	}

	present := map[string]string{}
	var token string
	for {
		var resp *pdpv1.ListIPRulesResponse
		if !s.retry("verify.list_ip_rules", func(ctx context.Context) (err error) {
			resp, err = s.adm.ListIPRules(ctx, &pdpv1.ListIPRulesRequest{Tenant: "acme", List: pdpv1.IPList_IP_LIST_DENY, PageSize: 1000, PageToken: token})
			return err
		}) {
			break
		}
		for _, r := range resp.GetRules() {
			present[r.GetId()] = r.GetCidr()
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	for id, r := range s.w.rules {
		cidr, ok := present[id]
		switch {
		case r.removed && ok:
			miss("IP rule %s (%s) is back after its removal was acknowledged", id, r.cidr)
		case r.removed:
			rulesRemoved++
		case r.unknown:
		case !ok || cidr != r.cidr:
			miss("IP rule %s (%s) is missing (found %q)", id, r.cidr, cidr)
		default:
			rulesLive++
		}
	}

	if last := lastAcked(s.w.puts); last >= 0 {
		var policy *pdpv1.TenantPolicy
		if s.retry("verify.get_policy", func(ctx context.Context) error {
			resp, err := s.adm.GetTenantPolicy(ctx, &pdpv1.GetTenantPolicyRequest{Tenant: "initech"})
			policy = resp.GetPolicy()
			return err
		}) {
			actions := policy.GetEnvironments()["production"].GetRoles()["member"].GetActions()
			allowed := map[string]bool{}
			for _, p := range s.w.puts[last:] {
				allowed[p.marker] = true
			}
			if !slices.ContainsFunc(actions, func(a string) bool { return allowed[a] }) {
				miss("initech's policy %v is not the last acknowledged put (%s)", actions, s.w.puts[last].marker)
			}
		}
	}

	reasons := map[string]bool{}
	for _, tenant := range []string{"acme", "initech", "globex"} {
		token = ""
		for {
			var resp *pdpv1.ListAuditEventsResponse
			if !s.retry("verify.list_audit", func(ctx context.Context) (err error) {
				resp, err = s.adm.ListAuditEvents(ctx, &pdpv1.ListAuditEventsRequest{Tenant: tenant, PageSize: 1000, PageToken: token})
				return err
			}) {
				break
			}
			for _, e := range resp.GetEvents() {
				reasons[e.GetTenant()+"/"+e.GetReason()] = true
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
	}
	for reason, tenant := range s.w.reasons {
		if !reasons[tenant+"/"+reason] {
			miss("no audit record of the acknowledged admin write %q (tenant %s)", reason, tenant)
		}
	}

	out, err := exec.Command(s.pdpBin, "audit", "verify", "--store", s.redis.url()).CombinedOutput()
	if err != nil {
		s.led.unexpectedf("pdp audit verify: %v: %s", err, strings.TrimSpace(string(out)))
	}
	fmt.Printf("verified: %d logins of %d users, %d failed logins, %d IP rules kept and %d removed, %d policy puts, %d audited admin writes; %s\n",
		logins, len(s.w.devices), failures, rulesLive, rulesRemoved, len(s.w.puts), len(s.w.reasons), strings.TrimSpace(string(out)))
	return lost
}

// profile reads a user's profile, retrying.
func (s *soak) profile(user string) (*pdpv1.UserProfile, bool) {
	var p *pdpv1.UserProfile
	ok := s.retry("verify.get_profile", func(ctx context.Context) error {
		resp, err := s.adm.GetUserProfile(ctx, &pdpv1.GetUserProfileRequest{Tenant: "acme", UserId: user, Reason: "soak verification"})
		if status.Code(err) == codes.NotFound {
			return nil // no profile: every write to it is lost
		}
		p = resp.GetProfile()
		return err
	})
	return p, ok
}

// retry runs a verification call until it succeeds, verifyTries times at
// most; a call that never succeeds is an unexpected failure.
func (s *soak) retry(kind string, call func(ctx context.Context) error) bool {
	var err error
	for range verifyTries {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		err = call(ctx)
		cancel()
		if err == nil {
			return true
		}
		time.Sleep(time.Second)
	}
	s.led.unexpectedf("%s failed %d times: %v", kind, verifyTries, err)
	return false
}

// lastAcked is the index of the last acknowledged put, -1 for none.
func lastAcked(puts []policyPut) int {
	for i := len(puts) - 1; i >= 0; i-- {
		if puts[i].acked {
			return i
		}
	}
	return -1
}

func sortedUsers[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
