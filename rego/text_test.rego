package pdp_test

import data.pdp

# text.rego: durations, times and lists in messages.

test_text_duration_table if {
	cases := [
		[0, "0s"],
		[1, "1ns"],
		[999999, "999999ns"],
		[1000000, "1ms"],
		[999000000, "999ms"],
		[1000000000, "1s"],
		[1500000000, "1s"],
		[90000000000, "1m30s"],
		[3600000000000, "1h"],
		[5400000000000, "1h30m"],
		[3601000000000, "1h1s"],
		[86400000000000, "24h"],
		[-300000000000, "-5m"],
	]
	every c in cases {
		pdp.text_duration(c[0]) == c[1]
	}
}

test_text_time if {
	pdp.text_time(1767225600000000000) == "2026-01-01T00:00:00Z"
	pdp.text_time(1767225600500000000) == "2026-01-01T00:00:00.5Z"
	pdp.text_time(0) == "1970-01-01T00:00:00Z"
}

test_text_list if {
	pdp.text_list(["b", "a", "c"]) == "a, b, c"
	pdp.text_list({"x"}) == "x"
	pdp.text_list([]) == "(none)"
	pdp.text_list(set()) == "(none)"
}
