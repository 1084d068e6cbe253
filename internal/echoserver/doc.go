// Package echoserver is the WebSocket echo service behind `tether echo`,
// the conformance suite and the benchmarks: every text or binary message is
// sent back as it was received.
package echoserver
