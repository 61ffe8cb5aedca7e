package tenantdata

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadDirExample(t *testing.T) {
	t.Parallel()
	got, err := LoadDir("testdata/tenants")
	if err != nil {
		t.Fatal(err)
	}
	acme, ok := got["acme"]
	if !ok || len(got) != 1 {
		t.Fatalf("LoadDir = %v, want only acme", got)
	}
	if acme.Etag == "" || acme.Etag != ETag(acme) {
		t.Errorf("etag %q, want %q", acme.Etag, ETag(acme))
	}
}

func TestLoadDir(t *testing.T) {
	t.Parallel()
	const good = "plan: paid\nenvironments:\n  production: {key_isolation: true}\n"
	dir := writeFiles(t, map[string]string{
		"alpha.yaml":        good,
		"beta.yml":          "tenant: beta\n" + good,
		"gamma.json":        `{"plan": "free", "environments": {"development": {}}}`,
		"Upper.YAML":        "tenant: upper\n" + good, // the tenant field wins over the name only if they agree
		".hidden.yaml":      "not: [valid",
		"#alpha.yaml#":      "not: [valid",
		"alpha.yaml~":       "not: [valid",
		"~lock.yaml":        "not: [valid",
		"notes.txt":         "not: [valid",
		"sub.yaml/x.yaml":   "not: [valid", // a directory with a policy-like name
		"wrong-name.yaml":   "tenant: other\n" + good,
		"broken.yaml":       "plan: [paid\n",
		"invalid.yaml":      "plan: paid\nenvironments:\n  production: {inactivity_timeout: 30m}\n",
		"overplan.yaml":     "plan: paid\nenvironments:\n  production: {mfa: {mode: all}}\n",
		"alpha.json":        `{"tenant": "alpha", "plan": "free", "environments": {"production": {}}}`,
		"Bad Name.yaml":     good,
		"unknownfield.json": `{"plan": "paid", "environments": {"production": {"mfaa": {}}}}`,
	})
	got, err := LoadDir(dir)
	if err == nil {
		t.Fatal("LoadDir succeeded")
	}
	names := make([]string, 0, len(got))
	for n, p := range got {
		names = append(names, n)
		if p.Tenant != n || p.Etag == "" {
			t.Errorf("%s: tenant %q etag %q", n, p.Tenant, p.Etag)
		}
	}
	slices.Sort(names)
	if diff := cmp.Diff([]string{"beta", "gamma"}, names); diff != "" {
		t.Errorf("loaded tenants (-want +got):\n%s", diff)
	}
	var errs []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		errs = append(errs, e.Error())
		if !errors.Is(e, fault.ErrInvalidArgument) && !errors.Is(e, fault.ErrFailedPrecondition) {
			t.Errorf("error %v is neither InvalidArgument nor FailedPrecondition", e)
		}
	}
	for _, want := range []string{
		filepath.Join(dir, "Bad Name.yaml") + `: invalid tenant policy: tenant: "Bad Name" must be`,
		filepath.Join(dir, "Upper.YAML") + `: invalid tenant policy: tenant: "upper" does not match the file name`,
		filepath.Join(dir, "alpha.yaml") + `: tenant "alpha" is also defined by ` + filepath.Join(dir, "alpha.json"),
		filepath.Join(dir, "broken.yaml") + ": tenant policy is not valid YAML",
		filepath.Join(dir, "invalid.yaml") + ": invalid tenant policy: environments.production.inactivity_timeout: must be between 1h and 24h, not 30m",
		filepath.Join(dir, "overplan.yaml") + ": tenant policy exceeds its plan: environments.production.mfa: requires the enterprise plan (tenant is on paid)",
		filepath.Join(dir, "unknownfield.json") + ": invalid tenant policy: environments.production.mfaa: unknown field",
		filepath.Join(dir, "wrong-name.yaml") + `: invalid tenant policy: tenant: "other" does not match the file name`,
	} {
		i := slices.IndexFunc(errs, func(s string) bool { return strings.HasPrefix(s, want) })
		if i < 0 {
			t.Errorf("no error starting with\n  %s\nin\n  %s", want, strings.Join(errs, "\n  "))
			continue
		}
		errs = slices.Delete(errs, i, i+1)
	}
	if len(errs) > 0 {
		t.Errorf("unexpected errors:\n  %s", strings.Join(errs, "\n  "))
	}
}

func TestLoadDirEmptyAndMissing(t *testing.T) {
	t.Parallel()
	got, err := LoadDir(t.TempDir())
	if err != nil || len(got) != 0 {
		t.Errorf("empty dir: %v, %v", got, err)
	}
	if _, err := LoadDir(filepath.Join(t.TempDir(), "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing dir: %v", err)
	}
}

func TestLoadDirFollowsSymlinks(t *testing.T) {
	t.Parallel()
	// The layout of a Kubernetes ConfigMap volume.
	dir := writeFiles(t, map[string]string{"..2025_01_01/acme.yaml": "plan: free\nenvironments: {production: {}}\n"})
	if err := os.Symlink("..2025_01_01", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "acme.yaml"), filepath.Join(dir, "acme.yaml")); err != nil {
		t.Fatal(err)
	}
	got, err := LoadDir(dir)
	if err != nil || got["acme"] == nil || len(got) != 1 {
		t.Errorf("LoadDir = %v, %v", got, err)
	}
}

