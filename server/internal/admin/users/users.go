// Package users implements the user part of pdp.v1.PolicyAdminService:
// GetUserProfile, ResetUserMFA, UnsuspendUser, ExportUserData and
// EraseUserData. Every call names a tenant the caller may administer and a
// reason, and is appended to the audit log, reads included, because a
// profile is personal data.
package users

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/admin/guard"
	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/store"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

// Audit actions this service records.
const (
	ActionRead      = "user.read"
	ActionMFAReset  = "user.mfa_reset"
	ActionUnsuspend = "user.unsuspend"
	ActionExport    = "user.export"
	ActionErase     = "user.erase"
)

// MaxExportedEvents bounds the audit events ExportUserData returns.
const MaxExportedEvents = 10000

// Options are what a Service needs.
type Options struct {
	// Store keeps the profiles; required.
	Store store.Store
	// Audit records every call; required.
	Audit audit.Log
	// SSF keeps the effects of Shared Signals events; EraseUserData drops
	// those naming the user. Nil when the server keeps none.
	SSF SSFEraser
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives what clients are not told; discarded when nil.
	Logger *slog.Logger
}

// SSFEraser drops the Shared Signals effects naming a user; every
// ssf.Store implements it.
type SSFEraser interface {
	DeleteUser(ctx context.Context, tenant, userID string) (int, error)
}

// Service implements the user RPCs. Its methods have the signatures of
// pdpv1.PolicyAdminServiceServer.
type Service struct {
	opts Options
}

// New returns a Service; it fails when a required option is missing.
func New(opts Options) (*Service, error) {
	if opts.Store == nil || opts.Audit == nil {
		return nil, fault.New(fault.Internal, "admin users: Store and Audit are required")
	}
	opts.Now, opts.Logger = guard.Clock(opts.Now), guard.Logger(opts.Logger)
	return &Service{opts: opts}, nil
}

// userFields names the audit record's fields as the requests name them.
var userFields = map[string]string{"target": "user_id"}

// admit checks a request's fields, that the audit log will take the
// call's record and the caller's tenant, before anything is read or
// changed, and returns the record (Before and After left to the caller).
func (s *Service) admit(ctx context.Context, action, tenant, userID, reason string) (audit.Entry, error) {
	var v fault.Violations
	tenantdata.CheckTenant(&v, "tenant", tenant)
	guard.Require(&v, "user_id", userID, "reason", reason)
	e := audit.Entry{
		Time: s.opts.Now(), Actor: guard.Actor(ctx), Action: action, Tenant: tenant, Target: userID, Reason: reason,
	}
	guard.Admit(&v, e, userFields)
	if err := v.Err(); err != nil {
		return audit.Entry{}, err
	}
	return e, guard.Tenant(ctx, tenant)
}

// audited records a read; the data is returned only once it is recorded.
func (s *Service) audited(ctx context.Context, e audit.Entry) error {
	return guard.Audited(ctx, s.opts.Audit, e)
}

// GetUserProfile returns what the PDP remembers about a user.
func (s *Service) GetUserProfile(ctx context.Context, req *pdpv1.GetUserProfileRequest) (*pdpv1.GetUserProfileResponse, error) {
	rec, err := s.admit(ctx, ActionRead, req.GetTenant(), req.GetUserId(), req.GetReason())
	if err != nil {
		return nil, err
	}
	p, err := store.LoadProfile(ctx, s.opts.Store, req.GetTenant(), req.GetUserId())
	if err != nil {
		return nil, err
	}
	if err := s.audited(ctx, rec); err != nil {
		return nil, err
	}
	return &pdpv1.GetUserProfileResponse{Profile: Profile(p, s.opts.Now())}, nil
}

// ResetUserMFA records that the user's second factor was reset: from now
// on the user counts as not enrolled (signals carry mfa_reset_at) until a
// later successful MFA.
func (s *Service) ResetUserMFA(ctx context.Context, req *pdpv1.ResetUserMFARequest) (*pdpv1.ResetUserMFAResponse, error) {
	rec, err := s.admit(ctx, ActionMFAReset, req.GetTenant(), req.GetUserId(), req.GetReason())
	if err != nil {
		return nil, err
	}
	now := s.opts.Now().UTC()
	rec.After = map[string]any{"mfa_reset_at": now.Format(time.RFC3339Nano)}
	if err := guard.Commit(ctx, s.opts.Audit, rec, func(ctx context.Context, _ *audit.Entry) error {
		return s.opts.Store.ResetMFA(ctx, req.GetTenant(), req.GetUserId(), now)
	}); err != nil {
		return nil, err
	}
	p, err := store.LoadProfile(ctx, s.opts.Store, req.GetTenant(), req.GetUserId())
	if err != nil {
		return nil, err
	}
	return &pdpv1.ResetUserMFAResponse{Profile: Profile(p, now)}, nil
}

// UnsuspendUser lifts a suspension.
func (s *Service) UnsuspendUser(ctx context.Context, req *pdpv1.UnsuspendUserRequest) (*pdpv1.UnsuspendUserResponse, error) {
	rec, err := s.admit(ctx, ActionUnsuspend, req.GetTenant(), req.GetUserId(), req.GetReason())
	if err != nil {
		return nil, err
	}
	before, err := store.LoadProfile(ctx, s.opts.Store, req.GetTenant(), req.GetUserId())
	if err != nil {
		return nil, err
	}
	now := s.opts.Now().UTC()
	next := store.Suspension{Suspended: false, Reason: req.GetReason(), At: now, By: guard.Actor(ctx)}
	rec.Before, rec.After = suspensionDocument(before.Suspension), suspensionDocument(next)
	if err := guard.Commit(ctx, s.opts.Audit, rec, func(ctx context.Context, _ *audit.Entry) error {
		return s.opts.Store.SetSuspension(ctx, req.GetTenant(), req.GetUserId(), next)
	}); err != nil {
		return nil, err
	}
	p, err := store.LoadProfile(ctx, s.opts.Store, req.GetTenant(), req.GetUserId())
	if err != nil {
		return nil, err
	}
	return &pdpv1.UnsuspendUserResponse{Profile: Profile(p, now)}, nil
}

