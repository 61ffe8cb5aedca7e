package telemetry

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

func newTestMetrics(t testing.TB) *Metrics {
	t.Helper()
	m, err := NewMetrics(MetricsOptions{WithoutRuntimeMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(t.Context()) })
	return m
}

func reasons(codes ...string) []decision.Reason {
	rs := make([]decision.Reason, len(codes))
	for i, c := range codes {
		rs[i] = decision.Reason{Code: c, Message: "for " + c, Rule: "pdp.rule"}
	}
	return rs
}

func TestEveryReasonIsCountedByCodeAndDecision(t *testing.T) {
	t.Parallel()
	m := newTestMetrics(t)
	m.RecordReasons("deny", reasons("network.ip_denied", "authz.role_forbidden"))
	m.RecordReasons("deny", reasons("network.ip_denied"))
	m.RecordReasons("challenge", reasons("authn.mfa_required"))
	m.RecordReasons("allow", nil)
	m.RecordReasons("surprise", reasons("network.ip_denied"))
	text := scrape(t, m.Handler())
	for _, line := range []string{
		`pdp_decision_reasons_total{code="network.ip_denied",decision="deny"} 2`,
		`pdp_decision_reasons_total{code="authz.role_forbidden",decision="deny"} 1`,
		`pdp_decision_reasons_total{code="authn.mfa_required",decision="challenge"} 1`,
		`pdp_decision_reasons_total{code="network.ip_denied",decision="other"} 1`,
		"# TYPE pdp_decision_reasons_total counter",
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("exposition lacks %q:\n%s", line, text)
		}
	}
}

func TestReasonCodesBeyondTheCapAreCountedAsOther(t *testing.T) {
	t.Parallel()
	m := newTestMetrics(t)
	for i := range MaxReasonCodes + 50 {
		m.RecordReasons("deny", reasons(fmt.Sprintf("custom.code_%d", i)))
	}
	m.RecordReasons("deny", reasons("custom.code_0")) // known before the cap: still its own
	m.RecordReasons("allow", reasons("custom.code_1"))
	text := scrape(t, m.Handler())
	codes := map[string]bool{}
	for line := range strings.Lines(text) {
		if !strings.HasPrefix(line, "pdp_decision_reasons_total{") {
			continue
		}
		_, rest, _ := strings.Cut(line, `code="`)
		code, _, _ := strings.Cut(rest, `"`)
		codes[code] = true
	}
	if len(codes) != MaxReasonCodes+1 {
		t.Errorf("%d distinct codes, want %d and other", len(codes), MaxReasonCodes)
	}
	for _, line := range []string{
		`pdp_decision_reasons_total{code="other",decision="deny"} 50`,
		`pdp_decision_reasons_total{code="custom.code_0",decision="deny"} 2`,
		`pdp_decision_reasons_total{code="custom.code_1",decision="allow"} 1`,
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("exposition lacks %q", line)
		}
	}
	if strings.Contains(text, fmt.Sprintf(`code="custom.code_%d"`, MaxReasonCodes)) {
		t.Errorf("a code beyond the cap has its own series")
	}
}

func TestReasonsCountedConcurrentlyAreAllCounted(t *testing.T) {
	t.Parallel()
	m := newTestMetrics(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 100 {
				m.RecordReasons("deny", reasons(fmt.Sprintf("custom.code_%d", i%10)))
			}
		})
	}
	wg.Wait()
	text := scrape(t, m.Handler())
	for i := range 10 {
		if line := fmt.Sprintf(`pdp_decision_reasons_total{code="custom.code_%d",decision="deny"} 80`, i); !strings.Contains(text, line+"\n") {
			t.Errorf("exposition lacks %q", line)
		}
	}
}

func TestCountingAKnownReasonAllocatesNothing(t *testing.T) {
	m := newTestMetrics(t)
	rs := reasons("network.ip_denied", "authz.role_forbidden")
	m.RecordReasons("deny", rs)
	if n := testing.AllocsPerRun(100, func() { m.RecordReasons("deny", rs) }); n != 0 {
		t.Errorf("RecordReasons allocates %v times per decision, want 0", n)
	}
}

func BenchmarkRecordDecision(b *testing.B) {
	m := newTestMetrics(b)
	rs := reasons("network.ip_denied", "authz.role_forbidden")
	b.ReportAllocs()
	for b.Loop() {
		m.RecordDecision("deny", 0)
		m.RecordReasons("deny", rs)
	}
}
