package iplists

import (
	"encoding/base64"
	"errors"
	"strings"
)

// Page tokens are opaque to clients: the base64url of "1", the tenant, the
// list and the last id of the page, NUL-separated, so a token is refused
// when it is sent with another tenant or list than the page it came from.

const tokenVersion = "1"

func encodeToken(tenant, list, last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(tokenVersion + "\x00" + tenant + "\x00" + list + "\x00" + last))
}

// decodeToken returns the id a page continues after; "" for no token.
func decodeToken(token, tenant, list string) (string, error) {
	if token == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", errors.New("not a page token of this server")
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 4 || parts[0] != tokenVersion || parts[3] == "" {
		return "", errors.New("not a page token of this server")
	}
	if parts[1] != tenant || parts[2] != list {
		return "", errors.New("the token belongs to a listing of another tenant or list")
	}
	return parts[3], nil
}
