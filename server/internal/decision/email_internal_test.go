package decision

import (
	"net/mail"
	"strings"
	"testing"
)

// plainAddressCases are addresses on both sides of plainAddress's line.
var plainAddressCases = []string{
	"ada@acme.com", "Ada.Lovelace@Acme.Example", "a+tag@x", "o'neil@shop.example",
	"!#$%&'*+-/=?^_`{|}~@example.com", "user@sub.domain.example",
	"", "@", "a@", "@b", "a@@b", "a@b@c", ".a@b", "a.@b", "a..b@c", "a@.b", "a@b.", "a@b..c",
	"a b@c", "a@b c", " a@b", "a@b ", "\"a\"@b", "a@[10.0.0.1]", "Ada <ada@acme.com>",
	"ada@acme.com (Ada)", "a(b)@c", "a\\b@c", "a,b@c", "a;b@c", "a:b@c", "a<b@c", "ü@b", "a@ü",
	"a\x00@b", "a\x7f@b", "a\t@b",
}

func TestAPlainAddressIsAnAddressNetMailReadsAsItself(t *testing.T) {
	t.Parallel()
	for _, s := range plainAddressCases {
		checkPlainAddress(t, s)
	}
}

func TestAPlainAddressIsCheckedWithoutAllocating(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	var v validator
	if n := testing.AllocsPerRun(100, func() { _ = v.email("subject.email", "ada.lovelace@acme.example") }); n != 0 {
		t.Errorf("%v allocations per email, want 0", n)
	}
	if len(v.problems) != 0 {
		t.Errorf("problems %v", v.problems)
	}
}

func FuzzPlainAddressIsAnAddressNetMailReadsAsItself(f *testing.F) {
	for _, s := range plainAddressCases {
		f.Add(s)
	}
	f.Fuzz(checkPlainAddress)
}

// checkPlainAddress fails when plainAddress accepts s and net/mail does
// not read it as exactly itself, with no name and a single '@'.
func checkPlainAddress(t *testing.T, s string) {
	if !plainAddress(s) {
		return
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s || strings.Count(s, "@") != 1 {
		t.Errorf("plainAddress(%q) but net/mail reads %+v, %v", s, a, err)
	}
}
