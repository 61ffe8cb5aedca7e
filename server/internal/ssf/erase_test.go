package ssf_test

import (
	"testing"

	"github.com/pdp-dev/pdp/server/internal/ssf"
)

func TestEraseUserRewritesAStoredBucketWithoutTheUser(t *testing.T) {
	effect := func(jti, user string) ssf.Effect {
		return ssf.Effect{Tenant: "acme", JTI: jti, Event: "session-revoked", Subject: ssf.Subject{User: user}}
	}
	stored, err := ssf.Encode([]ssf.Effect{effect("1", "u1"), effect("2", "u2"), effect("3", "u1")})
	if err != nil {
		t.Fatal(err)
	}
	rest, dropped, err := ssf.EraseUser(stored, "u1")
	if err != nil || dropped != 2 {
		t.Fatalf("EraseUser(u1) dropped %d, %v; want 2", dropped, err)
	}
	if list, err := ssf.Decode(rest); err != nil || len(list) != 1 || list[0].JTI != "2" {
		t.Errorf("the rewritten bucket holds %+v, %v; want u2's effect alone", list, err)
	}
	if rest, dropped, err := ssf.EraseUser(stored, "u3"); err != nil || dropped != 0 || rest != nil {
		t.Errorf("a user the bucket does not name: %q, %d, %v; want nothing to rewrite", rest, dropped, err)
	}
	if rest, dropped, err := ssf.EraseUser(rest, "u2"); err != nil || dropped != 1 || rest != nil {
		t.Errorf("the bucket's last user: %q, %d, %v; want nil, the bucket goes", rest, dropped, err)
	}
	if _, _, err := ssf.EraseUser([]byte("{"), "u1"); err == nil {
		t.Error("a damaged bucket is erased without an error")
	}
}
