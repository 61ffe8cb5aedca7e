package decision

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/fault"
)

// randomAttrs is an attributes tree of random shape reaching about depth
// levels, with a non-finite number now and then.
func randomAttrs(rng *rand.Rand, depth int) map[string]any {
	m := map[string]any{}
	for i := range rng.IntN(4) {
		m["k"+strconv.Itoa(i)] = randomAttr(rng, depth-1)
	}
	return m
}

func randomAttr(rng *rand.Rand, depth int) any {
	if depth <= 0 {
		switch rng.IntN(40) {
		case 0:
			return math.NaN()
		case 1:
			return math.Inf(-1)
		}
		return []any{"s", 1.5, true, nil}[rng.IntN(4)]
	}
	switch rng.IntN(3) {
	case 0:
		return randomAttrs(rng, depth)
	case 1:
		l := make([]any, rng.IntN(3))
		for i := range l {
			l[i] = randomAttr(rng, depth-1)
		}
		return l
	}
	return randomAttr(rng, 0)
}

// attrsFine, the check that runs first, agrees with the walk that names
// the problems, on trees around the depth limit.
func TestAttrsFineAgreesWithTheWalker(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(11, 4))
	var fine, bad int
	for range 20000 {
		m := randomAttrs(rng, MaxAttributesDepth-3+rng.IntN(6))
		var v fault.Violations
		w := attrWalker{v: &v}
		w.object("attributes", m, 1)
		if got, want := attrsFine(m, 1), w.found == 0; got != want {
			t.Fatalf("attrsFine = %v, the walker found %d problems (%v) in %v", got, w.found, v, m)
		}
		if w.found == 0 {
			fine++
		} else {
			bad++
		}
	}
	if fine < 1000 || bad < 1000 {
		t.Fatalf("trees not varied enough: %d fine, %d with problems", fine, bad)
	}
}
