package receiver

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/pdp-dev/pdp/server/internal/authn"
)

// Mount serves the push endpoint, POST /ssf/streams/{name}/events, in
// front of next (every other path). A SET is accepted with 202 and refused
// with 400 and {"err", "description"} (RFC 8935 section 2.3); the caller
// must be allowed to push to the stream (authn.AllowedStream: without API
// keys anyone may, and the signature alone decides). A store or audit log
// that fails answers 503, so that the transmitter sends the SET again.
func Mount(r *Receiver, next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", next)
	mux.HandleFunc("POST "+authn.SSFPathPrefix+"{name}/events", r.push)
	return mux
}

func (r *Receiver) push(w http.ResponseWriter, req *http.Request) {
	name := req.PathValue("name")
	if !authn.AllowedStream(req.Context(), name) {
		authn.WriteSETError(w, ErrAccessDenied, "the key may not push to this stream")
		return
	}
	if r.current.Load().byName[name] == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"err":"invalid_request","description":"no such stream"}`+"\n")
		return
	}
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || !strings.EqualFold(mt, "application/secevent+jwt") {
		authn.WriteSETError(w, ErrInvalidRequest, "Content-Type must be application/secevent+jwt")
		return
	}
	raw, err := io.ReadAll(io.LimitReader(req.Body, MaxSETBytes+1))
	if err != nil {
		authn.WriteSETError(w, ErrInvalidRequest, "the body could not be read")
		return
	}
	err = r.Receive(req.Context(), name, []byte(strings.TrimSpace(string(raw))))
	var se *SETError
	switch {
	case err == nil:
		w.WriteHeader(http.StatusAccepted)
	case errors.As(err, &se):
		authn.WriteSETError(w, se.Code, se.Description)
	default:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "the event could not be stored; send it again", http.StatusServiceUnavailable)
	}
}
