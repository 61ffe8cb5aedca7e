package pdptest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCorpusLoaderRefusesBrokenFiles checks that the loader names each
// mistake a case author can make instead of running a meaningless case.
func TestCorpusLoaderRefusesBrokenFiles(t *testing.T) {
	t.Parallel()
	const tenant = `
tenants:
  - tenant: t1
    plan: free
    environments: {production: {roles: {member: {actions: [login]}}}}
`
	const request = `{tenant: t1, subject: {id: u1}, action: {name: login}, time: "2026-03-04T10:00:00Z"}`
	tests := []struct {
		name, body, want string
	}{
		{"unknown key", tenant + `
cases:
  - name: a
    request: ` + request + `
    expect: {decision: allow, reason: [x]}
`, "field reason not found"},
		{"decision and error", tenant + `
cases:
  - name: a
    request: ` + request + `
    expect: {decision: allow, error: {code: INVALID_ARGUMENT}}
`, "both a decision and an error"},
		{"no expectation", tenant + `
cases:
  - name: a
    request: ` + request + `
`, "needs a decision or an error"},
		{"unknown words", tenant + `
cases:
  - name: a
    request: ` + request + `
    expect: {decision: permit, step_ups: [{kind: sms}], obligations: [{kind: page}], risk_level: severe}
`, `unknown decision "permit"`},
		{"duplicate name", tenant + `
cases:
  - {name: a, request: ` + request + `, expect: {decision: allow}}
  - {name: a, request: ` + request + `, expect: {decision: allow}}
`, `case "a" is defined twice`},
		{"invalid tenant", `
cases:
  - name: a
    tenants: [{tenant: t1, plan: free, environments: {production: {mfa: {mode: all}}}}]
    request: ` + request + `
    expect: {decision: allow}
`, "not a valid tenant policy"},
		{"tenant defined twice", tenant + `
cases:
  - name: a
    tenants: [{tenant: t1, plan: paid, environments: {production: {}}}]
    request: ` + request + `
    expect: {decision: allow}
`, `tenant "t1" is defined twice`},
		{"missing fixture", `
cases:
  - {name: a, tenants: [no-such-fixture], request: ` + request + `, expect: {decision: allow}}
`, `tenant fixture "no-such-fixture"`},
		{"request that is not a CheckRequest", tenant + `
cases:
  - {name: a, request: {tenant: t1, colour: blue}, expect: {decision: allow}}
`, "not a CheckRequest"},
		{"shared user between a reporting case and another", tenant + `
cases:
  - name: a
    reports: [{tenant: t1, event: EVENT_LOGIN_FAILED, subject: {id: u1}, time: "2026-03-04T09:00:00Z"}]
    request: {tenant: t1, subject: {id: u2}, action: {name: login}}
    expect: {decision: allow}
  - {name: b, request: ` + request + `, expect: {decision: allow}}
`, `case "b" checks user "u1" of tenant "t1", whose events case "a" reports`},
		{"shared IP written two ways", tenant + `
cases:
  - name: a
    reports: [{tenant: t1, event: EVENT_LOGIN_FAILED, subject: {id: u3}, network: {ip: "::ffff:192.0.2.1"}, time: "2026-03-04T09:00:00Z"}]
    request: {tenant: t1, subject: {id: u3}, action: {name: login}}
    expect: {decision: allow}
  - name: b
    request: {tenant: t1, subject: {id: u4}, network: {ip: 192.0.2.1}, action: {name: login}}
    expect: {decision: allow}
`, "IP 192.0.2.1 of tenant"},
		{"repeated report without a time", tenant + `
cases:
  - name: a
    reports: [{tenant: t1, event: EVENT_LOGIN_FAILED, subject: {id: u5}, repeat: 3}]
    request: {tenant: t1, subject: {id: u5}, action: {name: login}}
    expect: {decision: allow}
`, "a repeated report needs a time"},
		{"tenant declared only by another case", `
cases:
  - name: a
    tenants: [{tenant: t2, plan: free, environments: {production: {}}}]
    request: {tenant: t2, action: {name: login}}
    expect: {decision: allow}
  - {name: b, request: {tenant: t2, action: {name: login}}, expect: {decision: allow}}
`, `case "b" names tenant "t2", which only another case declares`},
		{"test module as a policy", tenant + `
policies: {x_test.rego: "package pdp.custom"}
cases:
  - {name: a, request: ` + request + `, expect: {decision: allow}}
`, "not a test"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "broken.yaml")
			if err := os.WriteFile(path, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := loadCaseFile(path, fixturesDir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestCorpusReportExpansion checks the repeat, every and "{i}" sugar.
func TestCorpusReportExpansion(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ok.yaml")
	body := `
tenants:
  - tenant: t1
    plan: free
    environments: {production: {roles: {member: {actions: [login]}}}}
cases:
  - name: a
    reports:
      - {tenant: t1, event: EVENT_LOGIN_FAILED, subject: {id: "user-{i}"}, time: "2026-03-04T09:58:00Z", repeat: 3, every: 30s}
    request: {tenant: t1, subject: {id: someone}, action: {name: login}}
    expect: {decision: deny}
`
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := loadCaseFile(path, fixturesDir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range f.cases[0].reports {
		got = append(got, r.GetSubject().GetId()+"@"+r.GetTime().AsTime().Format("15:04:05"))
	}
	want := "user-1@09:58:00 user-2@09:58:30 user-3@09:59:00"
	if strings.Join(got, " ") != want {
		t.Fatalf("reports %v, want %s", got, want)
	}
}
