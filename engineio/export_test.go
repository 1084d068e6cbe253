package engineio

// SpendDirectBudget starts a new window of the direct writes' budget and
// spends all of it, for tests: until the window ends (directWindow later),
// a Send of one packet takes the queue.
func SpendDirectBudget() {
	direct.window.Store(monoNow())
	direct.used.Store(budgetNS)
}
