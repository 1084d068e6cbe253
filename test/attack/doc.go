// Package attack is the hardening battery: each test runs one attack that
// an unauthenticated client can make against `tether echo` or
// `tether serve` as shipped (default settings unless the test says
// otherwise), on loopback, bounded in count and time, and asserts the
// bound the server must keep — memory held, connections cut, the time a
// shutdown takes.
//
// `make attack` runs the whole battery and prints a summary table (one row
// per attack: what was sent, the bound, what was measured). The regular
// test suite runs the same tests at a smaller scale; -attack.full runs
// them at the size the outside battery used. SECURITY.md lists the limits
// these tests hold the server to.
package attack
