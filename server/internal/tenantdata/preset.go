package tenantdata

import (
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// Defaults shared by every preset (see the package documentation).
const (
	DefaultSessionWarning = 5 * time.Minute
	DefaultMFAGracePeriod = time.Duration(0)
	DefaultMFAMaxAge      = 12 * time.Hour
	// DefaultStepUpMaxAge is how recent a second factor satisfies a risk or
	// brute-force step-up.
	DefaultStepUpMaxAge          = 15 * time.Minute
	DefaultStepUpThreshold       = 0.7
	DefaultDenyThreshold         = 0.9
	DefaultFailedLoginsThreshold = 5
	DefaultFailedLoginsWindow    = 15 * time.Minute
	DefaultSuspiciousIPThreshold = 10
	DefaultAutoBlockTTL          = time.Hour
	DefaultBruteForceAction      = BruteForceChallenge
	DefaultCacheTTL              = time.Duration(0)
)

// DefaultWeights returns the default risk factor weights of docs/api.md, section Risk scoring.
func DefaultWeights() map[string]float64 {
	return map[string]float64{
		"unusual_time":      0.2,
		"unusual_location":  0.3,
		"unusual_behavior":  0.3,
		"untrusted_device":  0.2,
		"impossible_travel": 0.5,
		"failed_logins":     0.3,
		"ip_reputation":     0.4,
	}
}

// DefaultSensitiveActions returns the actions that count as sensitive for
// unusual_behavior unless a policy lists its own.
func DefaultSensitiveActions() []string {
	return []string{"admin.*", "db.direct_query", "*.delete", "export.*"}
}

// ResolvePreset returns the preset an environment starts from: the one it
// names, else the environment's own name when that is a preset, else
// production. An unknown preset name also yields production (Validate
// refuses it).
func ResolvePreset(environment, preset string) string {
	if slices.Contains(presets, preset) {
		return preset
	}
	if preset == "" && slices.Contains(presets, environment) {
		return environment
	}
	return PresetProduction
}

// Baseline returns a complete SecurityPolicy holding every value of a preset
// (production for an unknown name).
func Baseline(preset string) *pdpv1.SecurityPolicy {
	if !slices.Contains(presets, preset) {
		preset = PresetProduction
	}
	sp := &pdpv1.SecurityPolicy{
		Preset:            preset,
		AllowDirectQuery:  proto.Bool(false),
		KeyIsolation:      proto.Bool(true),
		InactivityTimeout: durationpb.New(4 * time.Hour),
		SessionWarning:    durationpb.New(DefaultSessionWarning),
		Mfa: &pdpv1.MFAPolicy{
			Mode:        MFAAll,
			GracePeriod: durationpb.New(DefaultMFAGracePeriod),
			MaxAge:      durationpb.New(DefaultMFAMaxAge),
		},
		AuthProviders: &pdpv1.AuthProviders{Emergency: &pdpv1.EmergencyAccess{}},
		Countries:     &pdpv1.Countries{},
		Risk: &pdpv1.RiskPolicy{
			StepUpThreshold: proto.Float64(DefaultStepUpThreshold),
			DenyThreshold:   proto.Float64(DefaultDenyThreshold),
			Weights:         DefaultWeights(),
			StepUpMaxAge:    durationpb.New(DefaultStepUpMaxAge),
		},
		Incident: &pdpv1.IncidentPolicy{
			FailedLoginsThreshold:        proto.Uint32(DefaultFailedLoginsThreshold),
			FailedLoginsWindow:           durationpb.New(DefaultFailedLoginsWindow),
			SuspiciousIpThreshold:        proto.Uint32(DefaultSuspiciousIPThreshold),
			AutoBlockTtl:                 durationpb.New(DefaultAutoBlockTTL),
			SuspendOnPrivilegeEscalation: proto.Bool(true),
			BruteForceAction:             DefaultBruteForceAction,
		},
		ReportOnly:       proto.Bool(false),
		SensitiveActions: DefaultSensitiveActions(),
		CacheTtl:         durationpb.New(DefaultCacheTTL),
	}
	switch preset {
	case PresetDevelopment:
		sp.AllowDirectQuery = proto.Bool(true)
		sp.KeyIsolation = proto.Bool(false)
		sp.InactivityTimeout = durationpb.New(12 * time.Hour)
		sp.Mfa.Mode = MFAOff
	case PresetStaging:
		sp.InactivityTimeout = durationpb.New(8 * time.Hour)
		sp.Mfa.Mode = MFAPrivileged
		sp.Mfa.PrivilegedRoles = []string{"admin"}
	}
	return sp
}

// Merged returns the environment's policy with its preset applied: the
// baseline overlaid with every field sp sets, and preset set to the preset
// that was resolved. The result shares nothing with sp.
func Merged(environment string, sp *pdpv1.SecurityPolicy) *pdpv1.SecurityPolicy {
	preset := ResolvePreset(environment, sp.GetPreset())
	out := Baseline(preset)
	if sp != nil {
		overlay(out.ProtoReflect(), proto.Clone(sp).ProtoReflect())
	}
	out.Preset = preset
	return out
}

// overlay copies the populated fields of src over dst: lists replace, maps
// merge key by key, messages merge field by field, except durations and
// timestamps, which replace.
func overlay(dst, src protoreflect.Message) {
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			dst.Set(fd, v)
		case fd.IsMap():
			dm := dst.Mutable(fd).Map()
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				dm.Set(k, mv)
				return true
			})
		case fd.Message() != nil && !isWellKnown(fd.Message()) && dst.Has(fd):
			overlay(dst.Mutable(fd).Message(), v.Message())
		default:
			dst.Set(fd, v)
		}
		return true
	})
}

func isWellKnown(md protoreflect.MessageDescriptor) bool {
	return md.ParentFile().Package() == "google.protobuf"
}
