package pdphttp_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/pdp-dev/pdp/clients/go/pdphttp"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	proxies := pdphttp.ForwardedFor(netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8"))
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
		direct string
	}{
		{name: "direct client", remote: "203.0.113.7:5000", want: "203.0.113.7", direct: "203.0.113.7"},
		{name: "untrusted peer ignores the header", remote: "203.0.113.7:5000", xff: []string{"198.51.100.1"},
			want: "203.0.113.7", direct: "203.0.113.7"},
		{name: "one proxy", remote: "10.0.0.2:80", xff: []string{"198.51.100.1"}, want: "198.51.100.1", direct: "10.0.0.2"},
		{name: "spoofed hop left of the real client", remote: "10.0.0.2:80", xff: []string{"1.1.1.1, 198.51.100.1"},
			want: "198.51.100.1", direct: "10.0.0.2"},
		{name: "chain of proxies over two headers", remote: "10.0.0.2:80", xff: []string{"1.1.1.1, 198.51.100.1", "10.1.2.3"},
			want: "198.51.100.1", direct: "10.0.0.2"},
		{name: "ipv6 client with port", remote: "[fd00::1]:443", xff: []string{"[2001:db8::7]:1234"},
			want: "2001:db8::7", direct: "fd00::1"},
		{name: "mapped ipv4", remote: "[::ffff:10.0.0.2]:80", xff: []string{"::ffff:198.51.100.1"},
			want: "198.51.100.1", direct: "10.0.0.2"},
		{name: "malformed hop yields no ip", remote: "10.0.0.2:80", xff: []string{"198.51.100.1, unknown"},
			want: "", direct: "10.0.0.2"},
		{name: "only proxies", remote: "10.0.0.2:80", xff: []string{"10.9.9.9"}, want: "10.9.9.9", direct: "10.0.0.2"},
		{name: "trusted peer without header", remote: "10.0.0.2:80", want: "10.0.0.2", direct: "10.0.0.2"},
		{name: "unix socket", remote: "@", want: "", direct: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := proxies(r); got != tt.want {
				t.Errorf("ForwardedFor = %q; want %q", got, tt.want)
			}
			if got := pdphttp.RemoteIP(r); got != tt.direct {
				t.Errorf("RemoteIP = %q; want %q", got, tt.direct)
			}
		})
	}
}