func suspensionDocument(s store.Suspension) map[string]any {
	doc := map[string]any{"suspended": s.Suspended, "reason": s.Reason, "by": s.By}
	if !s.At.IsZero() {
		doc["at"] = s.At.UTC().Format(time.RFC3339Nano)
	}
	return doc
}

// ExportUserData returns everything stored about a user: the profile and
// the audit events that target the user, oldest first.
func (s *Service) ExportUserData(ctx context.Context, req *pdpv1.ExportUserDataRequest) (*pdpv1.ExportUserDataResponse, error) {
	rec, err := s.admit(ctx, ActionExport, req.GetTenant(), req.GetUserId(), req.GetReason())
	if err != nil {
		return nil, err
	}
	out := &pdpv1.ExportUserDataResponse{}
	p := new(store.Profile)
	ok, err := s.opts.Store.GetProfile(ctx, req.GetTenant(), req.GetUserId(), p)
	if err != nil {
		return nil, err
	}
	if ok {
		out.Profile = Profile(p, s.opts.Now())
	}
	q := audit.Query{Tenant: req.GetTenant(), Target: req.GetUserId(), Limit: guard.MaxPageSize}
	for len(out.AuditEvents) < MaxExportedEvents {
		events, next, err := s.opts.Audit.List(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, e := range events {
			out.AuditEvents = append(out.AuditEvents, guard.AuditEvent(e))
		}
		if next == 0 {
			break
		}
		q.After = next
	}
	if !ok && len(out.AuditEvents) == 0 {
		return nil, fault.New(fault.NotFound, "nothing is stored about user %q of tenant %q", req.GetUserId(), req.GetTenant())
	}
	if err := s.audited(ctx, rec); err != nil {
		return nil, err
	}
	return out, nil
}

// EraseUserData removes the user's profile, the user's entries in every
// IP failure record and the Shared Signals effects naming the user id, in
// the audited change: records_removed counts the profile (or the failure
// entries) as one and each effect. The audit event names the user id
// only; the audit log itself is append-only and keeps earlier events.
func (s *Service) EraseUserData(ctx context.Context, req *pdpv1.EraseUserDataRequest) (*pdpv1.EraseUserDataResponse, error) {
	rec, err := s.admit(ctx, ActionErase, req.GetTenant(), req.GetUserId(), req.GetReason())
	if err != nil {
		return nil, err
	}
	var n uint64
	err = guard.Commit(ctx, s.opts.Audit, rec, func(ctx context.Context, e *audit.Entry) error {
		removed, err := s.opts.Store.DeleteUser(ctx, req.GetTenant(), req.GetUserId())
		if err != nil {
			return err
		}
		if removed {
			n = 1
		}
		if s.opts.SSF != nil {
			effects, err := s.opts.SSF.DeleteUser(ctx, req.GetTenant(), req.GetUserId())
			if err != nil {
				return err
			}
			n += uint64(effects)
		}
		e.After = map[string]any{"records_removed": n}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pdpv1.EraseUserDataResponse{RecordsRemoved: n}, nil
}

// Profile turns a stored profile into its API message; failed_logins
// counts the failures within store.DefaultFailureWindow before now.
func Profile(p *store.Profile, now time.Time) *pdpv1.UserProfile {
	out := &pdpv1.UserProfile{
		Tenant: p.Tenant, UserId: p.UserID, LoginCount: uint64(max(p.LoginCount, 0)),
		FailedLogins: uint32(p.FailedLoginsSince(now.Add(-store.DefaultFailureWindow))),
		Suspended:    p.Suspension.Suspended, SuspendedReason: p.Suspension.Reason,
		SuspendedAt: stamp(p.Suspension.At), MfaResetAt: stamp(p.MFAResetAt),
		LoginHours: make([]uint32, len(p.Hours)),
	}
	for _, d := range p.Devices {
		out.Devices = append(out.Devices, &pdpv1.KnownDevice{Id: d.Key, FirstSeen: stamp(d.FirstSeen), LastSeen: stamp(d.LastSeen)})
	}
	for _, c := range p.Countries {
		out.Countries = append(out.Countries, &pdpv1.KnownCountry{Country: c.Key, LastSeen: stamp(c.LastSeen)})
	}
	for i, h := range p.Hours {
		out.LoginHours[i] = uint32(max(h.Count, 0))
	}
	if len(p.Actions) > 0 {
		out.ActionsSeen = make(map[string]*timestamppb.Timestamp, len(p.Actions))
		for _, a := range p.Actions {
			out.ActionsSeen[a.Key] = stamp(a.LastSeen)
		}
	}
	if l := p.LastLogin; !l.Time.IsZero() {
		out.LastLogin = &pdpv1.LoginRecord{Time: stamp(l.Time), Country: l.Country}
		if l.IP.IsValid() {
			out.LastLogin.Ip = l.IP.String()
		}
		if l.HasLocation {
			out.LastLogin.Latitude, out.LastLogin.Longitude = &l.Latitude, &l.Longitude
		}
	}
	return out
}

func stamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
