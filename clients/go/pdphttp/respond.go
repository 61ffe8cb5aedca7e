package pdphttp

import (
	"encoding/json"
	"net/http"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/pdp-dev/pdp/clients/go/pdpclient"
)

// ErrorBody is the JSON body of the middleware's 401, 403 and 503
// responses. Field names follow the API's JSON (lowerCamelCase).
type ErrorBody struct {
	// Error is "insufficient_user_authentication" (challenge),
	// "access_denied" (deny), "unauthenticated" (invalid credentials) or
	// "pdp_unavailable" (no decision).
	Error string `json:"error"`
	// Message is a short human-readable explanation.
	Message string `json:"message"`
	// DecisionID is the PDP's decision id, when there is one.
	DecisionID string `json:"decisionId,omitempty"`
	// ReasonCodes are the decision's reason codes, most severe first.
	ReasonCodes []string `json:"reasonCodes,omitempty"`
	// StepUps are the step-ups of a challenge, each a pdp.v1.StepUp in
	// protobuf JSON, for example {"kind":"STEP_UP_MFA","maxAge":"300s"}.
	StepUps []json.RawMessage `json:"stepUps,omitempty"`
}

// WriteChallenge writes the 401 response of a challenge: the RFC 9470
// WWW-Authenticate header with acr values from acr (nil means
// pdpclient.DefaultACRValues) and an ErrorBody listing the step-ups.
func WriteChallenge(w http.ResponseWriter, d *pdpclient.Decision, acr pdpclient.ACRValues) {
	c, ok := d.Challenge(acr)
	if !ok {
		WriteDeny(w, d)
		return
	}
	body := ErrorBody{
		Error:       "insufficient_user_authentication",
		Message:     c.Description,
		DecisionID:  d.ID(),
		ReasonCodes: d.ReasonCodes(),
	}
	for _, s := range d.StepUps() {
		b, err := protojson.Marshal(s)
		if err != nil {
			continue
		}
		body.StepUps = append(body.StepUps, b)
	}
	w.Header().Set("WWW-Authenticate", c.Header())
	writeJSON(w, http.StatusUnauthorized, body)
}

// WriteDeny writes the 403 response of a deny with the reason codes.
func WriteDeny(w http.ResponseWriter, d *pdpclient.Decision) {
	writeJSON(w, http.StatusForbidden, ErrorBody{
		Error:       "access_denied",
		Message:     "the request is denied by policy",
		DecisionID:  d.ID(),
		ReasonCodes: d.ReasonCodes(),
	})
}

// WriteUnavailable writes the 503 response used when no decision could be
// made. The error is not shown to the client.
func WriteUnavailable(w http.ResponseWriter, _ error) {
	writeJSON(w, http.StatusServiceUnavailable, ErrorBody{
		Error:   "pdp_unavailable",
		Message: "the authorization service could not decide; try again later",
	})
}

// WriteUnauthenticated writes the 401 response used when the identity of
// the request could not be established. The error is not shown to the
// client.
func WriteUnauthenticated(w http.ResponseWriter, _ error) {
	w.Header().Set("WWW-Authenticate", "Bearer")
	writeJSON(w, http.StatusUnauthorized, ErrorBody{
		Error:   "unauthenticated",
		Message: "valid credentials are required",
	})
}

func writeJSON(w http.ResponseWriter, code int, body ErrorBody) {
	b, err := json.Marshal(body)
	if err != nil {
		http.Error(w, http.StatusText(code), code)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
