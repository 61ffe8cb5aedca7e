package authn_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/authn"
)

const (
	oktaKey  = "pdp_okta-transmitter-key-for-tests-000000000000"
	adminKy2 = "pdp_admin-key-of-the-transmitter-test-0000000"
)

func transmitterKeys(t *testing.T) *authn.KeySet {
	t.Helper()
	set, err := authn.ParseKeys([]byte(
		"- name: okta\n  key_sha256: " + authn.HashKey(oktaKey) + "\n  role: transmitter\n  streams: [okta]\n" +
			"- name: root\n  key_sha256: " + authn.HashKey(adminKy2) + "\n  role: admin\n"))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestTransmitterKeysNeedStreamsAndOnlyTransmittersHaveThem(t *testing.T) {
	t.Parallel()
	_, err := authn.ParseKeys([]byte(
		"- name: a\n  key_sha256: " + authn.HashKey("a") + "\n  role: transmitter\n" +
			"- name: b\n  key_sha256: " + authn.HashKey("b") + "\n  role: pep\n  streams: [okta]\n" +
			"- name: c\n  key_sha256: " + authn.HashKey("c") + "\n  role: transmitter\n  streams: [okta]\n  tenants: [acme]\n"))
	if err == nil {
		t.Fatal("ParseKeys accepted a transmitter without streams, a pep with streams and a transmitter with tenants")
	}
	for _, want := range []string{`key 1 ("a"): a transmitter needs at least one stream`, `key 2 ("b"): streams apply to the transmitter role only`, `key 3 ("c"): tenants apply`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	e, ok := transmitterKeys(t).Lookup(oktaKey)
	if !ok || e.Role != authn.RoleTransmitter || len(e.Streams) != 1 || e.Streams[0] != "okta" {
		t.Fatalf("Lookup = %+v, %v", e, ok)
	}
}

func TestTransmitterPushesOnlyToItsStreamsAndRefusalsSpeakRFC8935(t *testing.T) {
	t.Parallel()
	a := authn.New(authn.Options{Keys: authn.NewStaticKeys(transmitterKeys(t))})
	srv := httptest.NewServer(a.HTTPMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stream := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, authn.SSFPathPrefix), "/events")
		if !authn.AllowedStream(r.Context(), stream) {
			authn.WriteSETError(w, "access_denied", "not your stream")
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})))
	t.Cleanup(srv.Close)
	tests := []struct {
		name, path, key string
		want            int
		wantErr         string
	}{
		{"transmitter to its stream", "/ssf/streams/okta/events", oktaKey, 202, ""},
		{"transmitter to another stream", "/ssf/streams/azure/events", oktaKey, 400, "access_denied"},
		{"admin to any stream", "/ssf/streams/azure/events", adminKy2, 202, ""},
		{"no key", "/ssf/streams/okta/events", "", 400, "authentication_failed"},
		{"unknown key", "/ssf/streams/okta/events", strangers, 400, "authentication_failed"},
		{"transmitter asking a decision", "/v1/check", oktaKey, 403, ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+tt.path, strings.NewReader("x"))
		if tt.key != "" {
			req.Header.Set("Authorization", "Bearer "+tt.key)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tt.want || body["err"] != tt.wantErr {
			t.Errorf("%s: %d %v, want %d err %q", tt.name, resp.StatusCode, body, tt.want, tt.wantErr)
		}
	}
}

func TestAllowedStreamWithoutKeysOrCaller(t *testing.T) {
	t.Parallel()
	if authn.AllowedStream(context.Background(), "okta") {
		t.Error("a context without a caller may push")
	}
	if !authn.AllowedStream(authn.WithCaller(context.Background(), authn.Caller{Anonymous: true}), "okta") {
		t.Error("without keys the signature alone decides, but the caller was refused")
	}
	if authn.AllowedStream(authn.WithCaller(context.Background(), authn.Caller{Role: authn.RolePEP}), "okta") {
		t.Error("a pep may push")
	}
}
