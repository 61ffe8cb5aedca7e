package httpapi_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decide"
	"github.com/pdp-dev/pdp/server/internal/pdpsvc"
	"github.com/pdp-dev/pdp/server/internal/pdpsvc/pdpsvctest"
)

// The test doubles are pdpsvctest's; these names keep the tests short.
type (
	fakeRecorder = pdpsvctest.Applier
	logBuffer    = pdpsvctest.LogBuffer
)

func newService(t *testing.T) *pdpsvc.Service { return pdpsvctest.Service(t) }

func decisionService(t testing.TB, ev decide.Evaluator, ap decide.Applier, now time.Time) *pdpsvc.Service {
	return pdpsvctest.ServiceOver(t, ev, ap, now)
}

func newLogger() (*slog.Logger, *logBuffer) { return pdpsvctest.NewLogger() }
