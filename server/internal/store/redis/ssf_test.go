package redis

import (
	"testing"

	"github.com/pdp-dev/pdp/server/internal/ssf"
	"github.com/pdp-dev/pdp/server/internal/ssf/ssftest"
	"github.com/pdp-dev/pdp/server/internal/store/redis/redistest"
)

func TestSSFConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ssftest.Run(t, func(t *testing.T) ssf.Store { return openStore(t, srv, Options{}).SSF() })
}
