// Package guard holds what every admin handler does first: name the
// actor, check that the caller may administer the tenant, require a
// reason, read page tokens, and turn audit events and policies into the
// shapes of the API; and the defaults of the options every admin service
// takes (Clock, Logger).
package guard

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// Anonymous is the actor of a call on a server without API keys and
// without a client certificate.
const Anonymous = "anonymous"

// Page sizes of the list calls.
const (
	// DefaultPageSize is the page size when a request names none.
	DefaultPageSize = 100
	// MaxPageSize is the largest page a request may ask for.
	MaxPageSize = 1000
)

// Clock is now, or time.Now when now is nil: an admin service's Now
// option.
func Clock(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

// Logger is l, or a logger that discards when l is nil: an admin
// service's Logger option.
func Logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// Actor names the caller in ctx for the audit log: the API key's name,
// else the client certificate's identity, else Anonymous.
func Actor(ctx context.Context) string {
	c, _ := authn.CallerFrom(ctx)
	switch {
	case c.Name != "":
		return c.Name
	case c.CertIdentity != "":
		return c.CertIdentity
	}
	return Anonymous
}

// Tenant fails with PermissionDenied unless the caller in ctx may
// administer tenant (authn.AllowedTenant). The message names the tenant,
// which the caller sent, and nothing about the caller's other tenants.
func Tenant(ctx context.Context, tenant string) error {
	if authn.AllowedTenant(ctx, tenant) {
		return nil
	}
	return fault.New(fault.PermissionDenied, "the caller may not administer tenant %q", tenant)
}

// Tenants returns the tenants the caller in ctx is restricted to, or nil
// when it may administer every tenant (an admin, or a server without
// keys). A caller that may administer none gets an empty, non-nil list.
func Tenants(ctx context.Context) []string {
	c, ok := authn.CallerFrom(ctx)
	if ok && (c.Anonymous || c.Role == authn.RoleAdmin) {
		return nil
	}
	if ok && c.Role == authn.RoleTenantAdmin {
		return append([]string{}, c.Tenants...)
	}
	return []string{}
}

// Require adds a "required" violation for each named field whose value is
// empty, in the order given as name, value pairs.
func Require(v *fault.Violations, pairs ...string) {
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			v.Add(pairs[i], "required")
		}
	}
}

// PageSize returns the page size a request asks for, DefaultPageSize when
// zero; a negative size or one above MaxPageSize is a violation of
// page_size.
func PageSize(v *fault.Violations, size int32) int {
	switch {
	case size == 0:
		return DefaultPageSize
	case size < 0 || size > MaxPageSize:
		v.Add("page_size", "must be between 1 and %d, not %d", MaxPageSize, size)
		return DefaultPageSize
	}
	return int(size)
}

// EncodeToken makes an opaque page token of a position.
func EncodeToken(position string) string {
	if position == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(position))
}

// DecodeToken reads a token EncodeToken made; a malformed one is a
// violation of page_token.
func DecodeToken(v *fault.Violations, token string) string {
	if token == "" {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) == 0 {
		v.Add("page_token", "not a token this server issued")
		return ""
	}
	return string(b)
}

// SeqToken is EncodeToken of an audit sequence number (none at 0).
func SeqToken(seq uint64) string {
	if seq == 0 {
		return ""
	}
	return EncodeToken(strconv.FormatUint(seq, 10))
}

// DecodeSeqToken reads a SeqToken.
func DecodeSeqToken(v *fault.Violations, token string) uint64 {
	s := DecodeToken(v, token)
	if s == "" {
		return 0
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		v.Add("page_token", "not a token this server issued")
	}
	return n
}

// Document turns a message into the JSON-like value the audit log keeps
// as before or after; nil for a nil message.
func Document(m proto.Message) map[string]any {
	if m == nil || !m.ProtoReflect().IsValid() {
		return nil
	}
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return map[string]any{"error": "not encodable"}
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return map[string]any{"error": "not encodable"}
	}
	return out
}

// AuditEvent turns an audit event into its API message.
func AuditEvent(e audit.Event) *pdpv1.AuditEvent {
	out := &pdpv1.AuditEvent{
		Id: e.ID, Actor: e.Actor, Action: e.Action, Tenant: e.Tenant, Target: e.Target, Reason: e.Reason,
		PrevHash: e.PrevHash, Hash: e.Hash,
	}
	if !e.Time.IsZero() {
		out.Time = timestamppb.New(e.Time)
	}
	out.Before = structOf(e.Before)
	out.After = structOf(e.After)
	return out
}

func structOf(m map[string]any) *structpb.Struct {
	if m == nil {
		return nil
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		// Values the log kept from JSON always convert; anything else is
		// shown by its JSON text rather than dropped.
		b, _ := json.Marshal(m)
		s, _ = structpb.NewStruct(map[string]any{"json": string(b)})
	}
	return s
}

// Admit adds to v, before anything is read or changed, a violation for
// each field of e the audit log would refuse (audit.Check: a reason over
// audit.MaxReasonLen bytes, a tenant or target over audit.MaxFieldLen),
// named as the request names it: fields maps the entry's field names
// (tenant, target, reason, actor) to the request's ("user_id",
// "policy.tenant"); a name it lacks is kept. Every handler admits the
// record of its change first, so that no change is made whose record the
// log would refuse.
func Admit(v *fault.Violations, e audit.Entry, fields map[string]string) {
	err := audit.Check(e)
	if err == nil {
		return
	}
	for _, f := range fault.As(err).Fields {
		if name, ok := fields[f.Field]; ok {
			f.Field = name
		}
		v.Add(f.Field, "%s", f.Description)
	}
}

// Commit makes a change and appends its record e together: change runs
// inside log's commit (audit.Committer), so the change's writes and the
// record are committed together or not at all. change may fill in what
// only it learns (e.After). A failed change is returned as it is, with
// nothing recorded; a record the log could not append is Unavailable,
// and nothing was changed. A log that cannot commit with a change (a test
// double) gets the change first and the record after.
func Commit(ctx context.Context, log audit.Log, e audit.Entry, change func(ctx context.Context, e *audit.Entry) error) error {
	c, ok := log.(audit.Committer)
	if !ok {
		if err := change(ctx, &e); err != nil {
			return err
		}
		if _, err := log.Append(ctx, e); err != nil {
			return fault.Wrap(err, fault.Unavailable, "the change was made but the audit log did not record it ("+e.Action+")")
		}
		return nil
	}
	var changeErr error
	_, err := c.Commit(ctx, e, func(ctx context.Context, e *audit.Entry) error {
		changeErr = change(ctx, e)
		return changeErr
	})
	switch {
	case err == nil:
		return nil
	case changeErr != nil && errors.Is(err, changeErr):
		// The change failed (not an attempt the log ran again).
		return err
	case errors.Is(err, audit.ErrLinkPending):
		return fault.Wrap(err, fault.Unavailable, "the change was made and its audit record stored; the record joins the chain once the audit log answers ("+e.Action+")")
	}
	// The handler admitted e before (Admit), so a refusal now is the
	// log's, not the caller's.
	return fault.Wrap(err, fault.Unavailable, "the audit log could not record the change, so nothing was changed ("+e.Action+")")
}

// Audited appends e to log and maps a failure to Unavailable, naming what
// was done, so that a change the log did not take is never reported as a
// plain success. Audited reads use it; changes use Commit.
func Audited(ctx context.Context, log audit.Log, e audit.Entry) error {
	if _, err := log.Append(ctx, e); err != nil {
		return fault.Wrap(err, fault.Unavailable, "the audit log did not record the call ("+e.Action+"), so it was not answered")
	}
	return nil
}
