// Package workerpool runs short jobs on goroutines that are reused while
// work keeps coming and end once idle.
//
// Tether hands a connection to a goroutine for each burst of work: the
// Engine.IO server to write a session's queue, the WebSocket poller to
// read a connection that has data. Starting a goroutine per burst costs
// more than it seems, because each new goroutine grows its stack again to
// the depth of a write or of a handler; a [Pool] keeps the goroutines that
// finished a job waiting for the next one, so a busy server reuses them and
// an idle one keeps none.
package workerpool
