// Package prefetch asks the CPU to bring memory into its caches ahead of
// use, without waiting for it.
//
// A broadcast writes to thousands of receivers once each, and each
// receiver's state (its Socket.IO socket, Engine.IO session, WebSocket
// connection, socket writer) sits in objects that nothing touched since
// the last broadcast: other work has evicted them from the caches by then,
// and each line fetched from memory stalls the broadcasting goroutine.
// Asking for the lines of the next receivers while the write to this one
// runs overlaps those fetches with it.
//
// A prefetch is only a hint: it never faults, whatever the address, and
// changes nothing. A chain of objects is prefetched a stage at a time, each
// following a pointer the stage before brought in: [Pointer] reads such a
// pointer in assembly, unseen by the race detector, because the read is a
// hint's (the pointer may be stale, or change meanwhile) and its result
// goes only to further hints.
package prefetch
