package pdptest

// The loader of the YAML case corpus under testdata/cases (see
// testdata/cases/README.md for the format). It turns every file into a
// corpusFile: the cases in file order, and the union of the tenants and
// Rego modules they need, so that one server per file can answer them all.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/compliance"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

// Where the corpus lives, relative to this package.
const (
	casesDir    = "testdata/cases"
	fixturesDir = "testdata/tenants"
)

// corpusFile is one YAML file of the corpus.
type corpusFile struct {
	// path names the file in messages ("testdata/cases/mfa.yaml").
	path string
	// cases in file order.
	cases []*corpusCase
	// tenants is the union of the tenant documents of every case: tenant
	// name to YAML.
	tenants map[string][]byte
	// policies is the union of the cases' Rego modules: file name to source.
	policies map[string]string
}

// corpusCase is one case: tenants, optional modules and reports, a request
// and what the server must answer.
type corpusCase struct {
	file     string
	name     string
	bug      string
	tenants  []string // tenant names the case declares
	reports  []*pdpv1.ReportRequest
	request  []byte // protojson, sent verbatim over HTTP
	expect   expectation
	checkReq *pdpv1.CheckRequest // request parsed, for gRPC
}

// label names the case in failure messages.
func (c *corpusCase) label() string { return c.file + ": " + c.name }

// expectation is the expected answer of one case: either a decision with
// its details, or an error.
type expectation struct {
	Decision    string           `yaml:"decision"`
	Reasons     []string         `yaml:"reasons"`
	StepUps     []stepUpWant     `yaml:"step_ups"`
	Obligations []obligationWant `yaml:"obligations"`
	RiskFactors *[]string        `yaml:"risk_factors"`
	RiskScore   *float64         `yaml:"risk_score"`
	RiskLevel   string           `yaml:"risk_level"`
	Enforced    *bool            `yaml:"enforced"`
	WouldDecide string           `yaml:"would_decide"`
	Session     *sessionWant     `yaml:"session"`
	CacheTTL    string           `yaml:"cache_ttl"`
	Explanation *explanationWant `yaml:"explanation"`
	Error       *errorWant       `yaml:"error"`
}

// stepUpWant is an expected step-up; fields other than kind are checked
// only when given.
type stepUpWant struct {
	Kind             string    `yaml:"kind"`
	ReasonCode       string    `yaml:"reason_code"`
	MaxAge           string    `yaml:"max_age"`
	AllowedProviders *[]string `yaml:"allowed_providers"`
	Deadline         string    `yaml:"deadline"`
	NoDeadline       bool      `yaml:"no_deadline"`
}

// obligationWant is an expected obligation; only the listed params are
// checked.
type obligationWant struct {
	Kind   string            `yaml:"kind"`
	Params map[string]string `yaml:"params"`
}

// sessionWant checks the session controls that are given; absent: true
// requires that none is set.
type sessionWant struct {
	ExpiresAt   string `yaml:"expires_at"`
	WarnAt      string `yaml:"warn_at"`
	IdleTimeout string `yaml:"idle_timeout"`
	Absent      bool   `yaml:"absent"`
}

// explanationWant checks an explained decision: fired lists, in order,
// the rules that matched; includes lists entries (rule, and code, effect,
// matched when given) that must appear.
type explanationWant struct {
	Fired    []string      `yaml:"fired"`
	Includes []explainWant `yaml:"includes"`
}

type explainWant struct {
	Rule    string `yaml:"rule"`
	Code    string `yaml:"code"`
	Effect  string `yaml:"effect"`
	Matched *bool  `yaml:"matched"`
}

// errorWant is an expected error: the gRPC code name and the fields of its
// BadRequest violations, in order.
type errorWant struct {
	Code   string   `yaml:"code"`
	Fields []string `yaml:"fields"`
}

// The YAML shapes of a file and a case.
type rawFile struct {
	Tenants  []yaml.Node       `yaml:"tenants"`
	Policies map[string]string `yaml:"policies"`
	Cases    []rawCase         `yaml:"cases"`
}

type rawCase struct {
	Name     string            `yaml:"name"`
	Bug      string            `yaml:"bug"`
	Tenants  []yaml.Node       `yaml:"tenants"`
	Policies map[string]string `yaml:"policies"`
	Reports  []yaml.Node       `yaml:"reports"`
	Request  yaml.Node         `yaml:"request"`
	Expect   expectation       `yaml:"expect"`
}

// loadCorpus reads every *.yaml file of dir, in name order.
func loadCorpus(dir, fixtures string) ([]*corpusFile, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("no *.yaml case files in %s", dir)
	}
	var files []*corpusFile
	var errs []error
	for _, name := range names {
		f, err := loadCaseFile(name, fixtures)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		files = append(files, f)
	}
	return files, errors.Join(errs...)
}

