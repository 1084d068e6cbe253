//go:build race

package engineio_test

// raceEnabled: the race detector drops sync.Pool entries at random, so
// allocation counts are not checked.
const raceEnabled = true
