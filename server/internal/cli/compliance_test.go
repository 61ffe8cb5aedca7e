package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pdp-dev/pdp/server/internal/compliance"
)

const demoTenants = "../../demo/tenants"

// tableColumns returns the column start offsets of a table's header line.
func tableColumns(t *testing.T, header string) []int {
	t.Helper()
	var cols []int
	for _, name := range []string{"CONTROL", "SEVERITY", "STATUS", "FINDING", "REMEDIATION"} {
		i := strings.Index(header, name)
		if i < 0 {
			t.Fatalf("header %q lacks %s", header, name)
		}
		cols = append(cols, i)
	}
	return cols
}

// tableRows parses the table printed by `pdp compliance`: title, blank
// line, header, rows, blank line, summary. Each row is split at the
// header's column offsets, which also checks that the columns align.
func tableRows(t *testing.T, out string) (title string, rows [][]string, summary string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) < 5 || lines[1] != "" || lines[len(lines)-2] != "" {
		t.Fatalf("not a titled table with a summary:\n%s", out)
	}
	cols := tableColumns(t, lines[2])
	for _, line := range lines[3 : len(lines)-2] {
		var row []string
		for i, start := range cols {
			if start > 0 && (len(line) <= start || line[start-1] != ' ' || line[start] == ' ') {
				t.Fatalf("column %d does not start at offset %d in %q", i, start, line)
			}
			end := len(line)
			if i+1 < len(cols) {
				end = cols[i+1]
			}
			row = append(row, strings.TrimSpace(line[start:end]))
		}
		rows = append(rows, row)
	}
	return lines[0], rows, lines[len(lines)-1]
}

