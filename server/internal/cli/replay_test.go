package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decide"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/decisionlog"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/reload"
	"github.com/pdp-dev/pdp/server/internal/signals"
)

// idleLog decides, with the demo set, one acme staging request per hour
// of idleness from 1h to 10h, and writes their decision log with inputs.
func idleLog(t *testing.T, tenantsDir string) string {
	t.Helper()
	eng := engine.New(engine.Options{})
	if _, err := reload.New(eng, reload.Options{PolicyDirs: []string{"../../demo/policies"}, TenantsDir: tenantsDir}).Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "decisions.log")
	w, err := decisionlog.Open(path, decisionlog.Rotation{})
	if err != nil {
		t.Fatal(err)
	}
	log := decisionlog.New(decisionlog.Options{Writer: w, Mode: decisionlog.ModeBlock, Inputs: true})
	svc, err := decide.New(decide.Options{Evaluator: eng, DecisionLog: log, Applier: signals.NewRecorder(signals.RecorderOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	for h := 1; h <= 10; h++ {
		req := &decision.Request{
			Tenant: "acme", Environment: "staging", Time: at,
			Subject:        decision.Subject{ID: fmt.Sprintf("u-%d", h), Email: "ada@acme.com", Roles: []string{"engineer"}, MFAEnrolled: true},
			Authentication: decision.Authentication{Provider: "google", Methods: []string{"pwd", "otp"}, AuthenticatedAt: at.Add(-time.Hour), MFAVerifiedAt: at.Add(-time.Hour)},
			Action:         decision.Action{Name: "api.read"},
			Session:        decision.Session{ID: "s", StartedAt: at.Add(-12 * time.Hour), LastActivityAt: at.Add(-time.Duration(h)*time.Hour + time.Minute)},
		}
		if _, err := svc.Check(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	if err := log.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return path
}

// copyTenants copies the demo tenant files, with acme's staging timeout
// replaced by timeout.
func copyTenants(t *testing.T, timeout string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../../demo/tenants")); err != nil {
		t.Fatal(err)
	}
	acme := filepath.Join(dir, "acme.yaml")
	b, err := os.ReadFile(acme)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(acme, []byte(strings.Replace(string(b), "inactivity_timeout: 8h", "inactivity_timeout: "+timeout, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReplayReportsNothingWithTheRecordedSet(t *testing.T) {
	t.Parallel()
	log := idleLog(t, "../../demo/tenants")
	r := runPDP(t, nil, "replay", "--log", log, "--policy-dir", "../../demo/policies", "--tenants", "../../demo/tenants", "--json")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, r.stdout)
	}
	if got["decisions"] != float64(10) || got["changed"] != float64(0) {
		t.Errorf("decisions %v changed %v, want 10 and 0:\n%s", got["decisions"], got["changed"], r.stdout)
	}
}

func TestReplayReportsTheDecisionsARaisedTimeoutChanges(t *testing.T) {
	t.Parallel()
	log := idleLog(t, "../../demo/tenants")
	tenants := copyTenants(t, "10h")
	r := runPDP(t, nil, "replay", "--log", log, "--policy-dir", "../../demo/policies", "--tenants", tenants, "--json")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var got struct {
		Decisions, Changed int
		Changes            []struct {
			Tenant, Action, From, To string
			Count                    int
		}
		ReasonsVanished []struct {
			Code  string
			Count int
		} `json:"reasons_vanished"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	// Idle 9h-1m and 10h-1m were inactive at 8h and are not at 10h; idle
	// 8h-1m was within the 5m warning of 8h and is not of 10h (its
	// reasons alone change); idle 7h-1m and less does not change.
	if got.Decisions != 10 || got.Changed != 3 {
		t.Fatalf("decisions %d changed %d, want 10 and 3:\n%s", got.Decisions, got.Changed, r.stdout)
	}
	type row = struct {
		Tenant, Action, From, To string
		Count                    int
	}
	want := []row{{"acme", "api.read", "allow", "allow", 1}, {"acme", "api.read", "challenge", "allow", 2}}
	if fmt.Sprint(got.Changes) != fmt.Sprint(want) {
		t.Errorf("changes %+v, want %+v", got.Changes, want)
	}

	text := runPDP(t, nil, "replay", "--log", log, "--policy-dir", "../../demo/policies", "--tenants", tenants)
	for _, want := range []string{"replayed 10 decisions", "3 changed", "TENANT", "challenge -> allow (2)", "allow -> allow (1)", "-session.inactive", "+session.expiring"} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("the report lacks %q:\n%s", want, text.stdout)
		}
	}
	if r := runPDP(t, nil, "replay", "--log", log, "--policy-dir", "../../demo/policies", "--tenants", tenants, "--tenant", "globex", "--json"); !strings.Contains(r.stdout, `"decisions": 0`) {
		t.Errorf("--tenant globex replayed acme's decisions:\n%s", r.stdout)
	}
}

func TestReplayUsage(t *testing.T) {
	t.Parallel()
	if r := runPDP(t, nil, "replay"); r.code != ExitUsage || !strings.Contains(r.stderr, "--log is required") {
		t.Errorf("no --log: exit %d, %s", r.code, r.stderr)
	}
	if r := runPDP(t, nil, "replay", "--log", "x", "--since", "yesterday"); r.code != ExitUsage || !strings.Contains(r.stderr, "--since") {
		t.Errorf("bad --since: exit %d, %s", r.code, r.stderr)
	}
}