// loadCaseFile reads and checks one case file.
func loadCaseFile(path, fixtures string) (*corpusFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw rawFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f := &corpusFile{path: filepath.ToSlash(path), tenants: map[string][]byte{}, policies: map[string]string{}}
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{f.path}, args...)...))
	}
	shared, err := f.addTenants(raw.Tenants, fixtures)
	if err != nil {
		fail("file tenants: %v", err)
	}
	if err := f.addPolicies(raw.Policies); err != nil {
		fail("file policies: %v", err)
	}
	seen := map[string]bool{}
	for i := range raw.Cases {
		rc := &raw.Cases[i]
		if rc.Name == "" {
			fail("case %d has no name", i+1)
			continue
		}
		if seen[rc.Name] {
			fail("case %q is defined twice", rc.Name)
			continue
		}
		seen[rc.Name] = true
		c, err := f.buildCase(rc, shared, fixtures)
		if err != nil {
			fail("case %q: %v", rc.Name, err)
			continue
		}
		f.cases = append(f.cases, c)
	}
	if len(raw.Cases) == 0 {
		fail("no cases")
	}
	// A case relies only on the tenants it (or its file) declares; a
	// tenant nobody declares is fair game for unknown-tenant cases.
	for _, c := range f.cases {
		if t := c.checkReq.GetTenant(); t != "" && !slices.Contains(c.tenants, t) {
			if _, known := f.tenants[t]; known {
				fail("case %q names tenant %q, which only another case declares; list it under its tenants", c.name, t)
			}
		}
	}
	if err := f.checkIsolation(); err != nil {
		errs = append(errs, err)
	}
	return f, errors.Join(errs...)
}

// addTenants resolves tenant entries (an inline document, or the name of a
// fixture file) into the file's tenant set and returns their names.
func (f *corpusFile) addTenants(nodes []yaml.Node, fixtures string) ([]string, error) {
	var names []string
	var errs []error
	for i := range nodes {
		n := &nodes[i]
		var body []byte
		var origin string
		switch n.Kind {
		case yaml.ScalarNode:
			origin = filepath.Join(fixtures, n.Value+".yaml")
			b, err := os.ReadFile(origin)
			if err != nil {
				errs = append(errs, fmt.Errorf("tenant fixture %q: %w", n.Value, err))
				continue
			}
			body = b
		case yaml.MappingNode:
			origin = fmt.Sprintf("inline tenant at line %d", n.Line)
			b, err := yaml.Marshal(n)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", origin, err))
				continue
			}
			body = b
		default:
			errs = append(errs, fmt.Errorf("tenant entry at line %d must be a fixture name or a tenant document", n.Line))
			continue
		}
		p, err := tenantdata.Parse(origin, body)
		if err == nil {
			err = compliance.Check(context.Background(), p)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s is not a valid tenant policy: %w", origin, err))
			continue
		}
		if p.GetTenant() == "" {
			errs = append(errs, fmt.Errorf("%s must name its tenant", origin))
			continue
		}
		if prev, ok := f.tenants[p.GetTenant()]; ok && !bytes.Equal(prev, body) {
			errs = append(errs, fmt.Errorf("tenant %q is defined twice in this file with different content (%s)", p.GetTenant(), origin))
			continue
		}
		f.tenants[p.GetTenant()] = body
		names = append(names, p.GetTenant())
	}
	return names, errors.Join(errs...)
}

