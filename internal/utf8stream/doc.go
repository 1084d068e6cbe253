// Package utf8stream validates UTF-8 that arrives in pieces.
//
// A [Validator] is fed a text message frame by frame and rejects it at the
// first byte that can no longer begin or continue a valid encoding, so a
// WebSocket connection fails at the offending frame rather than at the end of
// the message (what Autobahn calls failing fast, RFC 6455 section 8.1).
package utf8stream
