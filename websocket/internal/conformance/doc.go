// Package conformance is our WebSocket conformance suite: the cases of the
// Autobahn TestSuite (sections 1–7, 9, 10, 12 and 13), written from RFC
// 6455, RFC 7692 and Autobahn's public case list, and played by `go test`
// against both ends of package websocket:
//
//   - TestServer: a raw client ([DialPeer]) against the echo server exactly
//     as `tether echo` serves it (internal/echoserver: every message echoed
//     as received, permessage-deflate with context takeover);
//   - TestClient: a raw server ([AcceptPeer]) against a client made by
//     websocket.Dial whose read loop echoes every message.
//
// TestServerHTTP2 and TestClientHTTP2 play the same cases over HTTP/2 (RFC
// 8441), each case a stream of one connection ([DialPeerHTTP2],
// [AcceptPeerHTTP2]).
//
// Subtests are named by Autobahn's case numbers: TestServer/case_6.4.1 is
// case 6.4.1 against our server. Cases x.* are ours, for what Autobahn does
// not cover: x.1 the read limit (a message over it fails with 1009 as soon
// as its size is known: at the frame header that announces it, payload
// withheld, or while inflating a compressed message), x.2 framing rules
// under permessage-deflate (RSV1 only on a message's first frame, never on
// control frames; uncompressed and empty messages on a compressed
// connection; invalid UTF-8 inside compressed text fails with 1007;
// max_window_bits=8, which Autobahn does not try). Run one with
//
//	go test ./websocket/internal/conformance -run 'TestServer/case_6.4.1$' -v
//
// # The peer
//
// [Peer] speaks raw frames: a case sends whatever it likes, valid or not,
// in one write, a write per frame (Autobahn's "sync") or in chops of a few
// bytes. Everything the implementation under test (the testee) sends back is
// checked: masking direction, reserved bits and opcodes, control frame
// rules, fragmentation, UTF-8 of text and close reasons, the close code
// being one that may be sent, and for compressed messages the negotiated
// parameters (the peer decompresses with Go's compress/flate, or with its
// own decoder in inflate.go that refuses any back-reference beyond a
// negotiated max_window_bits under 15, and without dictionary when context
// takeover was refused).
//
// # Outcomes
//
// Every case must end in Autobahn's strict "OK" (never NON-STRICT, never
// only INFORMATIONAL), checked by [Run]:
//
//   - the testee's events (echoed messages, pongs) are exactly the case's,
//     in order: earlier messages are echoed before a failure (3.2, 4.1.3,
//     5.15…), pings are answered while a fragmented message is in progress
//     (5.6–5.8, 5.19, 5.20), nothing answers a ping that follows a close
//     (7.1.3);
//   - the close frame comes from the side Autobahn expects — the testee
//     fails the connection itself on a violation — with one of Autobahn's
//     codes: 1002 for protocol errors, 1007 for invalid UTF-8 (at the frame,
//     or the chop of a frame, that makes the text invalid: 6.4.x send the
//     invalid part and never the rest), 1000 or the echoed code for a valid
//     close (7.7.x), 1002 for invalid ones (7.3.2, 7.3.6, 7.9.x). Stricter
//     than Autobahn, a close frame is always required (no bare TCP drop),
//     and an empty close payload only answers an empty one (7.3.1);
//   - after the closing handshake a testee server closes the TCP connection
//     first (the peer waits for it and never closes first); a testee client
//     closes once the peer has.
//
// Where the suite differs from Autobahn:
//
//   - 3.6 sends a ping with RSV = 6, as Autobahn describes it (Autobahn's
//     code sends a binary frame);
//   - 5.19/5.20 wait for the first pong instead of a second;
//   - 6.4.x check that the first, valid part is accepted by waiting 100 ms
//     instead of a second;
//   - 7.1.6 and 7.13.x, INFORMATIONAL in Autobahn, have a fixed outcome
//     here: both messages echoed before the close, and 1002 for codes above
//     4999;
//   - sections 12 and 13 use generated data of the same kinds as Autobahn's
//     files (JSON, a bitmap, prose, HTML, incompressible binary) and also
//     check that echoes of 128 bytes or more come back compressed. In
//     TestClient, a case's first offer becomes the client's options
//     (server_no_context_takeover → CompressionNoContextTakeover,
//     server_max_window_bits → ServerMaxWindowBits) and the raw server
//     answers as Autobahn's accept functions do, asking for
//     client_no_context_takeover and client_max_window_bits whether or not
//     the client hinted at them (RFC 7692 allows it).
//
// # Sizes
//
// By default, section 9 runs at a quarter of Autobahn's sizes (messages up
// to 4 MiB, 100 round trips in 9.7/9.8) and sections 12/13 send 2 messages
// per case, so that the race-enabled run stays short. -conformance.full
// runs Autobahn's sizes and counts (16 MiB messages, 1000 round trips):
//
//	go test ./websocket/internal/conformance -conformance.full -timeout 30m
package conformance