func TestComplianceTable(t *testing.T) {
	t.Parallel()
	r := runPDP(t, nil, "compliance", "--tenants", demoTenants, "--tenant", "acme", "--framework", "SOX")
	if r.code != ExitOK {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	title, rows, summary := tableRows(t, r.stdout)
	if title != "Compliance of acme/production against SOX" || summary != "compliant: all 5 controls pass" {
		t.Errorf("title %q, summary %q", title, summary)
	}
	want := [][]string{
		{"sox.audit_logging", "high", "pass", "every administrative change is written to the hash-chained audit log", "-"},
		{"sox.change_approval", "medium", "pass", "policy changes of SOX tenants need a second approver", "-"},
		{"sox.inactivity", "medium", "pass", "inactivity timeout 4h is within the SOX maximum of 4h", "-"},
		{"sox.role_based_access", "high", "pass", "4 roles defined, only admin is granted every action", "-"},
		{"sox.separation_of_duties", "high", "pass", "no role but admin combines administration with data changes", "-"},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if r.stderr != "" {
		t.Errorf("stderr: %s", r.stderr)
	}
}

func TestComplianceTableEveryFramework(t *testing.T) {
	t.Parallel()
	r := runPDP(t, nil, "compliance", "--tenants", demoTenants, "--tenant", "acme")
	if r.code != ExitError {
		t.Fatalf("exit %d, want %d (acme does not meet PCI DSS or GDPR)\n%s%s", r.code, ExitError, r.stdout, r.stderr)
	}
	title, rows, summary := tableRows(t, r.stdout)
	if title != "Compliance of acme/production against every framework" || summary != "not compliant: 2 of 20 controls fail" {
		t.Errorf("title %q, summary %q", title, summary)
	}
	var failed [][]string
	for _, row := range rows {
		if row[2] == "fail" {
			failed = append(failed, row)
		}
	}
	want := [][]string{
		{"gdpr.eu_residency", "high", "fail", "no country restriction: access from anywhere", "set countries.allowed to EU/EEA countries only"},
		{"pci_dss.inactivity", "high", "fail", "inactivity timeout 4h exceeds the PCI_DSS maximum of 2h", "set inactivity_timeout to 2h or less"},
	}
	if diff := cmp.Diff(want, failed); diff != "" {
		t.Errorf("failed rows (-want +got):\n%s", diff)
	}
}

func TestComplianceJSON(t *testing.T) {
	t.Parallel()
	r := runPDP(t, map[string]string{"PDP_TENANTS": demoTenants},
		"compliance", "--tenant", "acme", "--environment", "staging", "--framework", "hipaa", "--format", "json")
	if r.code != ExitError {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var got struct {
		Tenant, Environment, Framework string
		Compliant                      *bool
		Findings                       []compliance.Finding
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if got.Tenant != "acme" || got.Environment != "staging" || got.Framework != "HIPAA" || got.Compliant == nil || *got.Compliant {
		t.Errorf("report header: %+v", got)
	}
	// Staging: the staging preset's 8h, MFA for admins only, no provider
	// or network restriction; direct queries off and keys isolated.
	status := map[string]string{}
	for _, f := range got.Findings {
		status[f.Control] = f.Status
	}
	want := map[string]string{
		"hipaa.corporate_sso": "fail", "hipaa.direct_query_disabled": "pass", "hipaa.inactivity_logout": "fail",
		"hipaa.ip_restrictions": "fail", "hipaa.key_isolation": "pass", "hipaa.mfa_all": "fail",
	}
	if diff := cmp.Diff(want, status); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	wantFinding := compliance.Finding{
		Control: "hipaa.inactivity_logout", Severity: "high", Status: "fail",
		Finding:     "inactivity timeout 8h exceeds the HIPAA maximum of 4h",
		Remediation: "set inactivity_timeout to 4h or less",
	}
	for _, f := range got.Findings {
		if f.Control == wantFinding.Control {
			if diff := cmp.Diff(wantFinding, f); diff != "" {
				t.Errorf("finding (-want +got):\n%s", diff)
			}
		}
	}
	if !strings.Contains(r.stdout, "\n  \"findings\": [\n") {
		t.Errorf("JSON is not indented:\n%s", r.stdout)
	}
}

func TestComplianceMarkdown(t *testing.T) {
	t.Parallel()
	r := runPDP(t, nil, "compliance", "--tenants", demoTenants, "--tenant", "globex", "--framework", "GDPR", "--format", "markdown")
	if r.code != ExitError {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	want := "## Compliance of globex/production against GDPR\n" +
		"\n" +
		"**not compliant: 2 of 4 controls fail**\n" +
		"\n" +
		"| Control | Severity | Status | Finding | Remediation |\n" +
		"| --- | --- | --- | --- | --- |\n" +
		"| `gdpr.access_logging` | medium | pass | every decision and administrative change is logged with its subject |  |\n" +
		"| `gdpr.data_isolation` | high | pass | cache keys are isolated per tenant and environment |  |\n" +
		"| `gdpr.eu_residency` | high | **fail** | no country restriction: access from anywhere | set countries.allowed to EU/EEA countries only |\n" +
		"| `gdpr.role_based_access` | high | **fail** | roles other than admin granted every action (*): owner | define roles with need-to-know action lists; grant * to admin only |\n"
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("markdown (-want +got):\n%s", diff)
	}
}

func TestComplianceReportsNonCompliantFiles(t *testing.T) {
	t.Parallel()
	// umbrella declares SOX and breaks it: the server refuses the file,
	// the report still shows where it stands. broken.yaml does not load
	// at all, which only warns.
	dir := writeFiles(t, map[string]string{
		"umbrella.yaml": "tenant: umbrella\nplan: enterprise\nenvironments:\n  production:\n    inactivity_timeout: 8h\n" +
			"    roles:\n      admin: {actions: [\"*\"]}\n      ops: {actions: [\"admin.*\", \"db.write\"]}\n    compliance: [SOX]\n",
		"broken.yaml": "tenant: broken\nplan: gold\nenvironments: {}\n",
	})
	r := runPDP(t, nil, "compliance", "--tenants", dir, "--tenant", "umbrella", "--framework", "SOX", "--format", "markdown")
	if r.code != ExitError {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"**not compliant: 2 of 5 controls fail**",
		"| `sox.inactivity` | medium | **fail** | inactivity timeout 8h exceeds the SOX maximum of 4h |",
		"| `sox.separation_of_duties` | high | **fail** | roles that both administer and change data: ops |",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "warning: other tenant files did not load") || !strings.Contains(r.stderr, filepath.Join(dir, "broken.yaml")) {
		t.Errorf("stderr does not warn about broken.yaml:\n%s", r.stderr)
	}

	r = runPDP(t, nil, "compliance", "--tenants", dir, "--tenant", "broken")
	if r.code != ExitError || !strings.Contains(r.stderr, `tenant "broken" did not load`) || !strings.Contains(r.stderr, "plan: must be free, paid or enterprise") {
		t.Errorf("broken tenant: exit %d\n%s", r.code, r.stderr)
	}
}

func TestComplianceErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no tenant", []string{"--tenants", demoTenants}, ExitUsage, "--tenant is required"},
		{"no directory", []string{"--tenant", "acme"}, ExitUsage, "--tenants is required"},
		{"bad format", []string{"--tenants", demoTenants, "--tenant", "acme", "--format", "xml"}, ExitUsage, `--format must be one of table, json, markdown, not "xml"`},
		{"positional", []string{"--tenants", demoTenants, "--tenant", "acme", "extra"}, ExitUsage, "unexpected arguments: extra"},
		{"unknown framework", []string{"--tenants", demoTenants, "--tenant", "acme", "--framework", "ISO27001"}, ExitUsage, `must be one of GDPR, HIPAA, PCI_DSS, SOX, not "ISO27001"`},
		{"unknown tenant", []string{"--tenants", demoTenants, "--tenant", "umbrella"}, ExitError, `no policy file for tenant "umbrella" in ` + demoTenants},
		{"unknown environment", []string{"--tenants", demoTenants, "--tenant", "acme", "--environment", "qa"}, ExitError,
			`tenant "acme" declares no environment "qa" (it declares development, production, sandbox, staging)`},
		{"missing directory", []string{"--tenants", demoTenants + "/missing", "--tenant", "acme"}, ExitError, "no such file or directory"},
		{"help", []string{"-h"}, ExitOK, "usage: pdp compliance --tenants DIR --tenant T"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runPDP(t, nil, append([]string{"compliance"}, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("exit %d (want %d), stderr:\n%s\nwant it to contain %q", r.code, tt.code, r.stderr, tt.stderr)
			}
			if tt.code != ExitOK && r.stdout != "" {
				t.Errorf("stdout on error: %s", r.stdout)
			}
		})
	}
}

func TestCommandsListed(t *testing.T) {
	t.Parallel()
	r := runPDP(t, nil, "help")
	for _, want := range []string{"\n  test ", "\n  compliance "} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("usage lacks %q:\n%s", want, r.stderr)
		}
	}
}
