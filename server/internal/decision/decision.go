package decision

import "time"

// Kind is the outcome of a decision.
type Kind int

// The outcomes, in increasing severity.
const (
	KindUnspecified Kind = iota
	KindAllow
	KindChallenge
	KindDeny
)

// String returns the lowercase word used in Rego and logs.
func (k Kind) String() string {
	switch k {
	case KindAllow:
		return "allow"
	case KindChallenge:
		return "challenge"
	case KindDeny:
		return "deny"
	default:
		return "unspecified"
	}
}

// ParseKind maps the Rego word to a Kind; ok is false for anything else.
func ParseKind(s string) (Kind, bool) {
	switch s {
	case "allow":
		return KindAllow, true
	case "challenge":
		return KindChallenge, true
	case "deny":
		return KindDeny, true
	}
	return KindUnspecified, false
}

// Decision is the engine's answer for one request.
type Decision struct {
	// Kind is allow, deny or challenge.
	Kind Kind
	// StepUps are what the user must do before a challenge becomes an allow.
	StepUps []StepUp
	// Reasons are every reason that contributed, most severe first.
	Reasons []Reason
	// Risk is the zero-trust assessment.
	Risk Risk
	// Session holds the session controls; zero when none apply.
	Session SessionControl
	// Obligations are what the enforcement point must do.
	Obligations []Obligation
	// ID is the unique decision id.
	ID string
	// PolicyRevision identifies the policy set that decided.
	PolicyRevision string
	// CacheTTL is how long the decision may be reused; 0 means not at all.
	CacheTTL time.Duration
	// Enforced is false in report-only mode.
	Enforced bool
	// WouldDecide is, in report-only mode, what enforcement would decide.
	WouldDecide Kind
	// Explanation lists evaluated rules when the request asked to explain.
	Explanation []Explanation
}

// StepUpKind is what a user must do to satisfy a challenge. The values are
// the words Rego uses.
type StepUpKind string

// The step-up kinds.
const (
	StepUpMFA            StepUpKind = "mfa"
	StepUpReauthenticate StepUpKind = "reauthenticate"
	StepUpEnrollMFA      StepUpKind = "enroll_mfa"
	StepUpUseProvider    StepUpKind = "use_provider"
	StepUpVerifyDevice   StepUpKind = "verify_device"
)

// StepUp is one required step.
type StepUp struct {
	// Kind is what to do.
	Kind StepUpKind
	// MaxAge is how recent the proof must be; 0 when not applicable.
	MaxAge time.Duration
	// AllowedProviders are the providers to use, for StepUpUseProvider.
	AllowedProviders []string
	// Deadline is the enrollment deadline, for StepUpEnrollMFA.
	Deadline time.Time
	// ReasonCode is the reason that asked for the step.
	ReasonCode string
}

// Reason is one stable reason code.
type Reason struct {
	// Code is the stable code, such as "network.ip_denied".
	Code string
	// Message is a human-readable explanation.
	Message string
	// Rule is the Rego rule that produced it.
	Rule string
}

// RiskLevel buckets a risk score. The values are the words Rego uses.
type RiskLevel string

// The risk levels.
const (
	RiskLow      RiskLevel = "low"
	RiskMedium   RiskLevel = "medium"
	RiskHigh     RiskLevel = "high"
	RiskCritical RiskLevel = "critical"
)

// Risk is the zero-trust assessment.
type Risk struct {
	// Score is min(1, sum of factor weights).
	Score float64
	// Level is derived from the score and the tenant thresholds.
	Level RiskLevel
	// Factors are the present factors.
	Factors []RiskFactor
}

// RiskFactor is one present risk signal.
type RiskFactor struct {
	// Name is the factor name, such as "unusual_location".
	Name string
	// Weight is what it adds to the score.
	Weight float64
	// Detail names the evidence.
	Detail string
}

// SessionControl tells the enforcement point how to manage the session.
type SessionControl struct {
	// ExpiresAt is when the session ends without further activity.
	ExpiresAt time.Time
	// WarnAt is when to warn the user.
	WarnAt time.Time
	// IdleTimeout is the inactivity timeout in force.
	IdleTimeout time.Duration
}

// ObligationKind is something an enforcement point must do. The values are
// the words Rego uses.
type ObligationKind string

// The obligation kinds.
const (
	ObligationAudit               ObligationKind = "audit"
	ObligationNotifySecurity      ObligationKind = "notify_security"
	ObligationWarnSessionExpiry   ObligationKind = "warn_session_expiry"
	ObligationCacheNamespace      ObligationKind = "cache_namespace"
	ObligationRemindMFAEnrollment ObligationKind = "remind_mfa_enrollment"
	ObligationSuspendUser         ObligationKind = "suspend_user"
	ObligationBlockIP             ObligationKind = "block_ip"
)

// Obligation is something the enforcement point must do.
type Obligation struct {
	// Kind is what to do.
	Kind ObligationKind
	// Params are its parameters.
	Params map[string]string
}

// The effects of an explained rule, as Rego spells them.
const (
	EffectDeny      = "deny"
	EffectChallenge = "challenge"
	EffectAllow     = "allow"
	EffectInfo      = "info"
)

// Explanation is one evaluated rule of an explained decision.
type Explanation struct {
	// Rule is the rule name.
	Rule string
	// Code is the reason code the rule emits.
	Code string
	// Effect is EffectDeny, EffectChallenge, EffectAllow or EffectInfo.
	Effect string
	// Matched is true when the rule fired.
	Matched bool
	// Message says why it fired or which condition failed.
	Message string
}
