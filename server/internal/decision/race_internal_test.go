//go:build race

package decision

// raceEnabled is true when the race detector is on: it allocates on its
// own, so allocation budgets are not checked under it.
const raceEnabled = true