func TestLoadFileTooLarge(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"big.yaml": "plan: free\n#" + strings.Repeat("x", 2*MaxFileSize)})
	_, err := LoadFile(filepath.Join(dir, "big.yaml"))
	if err == nil || !strings.Contains(err.Error(), "big.yaml: tenant policy is larger than the limit") {
		t.Errorf("LoadFile = %v", err)
	}
}

// A file longer than its size said when it was opened (one that grew, or
// one of /proc, which says 0) is read whole.
func TestReadLimitedReadsPastTheStatedSize(t *testing.T) {
	t.Parallel()
	const path = "/proc/self/status"
	st, err := os.Stat(path)
	if err != nil || st.Size() != 0 {
		t.Skipf("%s: %v, size %d; want a file that states size 0", path, err, st.Size())
	}
	data, err := readLimited(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "Name:") || !strings.Contains(string(data), "\nvoluntary_ctxt_switches:") {
		t.Errorf("read %q, want the whole file", data)
	}
}

func TestIsPolicyFile(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"acme.yaml": true, "acme.yml": true, "acme.json": true, "ACME.JSON": true,
		".acme.yaml": false, "..data": false, "#acme.yaml#": false, "acme.yaml~": false,
		"acme.yaml.swp": false, "~acme.yaml": false, "acme.txt": false, "acme": false, "": false,
	} {
		if got := IsPolicyFile(name); got != want {
			t.Errorf("IsPolicyFile(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestDirReaderParsesOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"alpha.yaml": "plan: free\nenvironments: {production: {}}\n",
		"beta.yaml":  "plan: free\nenvironments: {production: {}}\n",
	})
	r := NewDirReader(dir)
	read := func() map[string]*pdpv1.TenantPolicy {
		t.Helper()
		got, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	first := read()
	alpha := filepath.Join(dir, "alpha.yaml")
	st, err := os.Stat(alpha)
	if err != nil {
		t.Fatal(err)
	}
	// Two edits of the same size, the file's time set back each time: only
	// the content tells them apart.
	for i, plan := range []string{"paid", "free"} {
		if err := os.WriteFile(alpha, []byte("plan: "+plan+"\nenvironments: {production: {}}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(alpha, st.ModTime(), st.ModTime()); err != nil {
			t.Fatal(err)
		}
		got := read()
		if got["alpha"].GetPlan() != plan {
			t.Errorf("edit %d: plan %q, want %q", i+1, got["alpha"].GetPlan(), plan)
		}
		if got["alpha"] == first["alpha"] {
			t.Errorf("edit %d: alpha is the policy read before the edit", i+1)
		}
		if got["beta"] != first["beta"] {
			t.Errorf("edit %d: beta, unchanged, was parsed again", i+1)
		}
	}

	// A file broken, then fixed; a file removed; a second file for a tenant.
	if err := os.WriteFile(alpha, []byte("plan: [free\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Read(); err == nil || got["alpha"] != nil || got["beta"] != first["beta"] {
		t.Errorf("alpha broken: %v, %v; want an error naming it and beta alone", got, err)
	}
	if err := os.WriteFile(alpha, []byte("plan: free\nenvironments: {production: {}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "beta.json"), []byte(`{"plan": "free", "environments": {"production": {}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Read(); err == nil || !strings.Contains(err.Error(), `tenant "beta" is also defined by`) || got["beta"] != nil {
		t.Errorf("beta twice: %v, %v; want an error and no beta", got, err)
	}
	if err := os.Remove(filepath.Join(dir, "beta.yaml")); err != nil {
		t.Fatal(err)
	}
	got := read()
	if len(got) != 2 || got["alpha"].GetPlan() != "free" || got["beta"] == first["beta"] {
		t.Errorf("after the fixes: %v", got)
	}
}

func TestDirReaderReadChangedReadsTheNamedFilesAndLinks(t *testing.T) {
	t.Parallel()
	const free, paid = "plan: free\nenvironments: {production: {}}\n", "plan: paid\nenvironments: {production: {}}\n"
	dir := writeFiles(t, map[string]string{"alpha.yaml": free, "beta.yaml": free})
	targets := writeFiles(t, map[string]string{"gamma.yaml": free})
	if err := os.Symlink(filepath.Join(targets, "gamma.yaml"), filepath.Join(dir, "gamma.yaml")); err != nil {
		t.Fatal(err)
	}
	r := NewDirReader(dir)
	first, err := r.Read()
	if err != nil || len(first) != 3 {
		t.Fatalf("Read = %v, %v", first, err)
	}
	for _, path := range []string{filepath.Join(dir, "alpha.yaml"), filepath.Join(dir, "beta.yaml"), filepath.Join(targets, "gamma.yaml")} {
		if err := os.WriteFile(path, []byte(paid), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(free), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("delta.yaml") // a file never read is read

	got, err := r.ReadChanged(map[string]bool{filepath.Join(dir, "alpha.yaml"): true})
	if err != nil {
		t.Fatal(err)
	}
	plans := map[string]string{}
	for name, p := range got {
		plans[name] = p.GetPlan()
	}
	want := map[string]string{"alpha": "paid", "beta": "free", "gamma": "paid", "delta": "free"}
	if diff := cmp.Diff(want, plans); diff != "" {
		t.Errorf("plans read (-want +got):\n%s", diff)
	}
	if got["beta"] != first["beta"] {
		t.Error("beta, not named, was read again")
	}
	// Read reads everything.
	if got, err := r.Read(); err != nil || got["beta"].GetPlan() != "paid" {
		t.Errorf("Read: beta %v, %v; want the paid plan", got["beta"], err)
	}
}
