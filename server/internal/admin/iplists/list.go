package iplists

import (
	"google.golang.org/protobuf/proto"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/contract"
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

// listName returns the stored name of a list a request names; "" for
// IP_LIST_UNSPECIFIED, and for a value the enum does not define, which
// the request's rules refuse (refuse).
func listName(l pdpv1.IPList) string { return listNames[l] }

// listEnum returns the API's name of a stored list.
func listEnum(name string) pdpv1.IPList { return listEnums[name] }

// refuse returns the InvalidArgument error of a request, or nil: the
// violations of the rules its proto declares (a list the enum defines,
// and one at all where it is required) with those in v.
func refuse(req proto.Message, v *fault.Violations) error {
	rules, err := contract.Check(req)
	if err != nil {
		return err
	}
	if fields := contract.Merge(req.ProtoReflect().Descriptor(), rules, v.List()); len(fields) > 0 {
		return fault.Invalid(fields...)
	}
	return nil
}
