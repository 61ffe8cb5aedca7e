package engine

// gen generates tenant policies and request inputs for the library tests.
// It has its own pseudo-random sequence (splitmix64), so that the generated
// cases, and the golden file built from them, never change with the Go
// release. With probability bias every choice takes its first, benign,
// option, so that a round with a high bias is mostly requests that nothing
// objects to, and one with bias 0 exercises every control.
type gen struct {
	state uint64
	bias  float64
}

func (g *gen) next() uint64 {
	g.state += 0x9e3779b97f4a7c15
	z := g.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (g *gen) float() float64 { return float64(g.next()>>11) / (1 << 53) }

// pick returns the first option with probability bias, else any option.
func pick[T any](g *gen, options ...T) T {
	if g.float() < g.bias {
		return options[0]
	}
	return options[g.next()%uint64(len(options))]
}

// chance is true with probability p, or, biased, as p rounds.
func (g *gen) chance(p float64) bool {
	if g.float() < g.bias {
		return p >= 0.5
	}
	return g.float() < p
}

// subset returns some of xs (biased: the first alone).
func (g *gen) subset(xs ...string) []any {
	if g.float() < g.bias {
		return []any{xs[0]}
	}
	out := []any{}
	for _, x := range xs {
		if g.chance(0.35) {
			out = append(out, x)
		}
	}
	return out
}

const (
	genHour   = int64(3600000000000)
	genMinute = int64(60000000000)
)

// policy is an effective environment policy; now and then some settings
// are missing, as in the policies of Rego tests and of other callers.
func (g *gen) policy() map[string]any {
	roles := pick(g,
		map[string]any{
			"admin":     map[string]any{"actions": []any{"*"}},
			"developer": map[string]any{"actions": []any{"api.*", "files.read", "cache.*"}},
			"viewer":    map[string]any{"actions": []any{"api.read", "login"}},
		},
		map[string]any{
			"admin":     map[string]any{"actions": []any{"*"}},
			"owner":     map[string]any{"actions": []any{"*"}},
			"developer": map[string]any{"actions": []any{"api.*", "cache.*", "db.direct_query", "files.*", "login"}},
			"auditor":   map[string]any{"actions": []any{"admin.audit.*"}},
			"janitor":   map[string]any{"actions": []any{"*.delete", "api.read"}},
		},
		map[string]any{},
	)
	p := map[string]any{
		"preset":                      pick(g, "production", "staging", "development"),
		"allow_direct_query":          g.chance(0.3),
		"key_isolation":               g.chance(0.7),
		"report_only":                 g.chance(0.15),
		"inactivity_timeout_ns":       pick(g, 4*genHour, int64(0), 8*genHour, 30*genMinute),
		"role_inactivity_timeouts_ns": pick(g, map[string]any{"admin": 2 * genHour}, map[string]any{}, map[string]any{"developer": 3 * genHour, "viewer": 0}),
		"session_warning_ns":          pick(g, 5*genMinute, int64(0), 10*genMinute),
		"cache_ttl_ns":                pick(g, int64(30000000000), int64(0)),
		"mfa": map[string]any{
			"mode":             pick(g, "off", "all", "privileged"),
			"privileged_roles": g.subset("admin", "developer", "owner"),
			"grace_period_ns":  pick(g, int64(0), 7*24*genHour),
			"max_age_ns":       pick(g, 12*genHour, int64(0), genHour),
		},
		"auth_providers": map[string]any{
			"allowed": g.subset("google", "saml:okta", "password"),
			"emergency": map[string]any{
				"enabled":           g.chance(0.5),
				"providers":         g.subset("password", "github"),
				"break_glass_users": g.subset("breakglass@acme.com", "u-1", "ada@acme.com"),
			},
		},
		"email_domains": pick(g,
			[]any{map[string]any{"domain": "acme.com", "include_subdomains": true}},
			[]any{},
			[]any{map[string]any{"domain": "acme.com", "include_subdomains": false}},
			[]any{
				map[string]any{"domain": "acme.com", "include_subdomains": true},
				map[string]any{"domain": "Corp.IO.", "include_subdomains": false},
			}),
		"ip_allowlist": pick(g, []any{}, []any{"203.0.113.0/24"}, []any{"203.0.113.0/24", "2001:db8::/32"}, []any{"10.0.0.0/8"}),
		"ip_denylist":  pick(g, []any{"198.51.100.0/24"}, []any{}, []any{"198.51.100.0/24", "203.0.113.7/32"}),
		"countries": map[string]any{
			"allowed": pick(g, []any{}, []any{"PT", "FR"}, []any{"US"}),
			"blocked": pick(g, []any{"KP"}, []any{}, []any{"KP", "RU"}),
		},
		"roles": roles,
		"risk": map[string]any{
			"step_up_threshold": pick(g, 0.7, 0.3, 0.5),
			"deny_threshold":    pick(g, 0.9, 0.6, 1),
			"weights": pick(g,
				map[string]any{
					"unusual_time": 0.2, "unusual_location": 0.3, "unusual_behavior": 0.3,
					"untrusted_device": 0.2, "impossible_travel": 0.5, "failed_logins": 0.3, "ip_reputation": 0.4,
				},
				map[string]any{"unusual_time": 0.35, "untrusted_device": 0.45}),
			"require_device_verification": g.chance(0.4),
		},
		"incident": map[string]any{
			"failed_logins_threshold":         pick(g, int64(5), int64(0), int64(3)),
			"failed_logins_window_ns":         pick(g, 15*genMinute, int64(0)),
			"suspicious_ip_threshold":         pick(g, int64(10), int64(0)),
			"auto_block_ttl_ns":               pick(g, genHour, int64(0), int64(1500000000)),
			"suspend_on_privilege_escalation": g.chance(0.5),
			"brute_force_action":              pick(g, "challenge", "deny"),
		},
		"compliance":        g.subset("SOX", "HIPAA", "PCI_DSS"),
		"sensitive_actions": pick(g, []any{"admin.*", "db.direct_query", "*.delete", "export.*"}, []any{"files.*"}, []any{}),
	}
	if g.chance(0.5) {
		p["risk"].(map[string]any)["business_hours"] = map[string]any{
			"start_minute": pick(g, int64(480), int64(1320)),
			"end_minute":   pick(g, int64(1140), int64(360)),
			"days":         pick(g, []any{"mon", "tue", "wed", "thu", "fri"}, []any{}, []any{"Sat", "SUN"}),
			"timezone":     pick(g, "UTC", "Europe/Lisbon", "America/New_York", ""),
		}
	}
	if g.chance(0.5) {
		p["mfa"].(map[string]any)["enforced_from_ns"] = pick(g, int64(1764547200000000000), int64(1772500000000000000))
	}
	if !g.chance(0.7) {
		for _, k := range []string{"preset", "allow_direct_query", "key_isolation", "report_only", "inactivity_timeout_ns",
			"role_inactivity_timeouts_ns", "session_warning_ns", "cache_ttl_ns", "mfa", "auth_providers", "email_domains",
			"ip_allowlist", "ip_denylist", "countries", "risk", "incident", "compliance", "sensitive_actions"} {
			if !g.chance(0.75) {
				delete(p, k)
			}
		}
		for _, k := range []string{"mfa", "risk", "incident", "countries", "auth_providers"} {
			m, ok := p[k].(map[string]any)
			if !ok {
				continue
			}
			for _, kk := range []string{"mode", "privileged_roles", "grace_period_ns", "max_age_ns", "step_up_threshold",
				"deny_threshold", "weights", "business_hours", "failed_logins_threshold", "suspicious_ip_threshold",
				"allowed", "blocked", "emergency"} {
				if _, ok := m[kk]; ok && !g.chance(0.8) {
					delete(m, kk)
				}
			}
		}
	}
	return p
}

// input is a request input as the engine builds it, or, now and then, with
// parts missing as in the Rego tests.
func (g *gen) input() map[string]any {
	now := pick(g, int64(1772532900000000000), int64(1772900000000000000), int64(1767225600000000000)+int64(g.next()%uint64(7*24*genHour)))
	in := map[string]any{
		"tenant":      pick(g, "acme", "acme", "acme", "acme", "globex"),
		"environment": pick(g, "production", "production", "production", "staging", "qa"),
		"time_ns":     now,
		"subject": map[string]any{
			"id": pick(g, "u-42", "u-1", ""),
			"email": pick(g, "ada@acme.com", "ada@eu.acme.com", "ada@evilacme.com", "", "ada", "@acme.com", "a b@acme.com",
				"ADA@Acme.COM.", "x@@acme.com", "ada@corp.io", "breakglass@acme.com", "ada@-bad.com"),
			"roles":        g.subset("developer", "viewer", "admin", "owner", "auditor", "janitor", "ghost"),
			"groups":       []any{},
			"mfa_enrolled": g.chance(0.8),
			"tenant":       pick(g, "acme", "acme", "", "globex"),
		},
		"authentication": map[string]any{
			"provider": pick(g, "google", "saml:okta", "password", "github", ""),
			"methods":  []any{"pwd"},
			"acr":      "",
		},
		"network": map[string]any{
			"ip":      pick(g, "203.0.113.7", "198.51.100.9", "", "2001:db8::1", "10.1.2.3"),
			"country": pick(g, "PT", "FR", "KP", "", "us", "US"),
			"region":  "",
			"city":    "",
			"asn":     int64(0),
		},
		"device": map[string]any{
			"id":        pick(g, "d-1", ""),
			"platform":  "macos",
			"managed":   g.chance(0.6),
			"compliant": g.chance(0.6),
		},
		"action": map[string]any{
			"name": pick(g, "api.read", "admin.users.delete", "admin.audit.read", "db.direct_query", "cache.get",
				"files.delete", "export.csv", "login", "", "files.read"),
			"resource": pick(g, "/v1/x", "/blocked"),
		},
		"session":    map[string]any{"id": "s-1"},
		"attributes": map[string]any{},
		"explain":    false,
		"caller":     map[string]any{"name": "gateway", "role": "pep", "spiffe_id": ""},
		"signals":    map[string]any{},
	}
	auth := in["authentication"].(map[string]any)
	if g.chance(0.7) {
		auth["authenticated_at_ns"] = now - pick(g, 30*genMinute, 13*genHour)
	}
	if g.chance(0.7) {
		auth["mfa_verified_at_ns"] = now - pick(g, 30*genMinute, 13*genHour, 12*genHour, 49*genHour)
	}
	if g.chance(0.7) {
		s := in["session"].(map[string]any)
		s["started_at_ns"] = now - 5*genHour
		s["last_activity_at_ns"] = now - pick(g, genMinute, 4*genHour-2*genMinute, 4*genHour, 4*genHour+1, 9*genHour, 2*genHour+genMinute, 26*genMinute)
	}
	attrs := in["attributes"].(map[string]any)
	for _, a := range []string{"night", "hello", "risky", "extra"} {
		if !g.chance(0.85) {
			attrs[a] = true
		}
	}
	sig := in["signals"].(map[string]any)
	if g.chance(0.6) {
		sig["ip"] = map[string]any{
			"denied": !g.chance(0.8), "denied_by": pick(g, "", "198.51.100.0/24 (feed)"),
			"allowed": g.chance(0.6), "suspicious": !g.chance(0.8), "suspicious_by": pick(g, "", "import"),
		}
	}
	if !g.chance(0.6) {
		sig["geo"] = map[string]any{"country": pick(g, "PT", "KP", "", "de"), "city": ""}
	}
	if g.chance(0.7) {
		prof := map[string]any{
			"suspended": !g.chance(0.9), "suspended_reason": pick(g, "", "brute force"),
			"device_known": g.chance(0.7), "login_count": pick(g, int64(40), int64(0), int64(5), int64(10)),
			"countries": g.subset("PT", "FR", "US"), "hour_usual": g.chance(0.7), "action_seen": g.chance(0.7),
			"failed_logins": pick(g, int64(0), int64(3), int64(5), int64(7)), "ip_failed_users": pick(g, int64(0), int64(3)),
			"ip_failed_logins": pick(g, int64(0), int64(10), int64(12)),
		}
		if !g.chance(0.8) {
			prof["mfa_reset_at_ns"] = now - pick(g, genHour, 20*genHour)
		}
		if !g.chance(0.7) {
			prof["travel"] = map[string]any{
				"distance_km": pick(g, 2.0, 7900.5, 150.0), "speed_kmh": pick(g, 1.0, 1200.0, 950.4),
				"from_country": pick(g, "PT", "BR"), "since_ns": now - genHour,
			}
		}
		sig["profile"] = prof
	}
	if !g.chance(0.7) {
		sig["sso_available"] = g.chance(0.5)
	}
	if !g.chance(0.9) {
		delete(in, "signals")
	}
	return in
}
