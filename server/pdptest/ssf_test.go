package pdptest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/ssf/receiver/settest"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// ssfStream writes a --ssf-config file with one push stream "idp" of
// tenant acme for iss and aud, verified with tr's keys, and returns the
// option that serves it.
func ssfStream(t *testing.T, tr *settest.Transmitter, iss, aud string) pdptest.Option {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf("- name: idp\n  tenant: acme\n  issuer: %q\n  audience: %q\n  jwks_file: %s\n  delivery: push\n",
		iss, aud, tr.WriteJWKS(t, dir, "jwks.json"))
	path := filepath.Join(dir, "ssf.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return pdptest.WithConfig(func(c *config.Config) { c.SSFConfig = path })
}

// pushSET posts a SET to the stream and returns the status and the
// RFC 8935 err code of a refusal.
func pushSET(t *testing.T, c *http.Client, base, stream, set string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/ssf/streams/"+stream+"/events", strings.NewReader(set))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/secevent+jwt")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e struct {
		Err string `json:"err"`
	}
	_ = json.Unmarshal(body, &e)
	return resp.StatusCode, e.Err
}

func TestPushedSETsAreAcceptedOrRefusedAsRFC8935Says(t *testing.T) {
	t.Parallel()
	claims := settest.Example(t, "caep-session-revoked-simple")
	tr := settest.NewTransmitter(t, "RS256", "k1")
	clock := pdptest.NewClock(caepTime.Add(5 * time.Second))
	srv := pdptest.StartWithClock(t, clock, ssfStream(t, tr, claims["iss"].(string), claims["aud"].(string)))

	if code, errCode := pushSET(t, srv.HTTP, srv.HTTPURL, "idp", tr.Sign(t, claims)); code != http.StatusAccepted {
		t.Fatalf("the spec's example: %d %s, want 202", code, errCode)
	}
	if code, errCode := pushSET(t, srv.HTTP, srv.HTTPURL, "idp", tr.Sign(t, claims)); code != http.StatusBadRequest || errCode != "invalid_request" {
		t.Fatalf("the same jti again: %d %q, want 400 invalid_request", code, errCode)
	}
	other := settest.NewTransmitter(t, "RS256", "k1")
	claims["jti"] = "another"
	if code, errCode := pushSET(t, srv.HTTP, srv.HTTPURL, "idp", other.Sign(t, claims)); code != http.StatusBadRequest || errCode != "authentication_failed" {
		t.Fatalf("another key's signature: %d %q, want 400 authentication_failed", code, errCode)
	}
	if code, _ := pushSET(t, srv.HTTP, srv.HTTPURL, "nope", tr.Sign(t, claims)); code != http.StatusNotFound {
		t.Fatalf("an unknown stream: %d, want 404", code)
	}
}

func TestTransmitterKeysPushOnlyToTheirStreams(t *testing.T) {
	t.Parallel()
	claims := settest.Example(t, "caep-session-revoked-simple")
	tr := settest.NewTransmitter(t, "ES256", "k1")
	pep := pdptest.NewKey(t, "gateway", "pep")
	idp := pdptest.NewTransmitterKey(t, "idp", "idp")
	elsewhere := pdptest.NewTransmitterKey(t, "other-idp", "other")
	clock := pdptest.NewClock(caepTime.Add(5 * time.Second))
	srv := pdptest.StartWithClock(t, clock, pdptest.WithAPIKeys(t, pep, idp, elsewhere),
		ssfStream(t, tr, claims["iss"].(string), claims["aud"].(string)))
	set := tr.Sign(t, claims)
	for _, tc := range []struct {
		name, key, want string
		status          int
	}{
		{"no key", "", "authentication_failed", 400},
		{"a pep key", pep.Key, "access_denied", 400},
		{"another stream's transmitter", elsewhere.Key, "access_denied", 400},
		{"the stream's transmitter", idp.Key, "", 202},
	} {
		if code, errCode := pushSET(t, srv.HTTPAs(tc.key), srv.HTTPURL, "idp", set); code != tc.status || errCode != tc.want {
			t.Errorf("%s: %d %q, want %d %q", tc.name, code, errCode, tc.status, tc.want)
		}
	}
}

// caepTime is the iat of the CAEP specification's examples.
var caepTime = time.Unix(1615305159, 0).UTC()
