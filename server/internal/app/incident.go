package app

import (
	"context"
	"fmt"
	"time"

	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/geo"
	"github.com/pdp-dev/pdp/server/internal/incident"
	"github.com/pdp-dev/pdp/server/internal/reload"
	"github.com/pdp-dev/pdp/server/internal/signals"
	"github.com/pdp-dev/pdp/server/internal/version"
)

// responders are the GeoIP database and incident response of a state.
type responders struct {
	geoDB        *geo.DB
	incident     *incident.Responder
	drainTimeout time.Duration
	// settings is what the last set loaded gave incident response.
	incidentSettings *incident.PolicyIndex
}

// openResponders opens the GeoIP database (--geoip-db) and starts incident
// response on the state's store and IP lists, with the webhook of
// --notify-url when given. On error, what it opened is closed by the
// state's close.
func (s *state) openResponders(cfg config.Config, o options) error {
	s.drainTimeout = cfg.ShutdownTimeout
	if cfg.GeoIPDB != "" {
		db, err := geo.Open(cfg.GeoIPDB, geo.Options{Logger: o.logger})
		if err != nil {
			return err
		}
		s.geoDB = db
	}
	var notifier incident.Notifier
	if cfg.NotifyURL != "" {
		var secret []byte
		if cfg.NotifySecretFile != "" {
			var err error
			if secret, err = incident.ReadSecretFile(cfg.NotifySecretFile); err != nil {
				return err
			}
		}
		hook, err := incident.NewWebhook(incident.WebhookOptions{
			URL:       cfg.NotifyURL,
			Secret:    secret,
			Timeout:   cfg.EffectiveNotifyTimeout(),
			UserAgent: "pdp/" + version.Version,
			Logger:    o.logger,
		})
		if err != nil {
			return fmt.Errorf("--notify-url: %w", err)
		}
		notifier = hook
	}
	r, err := incident.New(incident.Options{
		Suspender: s.store.State,
		Blocker:   s.ipRules.blocker,
		Auditor:   incidentAuditor{log: s.audit},
		Notifier:  notifier,
		Logger:    o.logger,
		Now:       o.now,
	})
	if err != nil {
		if notifier != nil {
			_ = notifier.Close(context.Background())
		}
		return err
	}
	s.incident = r
	return nil
}

// geo is the GeoIP lookup for the enricher and the recorder; nil without
// a database.
func (s *state) geo() signals.Geo {
	if s.geoDB == nil {
		return nil
	}
	return s.geoDB
}

// onLoadResponders takes the incident thresholds of a newly loaded set,
// reading its changed tenants only when it was loaded per tenant.
func (s *state) onLoadResponders(set reload.Set) {
	if s.incident == nil {
		return
	}
	if set.Changed != nil && s.responders.incidentSettings != nil {
		s.responders.incidentSettings = s.responders.incidentSettings.With(set.Tenants, set.Changed)
	} else {
		s.responders.incidentSettings = incident.NewPolicyIndex(set.Tenants)
	}
	s.incident.SetSettings(s.responders.incidentSettings.Settings)
}

// closeResponders drains the incident queue and the webhook (bounded by
// the shutdown timeout) and closes the GeoIP database. The store must
// still be open: queued suspensions write to it.
func (s *state) closeResponders() {
	if s.incident != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.drainTimeout)
		if err := s.incident.Close(ctx); err != nil {
			s.logger.Error("incident response did not drain before the shutdown timeout", "error", err.Error())
		}
		cancel()
	}
	if s.geoDB != nil {
		_ = s.geoDB.Close()
	}
}
