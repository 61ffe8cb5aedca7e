package config

import (
	"strings"
	"testing"
	"time"
)

func TestHTTPTimeoutsFromFlagsAndEnvironment(t *testing.T) {
	t.Parallel()
	c, err := parse(t, []string{"--http-body-timeout", "3s"},
		map[string]string{"PDP_HTTP_HEADER_TIMEOUT": "2s", "PDP_HTTP_IDLE_TIMEOUT": "30s"})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPBodyTimeout != 3*time.Second || c.HTTPHeaderTimeout != 2*time.Second || c.HTTPIdleTimeout != 30*time.Second {
		t.Fatalf("got %+v", c.HTTPTimeouts)
	}
}

func TestHTTPTimeoutsMustBePositive(t *testing.T) {
	t.Parallel()
	c := Default()
	c.HTTPHeaderTimeout, c.HTTPBodyTimeout, c.HTTPIdleTimeout = 0, -time.Second, 2*time.Hour
	err := c.Validate()
	for _, want := range []string{"--http-header-timeout 0s", "--http-body-timeout -1s", "--http-idle-timeout 2h0m0s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}
