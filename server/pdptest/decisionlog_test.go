package pdptest_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/fulldisk"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// eachLogLine decodes each line of the decision log file at path into a
// new T and calls fn with it and the line as written.
func eachLogLine[T any](t *testing.T, path string, fn func(line T, text string)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line T
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		fn(line, sc.Text())
	}
}

// metricValue reads one unlabelled sample from the server's /metrics.
func metricValue(t *testing.T, s *pdptest.Server, name string) string {
	t.Helper()
	resp, err := s.HTTP.Get(s.HTTPURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics lacks %s", name)
	}
	return string(m[1])
}

func TestDecisionLogBlockModeWithholdsDecisionsOnAFullDisk(t *testing.T) {
	t.Parallel()
	dir := fulldisk.Mount(t, 256<<10)
	path := filepath.Join(dir, "decisions.log")
	s := pdptest.Start(t,
		pdptest.WithTenant("sec.yaml", secTenant),
		pdptest.WithConfig(func(c *config.Config) {
			c.DecisionLog = path
			c.DecisionLogMode = "block"
		}),
	)
	for _, name := range []string{"pdp_decision_log_dropped_total", "pdp_decision_log_failed_total"} {
		if v := metricValue(t, s, name); v != "0" {
			t.Fatalf("%s starts at %s, want 0", name, v)
		}
	}
	var answered []string
	check := func() error {
		resp, err := s.Decisions.Check(secCtx(t), secCheck())
		if err == nil {
			answered = append(answered, resp.GetDecisionId())
		}
		return err
	}
	if err := check(); err != nil {
		t.Fatal(err)
	}

	free := fulldisk.Fill(t, dir)
	failed := 0
	for range 40 {
		err := check()
		if err == nil {
			continue
		}
		failed++
		if st := status.Convert(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "decision log") {
			t.Fatalf("Check on a full disk = %v, want UNAVAILABLE naming the decision log", err)
		}
	}
	if failed == 0 {
		t.Fatal("every Check was answered although the decision log's disk was full")
	}
	if code, body := postJSON(t, s.HTTPURL+"/v1/check",
		`{"tenant":"sec","environment":"development","subject":{"id":"u1","roles":["member"]},"action":{"name":"api.read"}}`); code != http.StatusServiceUnavailable {
		t.Errorf("POST /v1/check on a full disk = %d %s, want 503", code, body)
	} else {
		failed++
	}
	if v := metricValue(t, s, "pdp_decision_log_failed_total"); v != strconv.Itoa(failed) {
		t.Errorf("pdp_decision_log_failed_total = %s, want %d", v, failed)
	}

	free()
	if err := check(); err != nil {
		t.Fatalf("Check after space returned: %v; the log did not resume by itself", err)
	}
	s.Stop()

	type logLine struct {
		DecisionID string `json:"decision_id"`
	}
	var logged []string
	eachLogLine(t, path, func(line logLine, _ string) {
		logged = append(logged, line.DecisionID)
	})
	if !slices.Equal(logged, answered) {
		t.Fatalf("logged decision ids %v, want exactly the answered %v", logged, answered)
	}
}
