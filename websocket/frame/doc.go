// Package frame is the low-level WebSocket frame layer of RFC 6455.
//
// It knows how frame headers are laid out on the wire, how payloads are
// masked, and how a close frame's payload is encoded. It knows nothing about
// connections, messages, handshakes or extensions: those live in the parent
// package [github.com/tether-rt/tether/websocket], which is built on this one.
//
// Everything here works on caller-owned memory and never allocates, so it can
// sit on the per-message hot path.
//
// Invariants:
//   - [ParseHeader] never reads past the bytes it is given and reports
//     [ErrShortHeader] until the whole header is present.
//   - [ParseHeader] rejects only what is malformed at the frame level (a
//     non-minimal or 64-bit-negative length). Checks that depend on the
//     connection's state (reserved bits, unknown opcodes, control frame
//     rules, masking direction) are left to the caller, which knows the
//     negotiated extensions and which side it is.
//   - [Mask] is its own inverse and may be applied chunk by chunk: the
//     position it returns continues the key where the previous chunk ended.
//     [MaskCopy] gives the bytes Mask would, written to another buffer.
//   - On amd64 with AVX2 both mask 32 bytes per instruction (mask_amd64.s);
//     the build tag purego, or any other architecture, selects the
//     word-at-a-time Go code. Tests compare both with a byte-at-a-time
//     reference, and the test script runs them under purego as well.
package frame
