package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/compliance"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

// complianceFormats are the values of `pdp compliance --format`.
var complianceFormats = []string{"table", "json", "markdown"}

// complianceReport is one report, in the shape of the ComplianceReport
// RPC's response (and its JSON field names).
type complianceReport struct {
	Tenant      string               `json:"tenant"`
	Environment string               `json:"environment"`
	Framework   string               `json:"framework"`
	Findings    []compliance.Finding `json:"findings"`
	Compliant   bool                 `json:"compliant"`
}

// failed counts the findings that fail.
func (r *complianceReport) failed() int {
	n := 0
	for _, f := range r.Findings {
		if !f.Passed() {
			n++
		}
	}
	return n
}

// frameworkLabel names what the report covers.
func (r *complianceReport) frameworkLabel() string {
	if r.Framework == "" {
		return "every framework"
	}
	return r.Framework
}

// summary is one sentence on the outcome.
func (r *complianceReport) summary() string {
	total, failed := len(r.Findings), r.failed()
	if failed == 0 {
		return fmt.Sprintf("compliant: all %d controls pass", total)
	}
	return fmt.Sprintf("not compliant: %d of %d controls fail", failed, total)
}

// runCompliance is `pdp compliance`: the findings of one tenant environment,
// computed by the Rego compliance module from the tenant's file, whether or
// not the tenant declares the framework and even when its settings break a
// profile it declares (the server would refuse such a file; the report says
// why). Exit codes: ExitOK when every control passes, ExitError when one
// fails or the report cannot be made, ExitUsage for bad flags.
func runCompliance(ctx context.Context, args []string, env Env) int {
	var dir, tenant, environment, framework, format string
	fs := flag.NewFlagSet("pdp compliance", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.StringVar(&dir, "tenants", env.Getenv("PDP_TENANTS"), "directory of tenant policy files (default $PDP_TENANTS)")
	fs.StringVar(&tenant, "tenant", "", "tenant to report on (required)")
	fs.StringVar(&environment, "environment", decision.DefaultEnvironment, "environment of the tenant")
	fs.StringVar(&framework, "framework", "", "HIPAA, PCI_DSS, SOX or GDPR (default: all four)")
	fs.StringVar(&format, "format", "table", "output format: "+strings.Join(complianceFormats, ", "))
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, `usage: pdp compliance --tenants DIR --tenant T [--environment E] [--framework F] [--format table|json|markdown]

Reports how one environment of a tenant stands against the compliance
frameworks: one finding per control, computed by the policy library.

flags:
`)
		fs.PrintDefaults()
	}
	rest, code, done := parseArgs(fs, args)
	if done {
		return code
	}
	var problems []string
	if len(rest) > 0 {
		problems = append(problems, "unexpected arguments: "+strings.Join(rest, " "))
	}
	if dir == "" {
		problems = append(problems, "--tenants is required")
	}
	if tenant == "" {
		problems = append(problems, "--tenant is required")
	}
	format = strings.ToLower(format)
	if !slices.Contains(complianceFormats, format) {
		problems = append(problems, fmt.Sprintf("--format must be one of %s, not %q", strings.Join(complianceFormats, ", "), format))
	}
	if len(problems) > 0 {
		return refuse(env.Stderr, fs, problems, "usage: pdp compliance --tenants DIR --tenant T [--environment E] [--framework F] [--format table|json|markdown]")
	}

	report, err := complianceOf(ctx, env, dir, tenant, environment, framework)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp compliance: %v\n", err)
		var usage usageError
		if errors.As(err, &usage) {
			return ExitUsage
		}
		return ExitError
	}
	switch format {
	case "json":
		if code := printJSON(env.Stdout, report); code != ExitOK {
			return code
		}
	case "markdown":
		printComplianceMarkdown(env.Stdout, report)
	default:
		printComplianceTable(env.Stdout, report)
	}
	if !report.Compliant {
		return ExitError
	}
	return ExitOK
}

// complianceOf loads the tenant's file from dir into an engine and
// evaluates its findings. Problems with other files of dir are warnings.
func complianceOf(ctx context.Context, env Env, dir, tenant, environment, framework string) (*complianceReport, error) {
	policies, loadErr := tenantdata.LoadDir(dir)
	p, ok := policies[tenant]
	if !ok {
		if loadErr != nil {
			return nil, fmt.Errorf("tenant %q did not load:\n%w", tenant, loadErr)
		}
		return nil, fmt.Errorf("no policy file for tenant %q in %s", tenant, dir)
	}
	if loadErr != nil {
		fmt.Fprintf(env.Stderr, "pdp compliance: warning: other tenant files did not load:\n%v\n", loadErr)
	}
	e := engine.New(engine.Options{})
	data := tenantdata.Data(map[string]*pdpv1.TenantPolicy{tenant: p})
	if _, err := e.Load(ctx, engine.Bundle{Tenants: data}); err != nil {
		return nil, err
	}
	findings, err := compliance.NewReporter(e).Findings(ctx, tenant, environment, framework)
	if err != nil {
		if fault.As(err).Code == fault.InvalidArgument {
			return nil, usageError{err}
		}
		return nil, err
	}
	if framework != "" {
		framework = compliance.CanonicalFramework(framework)
	}
	if environment == "" {
		environment = decision.DefaultEnvironment
	}
	r := &complianceReport{Tenant: tenant, Environment: environment, Framework: framework, Findings: findings}
	r.Compliant = r.failed() == 0
	return r, nil
}

// printComplianceTable writes a title, the findings in aligned columns and
// a summary.
func printComplianceTable(w io.Writer, r *complianceReport) {
	fmt.Fprintf(w, "Compliance of %s/%s against %s\n\n", r.Tenant, r.Environment, r.frameworkLabel())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTROL\tSEVERITY\tSTATUS\tFINDING\tREMEDIATION")
	for _, f := range r.Findings {
		remediation := f.Remediation
		if remediation == "" {
			remediation = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(f.Control), cell(f.Severity), cell(f.Status), cell(f.Finding), cell(remediation))
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%s\n", r.summary())
}

// cell keeps a table cell on one line and free of tabs.
func cell(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// printComplianceMarkdown writes the report as a Markdown section with a
// table, ready for a ticket or a pull request.
func printComplianceMarkdown(w io.Writer, r *complianceReport) {
	fmt.Fprintf(w, "## Compliance of %s/%s against %s\n\n", r.Tenant, r.Environment, r.frameworkLabel())
	fmt.Fprintf(w, "**%s**\n\n", r.summary())
	fmt.Fprintln(w, "| Control | Severity | Status | Finding | Remediation |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- |")
	for _, f := range r.Findings {
		status := f.Status
		if !f.Passed() {
			status = "**" + status + "**"
		}
		fmt.Fprintf(w, "| `%s` | %s | %s | %s | %s |\n", f.Control, mdCell(f.Severity), status, mdCell(f.Finding), mdCell(f.Remediation))
	}
}

// mdCell escapes what would break a Markdown table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\r", " ", "\n", " ").Replace(s)
}

// usageError marks an error caused by a flag's value (an unknown
// framework), which exits with ExitUsage.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }
