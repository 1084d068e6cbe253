package engineio

// SpendDirectBudget starts a new window of the direct writes' budget and
// spends all of it, for tests: until the window ends (directWindow later),
// a Send of one packet takes the queue.
func SpendDirectBudget() {
	direct.window.Store(monoNow())
	direct.used.Store(budgetNS)
}

// RestoreDirectBudget starts a new window of the direct writes' budget
// with none of it spent, for tests that need direct writes (and for those
// that spent it, when they end).
func RestoreDirectBudget() {
	direct.window.Store(monoNow())
	direct.used.Store(0)
}
