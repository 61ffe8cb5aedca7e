package httpapi

import (
	"encoding/json"
	"net/http"

	"google.golang.org/grpc/status"

	"github.com/pdp-dev/pdp/server/internal/rpcstatus"
)

func writeStatus(w http.ResponseWriter, st *status.Status) {
	writeErrorBody(w, rpcstatus.HTTPStatusCode(st.Code()), rpcstatus.Body(st))
}

func writeErrorBody(w http.ResponseWriter, httpStatus int, b rpcstatus.ErrorBody) {
	writeJSON(w, httpStatus, b)
}

func writeJSON(w http.ResponseWriter, httpStatus int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"code":"INTERNAL","message":"internal error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(append(body, '\n'))
}
