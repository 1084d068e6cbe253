// Package alloctest measures allocations in tests without the noise of
// the rest of the process.
//
// [testing.AllocsPerRun] counts every allocation the process makes while
// it runs, including those of the runtime and of goroutines a test left
// behind; on a busy machine under the race detector, a handful of them
// can land in the window and turn "0 allocations" into 1. An allocation
// made by the measured function, though, shows up in every measurement.
package alloctest

import "testing"

// PerRun returns the fewest average allocations per call of f over three
// measurements of runs calls each (see [testing.AllocsPerRun]).
func PerRun(runs int, f func()) float64 {
	least := testing.AllocsPerRun(runs, f)
	for range 2 {
		least = min(least, testing.AllocsPerRun(runs, f))
	}
	return least
}