// addPolicies adds Rego modules to the file's set. The server loads every
// module for every case of the file, so a module should guard its rules
// with the tenant it is written for.
func (f *corpusFile) addPolicies(policies map[string]string) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(policies)) {
		src := policies[name]
		switch prev, ok := f.policies[name]; {
		case !strings.HasSuffix(name, ".rego") || strings.HasSuffix(name, "_test.rego") || strings.ContainsAny(name, `/\`):
			errs = append(errs, fmt.Errorf("policy %q must be a plain *.rego file name (not a test)", name))
		case ok && prev != src:
			errs = append(errs, fmt.Errorf("policy %q is defined twice in this file with different content", name))
		default:
			f.policies[name] = src
		}
	}
	return errors.Join(errs...)
}

// buildCase converts and checks one raw case.
func (f *corpusFile) buildCase(rc *rawCase, shared []string, fixtures string) (*corpusCase, error) {
	c := &corpusCase{file: f.path, name: rc.Name, bug: rc.Bug, expect: rc.Expect}
	var errs []error
	own, err := f.addTenants(rc.Tenants, fixtures)
	if err != nil {
		errs = append(errs, err)
	}
	c.tenants = append(slices.Clone(shared), own...)
	if err := f.addPolicies(rc.Policies); err != nil {
		errs = append(errs, err)
	}
	for i := range rc.Reports {
		reps, err := expandReport(&rc.Reports[i])
		if err != nil {
			errs = append(errs, fmt.Errorf("report %d: %w", i+1, err))
			continue
		}
		c.reports = append(c.reports, reps...)
	}
	if rc.Request.Kind != yaml.MappingNode {
		errs = append(errs, errors.New("request must be a mapping (a CheckRequest in protojson form)"))
	} else if c.request, err = nodeJSON(&rc.Request); err != nil {
		errs = append(errs, fmt.Errorf("request: %w", err))
	} else {
		c.checkReq = &pdpv1.CheckRequest{}
		if err := protojson.Unmarshal(c.request, c.checkReq); err != nil {
			errs = append(errs, fmt.Errorf("request is not a CheckRequest: %w", err))
		}
	}
	if err := c.expect.validate(); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// expandReport converts one report entry into ReportRequests. Two keys are
// the corpus's own: repeat (send it n times) and every (a duration added to
// the time of each repetition, default 1s); "{i}" in any string becomes the
// repetition's number, from 1, so that one entry can stand for failures of
// many users.
func expandReport(n *yaml.Node) ([]*pdpv1.ReportRequest, error) {
	var tree map[string]any
	if err := n.Decode(&tree); err != nil {
		return nil, err
	}
	repeat, every := 1, time.Second
	if v, ok := tree["repeat"]; ok {
		r, ok := v.(int)
		if !ok || r < 1 || r > 1000 {
			return nil, fmt.Errorf("repeat must be a count between 1 and 1000, not %v", v)
		}
		repeat = r
		delete(tree, "repeat")
	}
	if v, ok := tree["every"]; ok {
		s, _ := v.(string)
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("every must be a duration such as 1m, not %v", v)
		}
		every = d
		delete(tree, "every")
	}
	var start time.Time
	if v, ok := tree["time"]; ok {
		s, _ := v.(string)
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, fmt.Errorf("time must be RFC 3339, not %v", v)
		}
		start = t
	} else if repeat > 1 {
		return nil, errors.New("a repeated report needs a time")
	}
	out := make([]*pdpv1.ReportRequest, 0, repeat)
	for i := 1; i <= repeat; i++ {
		item := substitute(tree, strconv.Itoa(i)).(map[string]any)
		if !start.IsZero() {
			item["time"] = start.Add(time.Duration(i-1) * every).Format(time.RFC3339Nano)
		}
		b, err := json.Marshal(item)
		if err != nil {
			return nil, err
		}
		r := &pdpv1.ReportRequest{}
		if err := protojson.Unmarshal(b, r); err != nil {
			return nil, fmt.Errorf("not a ReportRequest: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// substitute copies a decoded YAML tree, replacing "{i}" in strings.
func substitute(v any, i string) any {
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(x, "{i}", i)
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = substitute(e, i)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for k, e := range x {
			s[k] = substitute(e, i)
		}
		return s
	}
	return v
}

// nodeJSON converts a YAML mapping to JSON. Timestamps stay strings:
// yaml.v3 only makes time.Time values for typed targets.
func nodeJSON(n *yaml.Node) ([]byte, error) {
	var tree map[string]any
	if err := n.Decode(&tree); err != nil {
		return nil, err
	}
	return json.Marshal(tree)
}

// validate checks that an expectation is complete and uses known words.
func (e *expectation) validate() error {
	var errs []error
	switch {
	case e.Error != nil && e.Decision != "":
		errs = append(errs, errors.New("expect names both a decision and an error"))
	case e.Error == nil && e.Decision == "":
		errs = append(errs, errors.New("expect needs a decision or an error"))
	case e.Error != nil:
		if _, ok := grpcCode(e.Error.Code); !ok {
			errs = append(errs, fmt.Errorf("unknown gRPC code %q", e.Error.Code))
		}
		return errors.Join(errs...)
	}
	if _, ok := decisionOf(e.Decision); !ok {
		errs = append(errs, fmt.Errorf("unknown decision %q", e.Decision))
	}
	if _, ok := decisionOf(e.WouldDecide); e.WouldDecide != "" && !ok {
		errs = append(errs, fmt.Errorf("unknown would_decide %q", e.WouldDecide))
	}
	for _, s := range e.StepUps {
		if _, ok := stepUpKindOf(s.Kind); !ok {
			errs = append(errs, fmt.Errorf("unknown step-up kind %q", s.Kind))
		}
		if _, err := parseDuration(s.MaxAge); s.MaxAge != "" && err != nil {
			errs = append(errs, err)
		}
		if _, err := time.Parse(time.RFC3339Nano, s.Deadline); s.Deadline != "" && err != nil {
			errs = append(errs, fmt.Errorf("step-up deadline %q is not RFC 3339", s.Deadline))
		}
	}
	for _, o := range e.Obligations {
		if _, ok := obligationKindOf(o.Kind); !ok {
			errs = append(errs, fmt.Errorf("unknown obligation kind %q", o.Kind))
		}
	}
	if _, ok := riskLevelOf(e.RiskLevel); e.RiskLevel != "" && !ok {
		errs = append(errs, fmt.Errorf("unknown risk level %q", e.RiskLevel))
	}
	if e.Session != nil {
		if _, err := parseDuration(e.Session.IdleTimeout); e.Session.IdleTimeout != "" && err != nil {
			errs = append(errs, err)
		}
		for _, ts := range []string{e.Session.ExpiresAt, e.Session.WarnAt} {
			if _, err := time.Parse(time.RFC3339Nano, ts); ts != "" && err != nil {
				errs = append(errs, fmt.Errorf("session time %q is not RFC 3339", ts))
			}
		}
	}
	if _, err := parseDuration(e.CacheTTL); e.CacheTTL != "" && err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkIsolation refuses a file in which a case that reports events shares
// a user or an IP (of the same tenant) with another case: the reports would
// change the other case's signals depending on the order.
func (f *corpusFile) checkIsolation() error {
	owner := map[string]string{} // state key -> case that reports it
	for _, c := range f.cases {
		for _, r := range c.reports {
			for _, k := range stateKeys(r.GetTenant(), r.GetSubject().GetId(), r.GetNetwork().GetIp()) {
				if o, ok := owner[k]; ok && o != c.name {
					return fmt.Errorf("%s: cases %q and %q both report events for %s; give state-dependent cases their own users and IPs", f.path, o, c.name, k)
				}
				owner[k] = c.name
			}
		}
	}
	var errs []error
	for _, c := range f.cases {
		req := c.checkReq
		if req == nil {
			continue
		}
		for _, k := range stateKeys(req.GetTenant(), req.GetSubject().GetId(), req.GetNetwork().GetIp()) {
			if o, ok := owner[k]; ok && o != c.name {
				errs = append(errs, fmt.Errorf("%s: case %q checks %s, whose events case %q reports; use another user or IP", f.path, c.name, k, o))
			}
		}
	}
	return errors.Join(errs...)
}

// stateKeys names the server state a request or an event touches.
func stateKeys(tenant, user, ip string) []string {
	var keys []string
	if a, err := netip.ParseAddr(ip); err == nil {
		ip = a.Unmap().String()
	}
	if user != "" {
		keys = append(keys, fmt.Sprintf("user %q of tenant %q", user, tenant))
	}
	if ip != "" {
		keys = append(keys, fmt.Sprintf("IP %s of tenant %q", ip, tenant))
	}
	return keys
}

// parseDuration reads a duration as the corpus writes it ("4h", "90m",
// "14400s").
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 4h or 90m", s)
	}
	return d, nil
}

// decisionOf reads "allow", "deny", "challenge" or the enum name.
func decisionOf(s string) (pdpv1.Decision, bool) {
	return enumOf(pdpv1.Decision_value, "DECISION_", s, pdpv1.Decision_DECISION_UNSPECIFIED)
}

// stepUpKindOf reads "mfa", "verify_device", ... or the enum name.
func stepUpKindOf(s string) (pdpv1.StepUpKind, bool) {
	return enumOf(pdpv1.StepUpKind_value, "STEP_UP_", s, pdpv1.StepUpKind_STEP_UP_KIND_UNSPECIFIED)
}

// obligationKindOf reads "audit", "block_ip", ... or the enum name.
func obligationKindOf(s string) (pdpv1.ObligationKind, bool) {
	return enumOf(pdpv1.ObligationKind_value, "OBLIGATION_", s, pdpv1.ObligationKind_OBLIGATION_KIND_UNSPECIFIED)
}

// riskLevelOf reads "low", "critical", ... or the enum name.
func riskLevelOf(s string) (pdpv1.RiskLevel, bool) {
	return enumOf(pdpv1.RiskLevel_value, "RISK_LEVEL_", s, pdpv1.RiskLevel_RISK_LEVEL_UNSPECIFIED)
}

// enumOf maps a lowercase word or a full enum name to its value; the
// unspecified value is never a valid expectation.
func enumOf[E ~int32](values map[string]int32, prefix, s string, unspecified E) (E, bool) {
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, prefix) {
		name = prefix + name
	}
	v, ok := values[name]
	if !ok || E(v) == unspecified {
		return unspecified, false
	}
	return E(v), true
}

// grpcCode reads a gRPC code name such as INVALID_ARGUMENT.
func grpcCode(s string) (codes.Code, bool) {
	v, ok := code.Code_value[strings.ToUpper(s)]
	if !ok {
		return codes.Unknown, false
	}
	return codes.Code(v), true
}
