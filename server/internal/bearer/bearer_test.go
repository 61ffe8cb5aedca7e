package bearer_test

import (
	"testing"

	"github.com/pdp-dev/pdp/server/internal/bearer"
)

func TestTokenReadsTheBearerCredentialsOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		authorization string
		token         string
		ok            bool
	}{
		{"Bearer abc.def", "abc.def", true},
		{"bearer abc", "abc", true},
		{"BEARER abc", "abc", true},
		{"  Bearer   abc  ", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer    ", "", false},
		{"Basic dXNlcjpwYXNz", "", false},
		{"Bearerabc", "", false},
		{"Bearer\tabc", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		token, ok := bearer.Token(tt.authorization)
		if token != tt.token || ok != tt.ok {
			t.Errorf("Token(%q) = %q, %v; want %q, %v", tt.authorization, token, ok, tt.token, tt.ok)
		}
	}
}
