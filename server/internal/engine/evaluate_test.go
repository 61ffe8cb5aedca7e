package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

// recorded is the input of req as the decision log writes and reads it:
// JSON, numbers kept exact.
func recorded(t *testing.T, req *decision.Request, at time.Time) map[string]any {
	t.Helper()
	in, err := InputJSON(req, func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEvaluateOfARecordedInputDecidesAsDecideDid(t *testing.T) {
	t.Parallel()
	clock := time.Date(2026, 3, 3, 10, 15, 0, 0, time.UTC)
	e := loaded(t, Options{Now: func() time.Time { return clock }}, Bundle{Tenants: demoTenants(t)})
	for _, timed := range []bool{true, false} {
		req := demoRequest()
		if !timed {
			req.Time = time.Time{}
		}
		d, err := e.Decide(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if !req.Time.Equal(clock) {
			t.Errorf("req.Time = %v after Decide, want the time it was decided at, %v", req.Time, clock)
		}
		again, err := e.Evaluate(context.Background(), recorded(t, req, time.Time{}), d.PolicyRevision)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(d, again, cmpopts.IgnoreFields(decision.Decision{}, "ID")); diff != "" {
			t.Errorf("request time given %v: (-decided +evaluated again):\n%s", timed, diff)
		}
	}
}

// tenantsWithTimeout is the demo tenants with acme's production
// inactivity timeout set to d.
func tenantsWithTimeout(t *testing.T, d time.Duration) map[string]any {
	t.Helper()
	tenants := demoTenants(t)
	prod := tenants["acme"].(map[string]any)["environments"].(map[string]any)["production"].(map[string]any)
	prod["inactivity_timeout_ns"] = json.Number(fmt.Sprint(d.Nanoseconds()))
	return tenants
}

func TestEvaluateUsesTheRecordedRevisionWhileItIsHeld(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	ctx := context.Background()
	req := demoRequest()
	req.Session.LastActivityAt = req.Time.Add(-2 * time.Hour)
	short, err := e.Load(ctx, Bundle{Tenants: tenantsWithTimeout(t, time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Decide(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != decision.KindChallenge {
		t.Fatalf("idle 2h with a 1h timeout: %v, want challenge", d.Kind)
	}
	input := recorded(t, req, time.Time{})

	long, err := e.Load(ctx, Bundle{Tenants: tenantsWithTimeout(t, 4*time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !e.Knows(short) {
		t.Fatal("the previous revision is forgotten after one load")
	}
	then, err := e.Evaluate(ctx, input, short)
	if err != nil {
		t.Fatal(err)
	}
	if then.PolicyRevision != short || then.Kind != decision.KindChallenge {
		t.Errorf("with the recorded revision: %s %v, want %s challenge", then.PolicyRevision, then.Kind, short)
	}
	now, err := e.Evaluate(ctx, input, "forgotten")
	if err != nil {
		t.Fatal(err)
	}
	if now.PolicyRevision != long || now.Kind == decision.KindChallenge && hasReason(now, "session.inactive") {
		t.Errorf("with an unknown revision: %s %v %v, want the current %s without session.inactive", now.PolicyRevision, now.Kind, now.Reasons, long)
	}
}

func TestEngineHoldsTheLastSetsOnly(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	var revs []string
	for i := range DefaultRecentSets + 2 {
		rev, err := e.Load(context.Background(), Bundle{Tenants: tenantsWithTimeout(t, time.Duration(i+1)*time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rev)
	}
	for i, rev := range revs {
		if want := i >= 2; e.Knows(rev) != want {
			t.Errorf("revision %d of %d: Knows = %v, want %v", i+1, len(revs), !want, want)
		}
	}
}

func TestEngineHoldsAsManySetsAsItIsTold(t *testing.T) {
	t.Parallel()
	e := New(Options{RecentSets: 2})
	var revs []string
	for i := range 4 {
		rev, err := e.Load(context.Background(), Bundle{Tenants: tenantsWithTimeout(t, time.Duration(i+1)*time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rev)
	}
	for i, rev := range revs {
		if want := i >= 2; e.Knows(rev) != want {
			t.Errorf("revision %d of %d with 2 held: Knows = %v, want %v", i+1, len(revs), !want, want)
		}
	}
}

func hasReason(d *decision.Decision, code string) bool {
	for _, r := range d.Reasons {
		if r.Code == code {
			return true
		}
	}
	return false
}
