# A worked example of the extension point: an author's module in package
# pdp.custom adds to the sets the core combines (rego/README.md, "How modules
# contribute"). Load it with `pdp serve --policy-dir server/demo/policies`
# and test it with `pdp test server/demo/policies`.
#
# Two rules, for every tenant:
#
#   custom.export_requires_managed_device
#       deny an export.* action from a device that is not managed: exports
#       leave the company's control, so only managed laptops may start one.
#       The check is listed with matched: false when the device is managed
#       and the request asks for an explanation.
#
#   anonymizing_network (risk factor, weight 0.4)
#       a login from a network that hides where its users are: an
#       autonomous system on the list below, or a request the gateway marked
#       with attributes.network_anonymizer: true (from its own Tor exit
#       list). Its weight adds to the built-in factors, so together with an
#       unknown device or an unusual hour it reaches the tenant's step-up
#       threshold.
package pdp.custom

# Autonomous systems whose addresses are mostly anonymizing exits (Tor exit
# hosting, commercial VPNs). These are documentation numbers (RFC 5398):
# replace them with the list your threat feed publishes.
anonymizing_asns := {64496, 64497, 64498, 64499}

# The weight of anonymizing_network in the risk score.
anonymizer_weight := 0.4

# ---------------------------------------------------------------------------
# custom.export_requires_managed_device

# The core's glob helper: "*" matches dots too, so export.reports.csv is an
# export.
export_action if data.pdp.action_matches("export.*", input.action.name)

deny contains {
	"code": "custom.export_requires_managed_device",
	"message": sprintf("%s needs a managed device; device %q is not managed", [input.action.name, object.get(input, ["device", "id"], "")]),
	"rule": "custom.export_requires_managed_device",
} if {
	export_action
	not input.device.managed
}

checks contains {
	"rule": "custom.export_requires_managed_device",
	"code": "custom.export_requires_managed_device",
	"effect": "deny",
	"message": sprintf("%s from managed device %q", [input.action.name, input.device.id]),
} if {
	export_action
	input.device.managed
}

# ---------------------------------------------------------------------------
# anonymizing_network

# The two cases exclude each other rather than being chained with "else":
# partial evaluation, which specialises the policy per tenant environment,
# does not evaluate ordered rules.
anonymizer_detail := sprintf("login from AS%d, a network of anonymizing exits", [input.network.asn]) if {
	anonymizing_asn
}

anonymizer_detail := "login from an address the gateway marked as an anonymizer exit" if {
	not anonymizing_asn
	input.attributes.network_anonymizer == true
}

anonymizing_asn if input.network.asn in anonymizing_asns

risk_factors contains {
	"name": "anonymizing_network",
	"weight": anonymizer_weight,
	"detail": anonymizer_detail,
} if {
	input.action.name == "login"
}
