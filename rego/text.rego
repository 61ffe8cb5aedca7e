# Text helpers shared by the control modules, so that every message names
# its evidence the same way. Every name here is prefixed text_.
#
#   text_duration(ns)  14400000000000 -> "4h", 5400000000000 -> "1h30m",
#                      1500000000 -> "1s" (whole seconds, truncated),
#                      999000000 -> "999ms", 0 -> "0s", negative -> "-..."
#   text_time(ns)      RFC 3339 in UTC, fractional seconds only when present:
#                      "2026-01-01T00:00:00Z", "2026-01-01T00:00:00.5Z"
#   text_list(xs)      sorted, comma-separated: ["b", "a"] -> "a, b";
#                      empty -> "(none)"
package pdp

text_duration(ns) := concat("", [text_sign(ns), text_magnitude(abs(ns))])

# Called with a number, text_duration is always defined; the default makes
# partial evaluation keep it as one support function instead of inlining
# its cases into every message (core.rego, "Specialisation").
default text_duration(_) := ""

default text_sign(_) := ""

text_sign(ns) := "-" if ns < 0

# The cases are mutually exclusive, for partial evaluation (no "else").
text_magnitude(ns) := concat("", [sprintf("%d%s", [v, unit]) |
	secs := (ns - (ns % 1000000000)) / 1000000000
	some [v, unit] in [
		[(secs - (secs % 3600)) / 3600, "h"],
		[((secs % 3600) - (secs % 60)) / 60, "m"],
		[secs % 60, "s"],
	]
	v > 0
]) if {
	ns >= 1000000000
}

text_magnitude(ns) := sprintf("%dms", [(ns - (ns % 1000000)) / 1000000]) if {
	ns >= 1000000
	ns < 1000000000
}

text_magnitude(0) := "0s"

text_magnitude(ns) := sprintf("%dns", [ns]) if {
	ns != 0
	ns < 1000000
}

text_time(ns) := time.format([ns, "UTC", "2006-01-02T15:04:05.999999999Z07:00"])

default text_list(_) := "(none)"

text_list(xs) := concat(", ", sort(xs)) if count(xs) > 0
