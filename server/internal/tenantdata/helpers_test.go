package tenantdata

import (
	"bytes"
	"errors"
	"os"
	"testing"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// examplePath is the complete example tenant policy.
const examplePath = "testdata/tenants/acme.yaml"

// mustParse parses src or fails the test.
func mustParse(t *testing.T, name, src string) *pdpv1.TenantPolicy {
	t.Helper()
	p, err := Parse(name, []byte(src))
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return p
}

// loadExample parses the complete example.
func loadExample(t *testing.T) *pdpv1.TenantPolicy {
	t.Helper()
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	return mustParse(t, examplePath, string(data))
}

// minimal is the smallest valid policy: one production environment.
func minimal() *pdpv1.TenantPolicy {
	return &pdpv1.TenantPolicy{
		Tenant:       "acme",
		Plan:         PlanEnterprise,
		Environments: map[string]*pdpv1.SecurityPolicy{"production": {}},
	}
}

// fieldsOf returns the violation paths of a fault error, or nil for nil.
func fieldsOf(t *testing.T, err error, code fault.Code) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var fe *fault.Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not a *fault.Error", err)
	}
	if fe.Code != code {
		t.Fatalf("error code = %v, want %v (%v)", fe.Code, code, err)
	}
	out := []string{}
	for _, f := range fe.Fields {
		out = append(out, f.Field)
	}
	return out
}

// packageDoc is the text of doc.go.
func packageDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
