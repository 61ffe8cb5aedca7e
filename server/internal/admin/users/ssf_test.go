package users_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/admin/users"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/ssf"
	"github.com/pdp-dev/pdp/server/internal/store/backend"
	"github.com/pdp-dev/pdp/server/internal/store/redis/redistest"
)

// TestErasingAUserDropsTheirSharedSignalsEffects erases, on every
// backend, a user whom Shared Signals events revoked a session of and
// disabled: the effects go with the profile, so the user created again
// with the id is not disabled, and other users keep theirs.
func TestErasingAUserDropsTheirSharedSignalsEffects(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	for _, spec := range []config.StoreSpec{
		{Kind: config.StoreMemory},
		{Kind: config.StoreBolt, Path: filepath.Join(t.TempDir(), "pdp.db")},
		{Kind: config.StoreRedis, URL: srv.URL(0)},
	} {
		t.Run(spec.Kind, func(t *testing.T) {
			b, err := backend.Open(spec, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			svc, err := users.New(users.Options{Store: b.State, Audit: b.Audit, SSF: b.SSF, Now: func() time.Time { return t0 }})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for jti, sub := range map[string]ssf.Subject{
				"revoked":  {User: "u1", Session: "s1"},
				"disabled": {User: "u1"},
				"u2's":     {User: "u2"},
			} {
				event := "account-disabled"
				if sub.Session != "" {
					event = "session-revoked"
				}
				e := ssf.Effect{Tenant: "acme", Stream: "idp", JTI: jti, Event: event, Subject: sub,
					At: t0.Add(-time.Minute), Received: t0, Until: t0.Add(24 * time.Hour)}
				if err := b.SSF.Apply(ctx, e, t0.Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			erased, err := svc.EraseUserData(acmeAdmin, &pdpv1.EraseUserDataRequest{Tenant: "acme", UserId: "u1", Reason: "GDPR art. 17"})
			if err != nil || erased.GetRecordsRemoved() != 2 {
				t.Fatalf("EraseUserData = %v, %v; want the two effects removed", erased, err)
			}
			if got, err := b.SSF.Read(ctx, "acme", ssf.Keys(ssf.Request{User: "u1", Session: "s1"}), t0, nil); err != nil || len(got) != 0 {
				t.Errorf("u1 created again reads %+v, %v; want nothing", got, err)
			}
			if got, err := b.SSF.Read(ctx, "acme", ssf.Keys(ssf.Request{User: "u2"}), t0, nil); err != nil || len(got) != 1 {
				t.Errorf("u2 reads %+v, %v; want its own effect", got, err)
			}
		})
	}
}
