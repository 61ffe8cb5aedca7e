// Package bearer reads the credentials of an "Authorization: Bearer
// <token>" value (RFC 6750 section 2.1). It is the one parser of the PDP's
// doors: the API-key check (authn) and the gateways' user tokens (extauthz,
// forwardauth) read the header alike.
package bearer

import "strings"

// Token is the token of an Authorization value: the scheme "Bearer" in any
// case (RFC 9110 section 11.1), one or more spaces, then the token, with
// surrounding whitespace trimmed. ok is false for another scheme, a value
// without a token, or an empty one.
func Token(authorization string) (token string, ok bool) {
	scheme, token, found := strings.Cut(strings.TrimSpace(authorization), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
