package iplists

import (
	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/ipset"
)

// The rule store, the page tokens and the audit records name a list as
// ipset does ("allow", "deny", "suspicious"); the API names it by enum.
var (
	listNames = map[pdpv1.IPList]string{
		pdpv1.IPList_IP_LIST_ALLOW:      ipset.Allow.String(),
		pdpv1.IPList_IP_LIST_DENY:       ipset.Deny.String(),
		pdpv1.IPList_IP_LIST_SUSPICIOUS: ipset.Suspicious.String(),
	}
	listEnums = map[string]pdpv1.IPList{}
)

func init() {
	for l, name := range listNames {
		listEnums[name] = l
	}
}

// listName returns the stored name of a list a request names, adding a
// violation of field when it names none (unless optional) or one this
// server does not know. It returns "" for no list.
func listName(v *fault.Violations, field string, l pdpv1.IPList, optional bool) string {
	if name, ok := listNames[l]; ok {
		return name
	}
	switch {
	case l != pdpv1.IPList_IP_LIST_UNSPECIFIED:
		v.Add(field, "unknown list %d", int32(l))
	case !optional:
		v.Add(field, "required: IP_LIST_ALLOW, IP_LIST_DENY or IP_LIST_SUSPICIOUS")
	}
	return ""
}

// listEnum returns the API's name of a stored list.
func listEnum(name string) pdpv1.IPList { return listEnums[name] }
