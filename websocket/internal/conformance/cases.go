package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Scale sets how big the long cases of sections 9, 12 and 13 are.
type Scale struct {
	// Full runs them with Autobahn's sizes and counts (messages up to
	// 16 MiB, 1000 round trips per case). Otherwise sizes in section 9 are
	// a quarter of Autobahn's and counts are cut, to keep a race-enabled run
	// short.
	Full bool
}

func (s Scale) size(n int) int {
	if s.Full {
		return n
	}
	return max(n/4, 1)
}

func (s Scale) count(full, short int) int {
	if s.Full {
		return full
	}
	return short
}

// Cases returns the whole case list: Autobahn TestSuite sections 1–7, 9,
// 10, 12 and 13, each case with its Autobahn number.
func Cases(s Scale) []Case {
	var cs []Case
	cs = append(cs, framingCases()...)
	cs = append(cs, pingCases()...)
	cs = append(cs, reservedBitCases()...)
	cs = append(cs, opcodeCases()...)
	cs = append(cs, fragmentationCases()...)
	cs = append(cs, utf8Cases()...)
	cs = append(cs, closeCases()...)
	cs = append(cs, limitCases(s)...)
	cs = append(cs, autoFragmentationCases()...)
	cs = append(cs, compressionCases(s)...)
	cs = append(cs, readLimitCases()...)
	cs = append(cs, compressedFramingCases()...)
	return cs
}

// Frame builders.

func frame(op byte, fin bool, payload string) Frame {
	return Frame{Fin: fin, Op: op, Payload: []byte(payload)}
}

func text(payload string) Frame        { return frame(OpText, true, payload) }
func binaryFrame(payload string) Frame { return frame(OpBinary, true, payload) }

func withRsv(f Frame, rsv byte) Frame {
	f.Rsv = rsv
	return f
}

// fragments splits payload into frames of size bytes (the first with op,
// then continuations).
func fragments(op byte, payload []byte, size int) []Frame {
	var fs []Frame
	for first := true; first || len(payload) > 0; first = false {
		n := min(size, len(payload))
		f := Frame{Op: OpContinuation, Payload: payload[:n]}
		if first {
			f.Op = op
		}
		payload = payload[n:]
		f.Fin = len(payload) == 0
		fs = append(fs, f)
	}
	return fs
}

// repeat returns pattern repeated up to n bytes (Autobahn's payload_len).
func repeat(pattern string, n int) []byte {
	b := bytes.Repeat([]byte(pattern), n/len(pattern)+1)
	return b[:n]
}

// Scripts.

func send(frames ...Frame) func(*Peer) error {
	return func(p *Peer) error { return p.Send(frames...) }
}

func sendSync(frames ...Frame) func(*Peer) error {
	return func(p *Peer) error { return p.SendSync(frames...) }
}

func sendChopped(chop int, frames ...Frame) func(*Peer) error {
	return func(p *Peer) error { return p.SendChopped(chop, frames...) }
}

// Outcomes.

// echoed is the outcome of a valid exchange: these events, then a normal
// close started by the peer.
func echoed(events ...Event) Outcome {
	return Outcome{Events: events, PeerCloses: true, CloseCodes: []uint16{1000}}
}

// failed is the outcome of a violation: these events, then the testee fails
// the connection with code.
func failed(code uint16, events ...Event) Outcome {
	return Outcome{Events: events, CloseCodes: []uint16{code}}
}

func textMsg(s string) Event { return Message(false, []byte(s)) }
func pongOf(s string) Event  { return Pong([]byte(s)) }

// Section 1: framing.
func framingCases() []Case {
	var cs []Case
	for i, kind := range []struct {
		op   byte
		name string
	}{{OpText, "text"}, {OpBinary, "binary"}} {
		pattern := "*"
		if kind.op == OpBinary {
			pattern = "\xfe"
		}
		for j, n := range []int{0, 125, 126, 127, 128, 65535, 65536, 65536} {
			payload := repeat(pattern, n)
			f := Frame{Fin: true, Op: kind.op, Payload: payload}
			c := Case{
				ID:     fmt.Sprintf("1.%d.%d", i+1, j+1),
				Desc:   fmt.Sprintf("%s message with a payload of %d bytes", kind.name, n),
				Script: send(f),
				Want:   echoed(Message(kind.op == OpBinary, payload)),
			}
			if j == 7 {
				c.Desc += ", sent in chops of 997 bytes"
				c.Script = sendChopped(997, f)
			}
			cs = append(cs, c)
		}
	}
	return cs
}

// Section 2: pings and pongs.
func pingCases() []Case {
	tenPings := func(chop int) Case {
		var frames []Frame
		var pongs []Event
		for i := range 10 {
			payload := fmt.Sprintf("payload-%d", i)
			frames = append(frames, frame(OpPing, true, payload))
			pongs = append(pongs, pongOf(payload))
		}
		c := Case{Script: send(frames...), Want: echoed(pongs...)}
		if chop > 0 {
			c.Script = sendChopped(chop, frames...)
		}
		return c
	}
	bin := "\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
	cs := []Case{
		{ID: "2.1", Desc: "ping without payload", Script: send(frame(OpPing, true, "")), Want: echoed(pongOf(""))},
		{ID: "2.2", Desc: "ping with a small text payload", Script: send(frame(OpPing, true, "Hello, world!")), Want: echoed(pongOf("Hello, world!"))},
		{ID: "2.3", Desc: "ping with a small binary payload", Script: send(frame(OpPing, true, bin)), Want: echoed(pongOf(bin))},
		{ID: "2.4", Desc: "ping with a 125-byte payload", Script: send(frame(OpPing, true, strings.Repeat("\xfe", 125))), Want: echoed(pongOf(strings.Repeat("\xfe", 125)))},
		{ID: "2.5", Desc: "ping with a 126-byte payload (too long for a control frame)", Script: send(frame(OpPing, true, strings.Repeat("\xfe", 126))), Want: failed(1002)},
		{ID: "2.6", Desc: "ping with a 125-byte payload, sent a byte at a time", Script: sendChopped(1, frame(OpPing, true, strings.Repeat("\xfe", 125))), Want: echoed(pongOf(strings.Repeat("\xfe", 125)))},
		{ID: "2.7", Desc: "unsolicited pong without payload, then close", Script: func(p *Peer) error {
			if err := p.Send(frame(OpPong, true, "")); err != nil {
				return err
			}
			return p.SendClose(1000, "")
		}, Want: echoed()},
		{ID: "2.8", Desc: "unsolicited pong with payload, then close", Script: func(p *Peer) error {
			if err := p.Send(frame(OpPong, true, "unsolicited pong payload")); err != nil {
				return err
			}
			return p.SendClose(1000, "")
		}, Want: echoed()},
		{ID: "2.9", Desc: "unsolicited pong, then ping", Script: send(frame(OpPong, true, "unsolicited pong payload"), frame(OpPing, true, "ping payload")), Want: echoed(pongOf("ping payload"))},
	}
	c := tenPings(0)
	c.ID, c.Desc = "2.10", "10 pings with payloads"
	cs = append(cs, c)
	c = tenPings(1)
	c.ID, c.Desc = "2.11", "10 pings with payloads, sent a byte at a time"
	return append(cs, c)
}

// Section 3: reserved bits.
func reservedBitCases() []Case {
	hello := "Hello, world!"
	return []Case{
		{ID: "3.1", Desc: "text message with RSV = 1", Script: send(withRsv(text(hello), 1)), Want: failed(1002)},
		{ID: "3.2", Desc: "text message, then one with RSV = 2, then ping", Script: send(text(hello), withRsv(text(hello), 2), frame(OpPing, true, "")), Want: failed(1002, textMsg(hello))},
		{ID: "3.3", Desc: "text message, then one with RSV = 3, then ping, frame by frame", Script: sendSync(text(hello), withRsv(text(hello), 3), frame(OpPing, true, "")), Want: failed(1002, textMsg(hello))},
		{ID: "3.4", Desc: "text message, then one with RSV = 4, then ping, a byte at a time", Script: sendChopped(1, text(hello), withRsv(text(hello), 4), frame(OpPing, true, "")), Want: failed(1002, textMsg(hello))},
		{ID: "3.5", Desc: "binary message with RSV = 5", Script: send(withRsv(binaryFrame("\x00\xff\xfe\xfd\xfc\xfb\x00\xff"), 5)), Want: failed(1002)},
		// Autobahn's 3.6 says "ping" but sends a binary frame; a ping is
		// what it describes and is the stricter test of control frames.
		{ID: "3.6", Desc: "ping with RSV = 6", Script: send(withRsv(frame(OpPing, true, hello), 6)), Want: failed(1002)},
		{ID: "3.7", Desc: "close with RSV = 7", Script: send(withRsv(frame(OpClose, true, ""), 7)), Want: failed(1002)},
	}
}

// Section 4: opcodes.
func opcodeCases() []Case {
	hello := "Hello, world!"
	var cs []Case
	for i, ops := range [][]byte{{3, 4, 5, 6, 7}, {11, 12, 13, 14, 15}} {
		kind := "non-control"
		if i == 1 {
			kind = "control"
		}
		cs = append(cs,
			Case{ID: fmt.Sprintf("4.%d.1", i+1), Desc: fmt.Sprintf("frame with reserved %s opcode %d", kind, ops[0]),
				Script: send(frame(ops[0], true, "")), Want: failed(1002)},
			Case{ID: fmt.Sprintf("4.%d.2", i+1), Desc: fmt.Sprintf("frame with reserved %s opcode %d and a payload", kind, ops[1]),
				Script: send(frame(ops[1], true, "reserved opcode payload")), Want: failed(1002)},
			Case{ID: fmt.Sprintf("4.%d.3", i+1), Desc: fmt.Sprintf("text message, then reserved %s opcode %d, then ping", kind, ops[2]),
				Script: send(text(hello), frame(ops[2], true, ""), frame(OpPing, true, "")), Want: failed(1002, textMsg(hello))},
			Case{ID: fmt.Sprintf("4.%d.4", i+1), Desc: fmt.Sprintf("text message, then reserved %s opcode %d with a payload, then ping", kind, ops[3]),
				Script: send(text(hello), frame(ops[3], true, hello), frame(OpPing, true, "")), Want: failed(1002, textMsg(hello))},
			Case{ID: fmt.Sprintf("4.%d.5", i+1), Desc: fmt.Sprintf("text message, then reserved %s opcode %d with a payload, then ping, a byte at a time", kind, ops[4]),
				Script: sendChopped(1, text(hello), frame(ops[4], true, hello), frame(OpPing, true, "")), Want: failed(1002, textMsg(hello))},
		)
	}
	return cs
}

// Section 5: fragmentation.
func fragmentationCases() []Case {
	f1, f2 := frame(OpText, false, "fragment1"), frame(OpContinuation, true, "fragment2")
	ping := frame(OpPing, true, "ping payload")
	nonCont := []Frame{frame(OpContinuation, true, "non-continuation payload"), text("Hello, world!")}
	nonContOpen := []Frame{frame(OpContinuation, false, "non-continuation payload"), text("Hello, world!")}
	cs := []Case{
		{ID: "5.1", Desc: "fragmented ping", Script: send(frame(OpPing, false, "fragment1"), frame(OpContinuation, true, "fragment2")), Want: failed(1002)},
		{ID: "5.2", Desc: "fragmented pong", Script: send(frame(OpPong, false, "fragment1"), frame(OpContinuation, true, "fragment2")), Want: failed(1002)},
		{ID: "5.3", Desc: "text message in 2 fragments", Script: send(f1, f2), Want: echoed(textMsg("fragment1fragment2"))},
		{ID: "5.4", Desc: "text message in 2 fragments, frame by frame", Script: sendSync(f1, f2), Want: echoed(textMsg("fragment1fragment2"))},
		{ID: "5.5", Desc: "text message in 2 fragments, a byte at a time", Script: sendChopped(1, f1, f2), Want: echoed(textMsg("fragment1fragment2"))},
		{ID: "5.6", Desc: "text message in 2 fragments with a ping between", Script: send(f1, ping, f2), Want: echoed(pongOf("ping payload"), textMsg("fragment1fragment2"))},
		{ID: "5.7", Desc: "text message in 2 fragments with a ping between, frame by frame", Script: sendSync(f1, ping, f2), Want: echoed(pongOf("ping payload"), textMsg("fragment1fragment2"))},
		{ID: "5.8", Desc: "text message in 2 fragments with a ping between, a byte at a time", Script: sendChopped(1, f1, ping, f2), Want: echoed(pongOf("ping payload"), textMsg("fragment1fragment2"))},
		{ID: "5.9", Desc: "final continuation frame without a message, then text", Script: send(nonCont...), Want: failed(1002)},
		{ID: "5.10", Desc: "final continuation frame without a message, then text, frame by frame", Script: sendSync(nonCont...), Want: failed(1002)},
		{ID: "5.11", Desc: "final continuation frame without a message, then text, a byte at a time", Script: sendChopped(1, nonCont...), Want: failed(1002)},
		{ID: "5.12", Desc: "continuation frame without a message, then text", Script: send(nonContOpen...), Want: failed(1002)},
		{ID: "5.13", Desc: "continuation frame without a message, then text, frame by frame", Script: sendSync(nonContOpen...), Want: failed(1002)},
		{ID: "5.14", Desc: "continuation frame without a message, then text, a byte at a time", Script: sendChopped(1, nonContOpen...), Want: failed(1002)},
		{ID: "5.15", Desc: "text message in 2 fragments, then a continuation and a text frame", Script: send(f1, f2, frame(OpContinuation, false, "fragment3"), text("fragment4")),
			Want: failed(1002, textMsg("fragment1fragment2"))},
	}
	var bad16, bad17 []Frame
	for range 2 {
		bad16 = append(bad16, frame(OpContinuation, false, "fragment1"), frame(OpText, false, "fragment2"), frame(OpContinuation, true, "fragment3"))
		bad17 = append(bad17, frame(OpContinuation, true, "fragment1"), frame(OpText, false, "fragment2"), frame(OpContinuation, true, "fragment3"))
	}
	cs = append(cs,
		Case{ID: "5.16", Desc: "continuation, then a fragmented text message, twice", Script: send(bad16...), Want: failed(1002)},
		Case{ID: "5.17", Desc: "final continuation, then a fragmented text message, twice", Script: send(bad17...), Want: failed(1002)},
		Case{ID: "5.18", Desc: "text fragment followed by a new text frame instead of a continuation", Script: send(f1, text("fragment2")), Want: failed(1002)},
	)
	pingsInFragments := func(sync bool) func(*Peer) error {
		return func(p *Peer) error {
			sendf := p.Send
			if sync {
				sendf = p.SendSync
			}
			err := sendf(frame(OpText, false, "fragment1"), frame(OpContinuation, false, "fragment2"), frame(OpPing, true, "pongme 1!"))
			if err != nil {
				return err
			}
			// Autobahn waits a second here; waiting for the pong proves
			// more: the ping is answered while the message is incomplete.
			if err := p.Expect(pongOf("pongme 1!")); err != nil {
				return err
			}
			return sendf(frame(OpContinuation, false, "fragment3"), frame(OpContinuation, false, "fragment4"),
				frame(OpPing, true, "pongme 2!"), frame(OpContinuation, true, "fragment5"))
		}
	}
	return append(cs,
		Case{ID: "5.19", Desc: "text message in 5 fragments with 2 pings between, in two bursts", Script: pingsInFragments(false),
			Want: echoed(pongOf("pongme 2!"), textMsg("fragment1fragment2fragment3fragment4fragment5"))},
		Case{ID: "5.20", Desc: "text message in 5 fragments with 2 pings between, in two bursts, frame by frame", Script: pingsInFragments(true),
			Want: echoed(pongOf("pongme 2!"), textMsg("fragment1fragment2fragment3fragment4fragment5"))},
	)
}

// quietWait is how long cases 6.4.x check that the testee waits after a
// valid first part (Autobahn waits a second).
const quietWait = 100 * time.Millisecond

// Section 6: UTF-8 handling.
func utf8Cases() []Case {
	const hello = "Hello-µ@ßöäüàá-UTF-8!!"
	const kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
	invalid := kosme + "\xed\xa0\x80" + "edited"
	cs := []Case{
		{ID: "6.1.1", Desc: "empty text message", Script: send(text("")), Want: echoed(textMsg(""))},
		{ID: "6.1.2", Desc: "text message in 3 empty fragments", Script: send(frame(OpText, false, ""), frame(OpContinuation, false, ""), frame(OpContinuation, true, "")), Want: echoed(textMsg(""))},
		{ID: "6.1.3", Desc: "text message in 3 fragments, only the middle one not empty", Script: send(frame(OpText, false, ""), frame(OpContinuation, false, "middle frame payload"), frame(OpContinuation, true, "")), Want: echoed(textMsg("middle frame payload"))},
		{ID: "6.2.1", Desc: "valid UTF-8 text message in one frame", Script: send(text(hello)), Want: echoed(textMsg(hello))},
		{ID: "6.2.2", Desc: "valid UTF-8 text message in 2 fragments split on a code point boundary", Script: send(frame(OpText, false, "Hello-µ@ßöä"), frame(OpContinuation, true, "üàá-UTF-8!!")), Want: echoed(textMsg(hello))},
		{ID: "6.2.3", Desc: "valid UTF-8 text message in 1-byte fragments", Script: send(fragments(OpText, []byte(hello), 1)...), Want: echoed(textMsg(hello))},
		{ID: "6.2.4", Desc: "valid UTF-8 text message (κόσμε) in 1-byte fragments", Script: send(fragments(OpText, []byte(kosme), 1)...), Want: echoed(textMsg(kosme))},
		{ID: "6.3.1", Desc: "invalid UTF-8 text message in one frame", Script: send(text(invalid)), Want: failed(1007)},
		{ID: "6.3.2", Desc: "invalid UTF-8 text message in 1-byte fragments", Script: send(fragments(OpText, []byte(invalid), 1)...), Want: failed(1007)},
	}
	// 6.4: fail fast. The payload becomes invalid at byte 12 (\x90 after
	// \xf4: above U+10FFFF). The peer never sends the third part: a testee
	// that waits for the end of the frame or message never fails and the
	// case times out.
	payload := kosme + "\xf4\x90\x80\x80" + "edited"
	inFrames := func(p1, p2 string) func(*Peer) error {
		return func(p *Peer) error {
			if err := p.Send(frame(OpText, false, p1)); err != nil {
				return err
			}
			if err := p.ExpectQuiet(quietWait); err != nil {
				return err
			}
			return p.Send(frame(OpContinuation, false, p2))
		}
	}
	inChops := func(n1, n2 int) func(*Peer) error {
		return func(p *Peer) error {
			b, h := p.EncodeFrame(text(payload))
			if err := p.WriteRaw(b[:h+n1]); err != nil {
				return err
			}
			if err := p.ExpectQuiet(quietWait); err != nil {
				return err
			}
			return p.WriteRaw(b[h+n1 : h+n1+n2])
		}
	}
	cs = append(cs,
		Case{ID: "6.4.1", Desc: "invalid UTF-8 in the second of 3 fragments: fail at that fragment", Script: inFrames(payload[:11], payload[11:15]), Want: failed(1007)},
		Case{ID: "6.4.2", Desc: "second fragment is the single byte that makes the text invalid: fail at it", Script: inFrames(payload[:12], payload[12:13]), Want: failed(1007)},
		Case{ID: "6.4.3", Desc: "invalid UTF-8 in the second of 3 chops of one frame: fail before the frame ends", Script: inChops(11, 4), Want: failed(1007)},
		Case{ID: "6.4.4", Desc: "second chop of one frame is the single byte that makes the text invalid: fail before the frame ends", Script: inChops(12, 1), Want: failed(1007)},
	)
	for i, group := range utf8Sequences() {
		for j, seq := range group.seqs {
			c := Case{
				ID:     fmt.Sprintf("6.%d.%d", i+5, j+1),
				Script: send(text(seq.s)),
			}
			if seq.valid {
				c.Desc = fmt.Sprintf("%s: valid text % x", group.name, seq.s)
				c.Want = echoed(textMsg(seq.s))
			} else {
				c.Desc = fmt.Sprintf("%s: invalid text % x", group.name, seq.s)
				c.Want = failed(1007)
			}
			cs = append(cs, c)
		}
	}
	return cs
}

type utf8Seq struct {
	valid bool
	s     string
}

type utf8Group struct {
	name string
	seqs []utf8Seq
}

// utf8Sequences returns the UTF-8 samples of cases 6.5 to 6.23, in
// Autobahn's order. They follow the sections of Markus Kuhn's "UTF-8
// decoder capability and stress test".
func utf8Sequences() []utf8Group {
	v := func(ss ...string) []utf8Seq {
		var r []utf8Seq
		for _, s := range ss {
			r = append(r, utf8Seq{true, s})
		}
		return r
	}
	x := func(ss ...string) []utf8Seq {
		var r []utf8Seq
		for _, s := range ss {
			r = append(r, utf8Seq{false, s})
		}
		return r
	}
	const kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
	var prefixes []utf8Seq
	for n := 1; n <= len(kosme); n++ {
		// A prefix is valid when it ends on a code point boundary.
		prefixes = append(prefixes, utf8Seq{n == 2 || n == 5 || n == 7 || n == 9 || n == 11, kosme[:n]})
	}
	var contAll strings.Builder
	for b := 0x80; b < 0xbf; b++ {
		contAll.WriteByte(byte(b))
	}
	lonely := func(lo, hi int) string {
		var s strings.Builder
		for b := lo; b < hi; b++ {
			s.WriteByte(byte(b))
			s.WriteByte(' ')
		}
		return s.String()
	}
	missing := []string{"\xc0", "\xe0\x80", "\xf0\x80\x80", "\xf8\x80\x80\x80", "\xfc\x80\x80\x80\x80",
		"\xdf", "\xef\xbf", "\xf7\xbf\xbf", "\xfb\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf"}
	var nonChars []string
	nonChars = append(nonChars, "\xef\xbf\xbe", "\xef\xbf\xbf")
	for _, z1 := range []byte{0xf0, 0xf1, 0xf2, 0xf3, 0xf4} {
		for _, z2 := range []byte{0x8f, 0x9f, 0xaf, 0xbf} {
			if z1 == 0xf4 && z2 != 0x8f {
				continue // above U+10FFFF
			}
			for _, z3 := range []byte{0xbe, 0xbf} {
				s := string([]byte{z1, z2, 0xbf, z3})
				if s == "\xf0\x8f\xbf\xbe" || s == "\xf0\x8f\xbf\xbf" {
					continue // overlong
				}
				nonChars = append(nonChars, s)
			}
		}
	}
	return []utf8Group{
		{"Some valid UTF-8 sequences", v("hello\x24world", "hello\xc2\xa2world", "hello\xe2\x82\xacworld", "hello\xf0\xa4\xad\xa2world", kosme)},
		{"All prefixes of a valid UTF-8 string that contains multi-byte code points", prefixes},
		{"First possible sequence of a certain length", v("\x00", "\xc2\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80")},
		{"First possible sequence length 5/6 (invalid codepoints)", x("\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80")},
		{"Last possible sequence of a certain length", v("\x7f", "\xdf\xbf", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf")},
		{"Last possible sequence length 4/5/6 (invalid codepoints)", x("\xf7\xbf\xbf\xbf", "\xfb\xbf\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf\xbf")},
		{"Other boundary conditions", append(v("\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf"), x("\xf4\x90\x80\x80")...)},
		{"Unexpected continuation bytes", x("\x80", "\xbf", "\x80\xbf", "\x80\xbf\x80", "\x80\xbf\x80\xbf", "\x80\xbf\x80\xbf\x80", "\x80\xbf\x80\xbf\x80\xbf", contAll.String())},
		{"Lonely start characters", x(lonely(0xc0, 0xdf), lonely(0xe0, 0xef), lonely(0xf0, 0xf7), lonely(0xf8, 0xfb), lonely(0xfc, 0xfd))},
		{"Sequences with last continuation byte missing", x(missing...)},
		{"Concatenation of incomplete sequences", x(strings.Join(missing, ""))},
		{"Impossible bytes", x("\xfe", "\xff", "\xfe\xfe\xff\xff")},
		{"Examples of an overlong ASCII character", x("\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xf8\x80\x80\x80\xaf", "\xfc\x80\x80\x80\x80\xaf")},
		{"Maximum overlong sequences", x("\xc1\xbf", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", "\xf8\x87\xbf\xbf\xbf", "\xfc\x83\xbf\xbf\xbf\xbf")},
		{"Overlong representation of the NUL character", x("\xc0\x80", "\xe0\x80\x80", "\xf0\x80\x80\x80", "\xf8\x80\x80\x80\x80", "\xfc\x80\x80\x80\x80\x80")},
		{"Single UTF-16 surrogates", x("\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80", "\xed\xaf\xbf", "\xed\xb0\x80", "\xed\xbe\x80", "\xed\xbf\xbf")},
		{"Paired UTF-16 surrogates", x("\xed\xa0\x80\xed\xb0\x80", "\xed\xa0\x80\xed\xbf\xbf", "\xed\xad\xbf\xed\xb0\x80", "\xed\xad\xbf\xed\xbf\xbf",
			"\xed\xae\x80\xed\xb0\x80", "\xed\xae\x80\xed\xbf\xbf", "\xed\xaf\xbf\xed\xb0\x80", "\xed\xaf\xbf\xed\xbf\xbf")},
		{"Non-character code points (valid UTF-8)", v(nonChars...)},
		{"Unicode specials (i.e. replacement char)", v("\xef\xbf\xb9", "\xef\xbf\xba", "\xef\xbf\xbb", "\xef\xbf\xbc", "\xef\xbf\xbd", "\xef\xbf\xbe", "\xef\xbf\xbf")},
	}
}

// Section 7: close handling.
func closeCases() []Case {
	closeThen := func(f Frame) func(*Peer) error {
		return func(p *Peer) error {
			if err := p.SendClose(1000, ""); err != nil {
				return err
			}
			return p.Send(f)
		}
	}
	closePayload := func(parts ...[]byte) func(*Peer) error {
		return func(p *Peer) error { return p.SendCloseFrame(parts...) }
	}
	code := func(c uint16) []byte { return []byte{byte(c >> 8), byte(c)} }
	peerClosed := func(codes ...uint16) Outcome { return Outcome{PeerCloses: true, CloseCodes: codes} }
	big := repeat("BAsd7&jh23", 256<<10)
	cs := []Case{
		{ID: "7.1.1", Desc: "text message, then close", Script: send(text("Hello World!")), Want: echoed(textMsg("Hello World!"))},
		{ID: "7.1.2", Desc: "two close frames", Script: closeThen(frame(OpClose, true, "")), Want: peerClosed(1000)},
		{ID: "7.1.3", Desc: "ping after close: no pong", Script: closeThen(frame(OpPing, true, "")), Want: peerClosed(1000)},
		{ID: "7.1.4", Desc: "text message after close: ignored", Script: closeThen(text("Hello World!")), Want: peerClosed(1000)},
		{ID: "7.1.5", Desc: "first fragment, close, then the last fragment: ignored", Script: func(p *Peer) error {
			if err := p.Send(frame(OpText, false, "fragment1")); err != nil {
				return err
			}
			return closeThen(frame(OpContinuation, true, "fragment2"))(p)
		}, Want: peerClosed(1000)},
		// Autobahn rates 7.1.6 INFORMATIONAL (either order is allowed); the
		// testee reads in order, so both messages come back before the
		// close.
		{ID: "7.1.6", Desc: "256 KiB message, small message, close, then ping", Script: func(p *Peer) error {
			if err := p.Send(Frame{Fin: true, Op: OpText, Payload: big}, text("Hello World!")); err != nil {
				return err
			}
			return closeThen(frame(OpPing, true, ""))(p)
		}, Want: Outcome{Events: []Event{textMsg(string(big)), textMsg("Hello World!")}, PeerCloses: true, CloseCodes: []uint16{1000}}},
		{ID: "7.3.1", Desc: "close with an empty payload", Script: closePayload(), Want: peerClosed(1000, 1005)},
		{ID: "7.3.2", Desc: "close with a 1-byte payload", Script: closePayload([]byte("a")), Want: peerClosed(1002)},
		{ID: "7.3.3", Desc: "close with a code", Script: closePayload(code(1000)), Want: peerClosed(1000)},
		{ID: "7.3.4", Desc: "close with a code and a reason", Script: closePayload(code(1000), []byte("Hello World!")), Want: peerClosed(1000)},
		{ID: "7.3.5", Desc: "close with a code and a 123-byte reason", Script: closePayload(code(1000), repeat("*", 123)), Want: peerClosed(1000)},
		{ID: "7.3.6", Desc: "close with a code and a 124-byte reason (payload too long)", Script: closePayload(code(1000), repeat("*", 124)), Want: peerClosed(1002)},
		{ID: "7.5.1", Desc: "close with a reason that is not UTF-8", Script: closePayload(code(1000), []byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64")), Want: peerClosed(1002, 1007)},
	}
	for i, c := range []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999} {
		cs = append(cs, Case{ID: fmt.Sprintf("7.7.%d", i+1), Desc: fmt.Sprintf("close with valid code %d", c),
			Script: closePayload(code(c)), Want: peerClosed(1000, c)})
	}
	for i, c := range []uint16{0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999} {
		cs = append(cs, Case{ID: fmt.Sprintf("7.9.%d", i+1), Desc: fmt.Sprintf("close with invalid code %d", c),
			Script: closePayload(code(c)), Want: peerClosed(1002)})
	}
	// Autobahn rates 7.13.x INFORMATIONAL: the RFC defines no codes above
	// 4999, and the testee refuses them as invalid.
	for i, c := range []uint16{5000, 65535} {
		cs = append(cs, Case{ID: fmt.Sprintf("7.13.%d", i+1), Desc: fmt.Sprintf("close with undefined code %d", c),
			Script: closePayload(code(c)), Want: peerClosed(1002)})
	}
	return cs
}

// Section 9: limits and performance.
func limitCases(s Scale) []Case {
	var cs []Case
	msgSizes := []int{64 << 10, 256 << 10, 1 << 20, 4 << 20, 8 << 20, 16 << 20}
	for i, kind := range []struct {
		op      byte
		pattern string
	}{{OpText, "BAsd7&jh23"}, {OpBinary, "\x00\xfe\x23\xfa\xf0"}} {
		for j, n := range msgSizes {
			p := repeat(kind.pattern, s.size(n))
			cs = append(cs, Case{ID: fmt.Sprintf("9.%d.%d", i+1, j+1), Desc: fmt.Sprintf("%s message of %d bytes", opName(kind.op), len(p)),
				Script: send(Frame{Fin: true, Op: kind.op, Payload: p}), Want: echoed(Message(kind.op == OpBinary, p))})
		}
	}
	fragSizes := []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20}
	for i, kind := range []struct {
		op      byte
		pattern string
	}{{OpText, "*"}, {OpBinary, "\xfe"}} {
		p := repeat(kind.pattern, s.size(4<<20))
		for j, n := range fragSizes {
			n = s.size(n)
			cs = append(cs, Case{ID: fmt.Sprintf("9.%d.%d", i+3, j+1), Desc: fmt.Sprintf("%s message of %d bytes in fragments of %d", opName(kind.op), len(p), n),
				Script: send(fragments(kind.op, p, n)...), Want: echoed(Message(kind.op == OpBinary, p))})
		}
	}
	for i, kind := range []struct {
		op      byte
		pattern string
	}{{OpText, "BAsd7&jh23"}, {OpBinary, "\x00\xfe\x23\xfa\xf0"}} {
		p := repeat(kind.pattern, s.size(1<<20))
		for j, chop := range []int{64, 128, 256, 512, 1024, 2048} {
			chop = s.size(chop)
			cs = append(cs, Case{ID: fmt.Sprintf("9.%d.%d", i+5, j+1), Desc: fmt.Sprintf("%s message of %d bytes, sent in chops of %d", opName(kind.op), len(p), chop),
				Script: sendChopped(chop, Frame{Fin: true, Op: kind.op, Payload: p}), Want: echoed(Message(kind.op == OpBinary, p))})
		}
	}
	count := s.count(1000, 100)
	for i, kind := range []struct {
		op      byte
		pattern string
	}{{OpText, "*"}, {OpBinary, "\xfe"}} {
		for j, n := range []int{0, 16, 64, 256, 1024, 4096} {
			p := repeat(kind.pattern, n)
			bin := kind.op == OpBinary
			cs = append(cs, Case{ID: fmt.Sprintf("9.%d.%d", i+7, j+1), Desc: fmt.Sprintf("%d round trips of %s messages of %d bytes", count, opName(kind.op), n),
				Script: func(peer *Peer) error {
					for range count {
						if err := peer.Send(Frame{Fin: true, Op: kind.op, Payload: p}); err != nil {
							return err
						}
						if _, err := peer.ExpectMessage(bin, p); err != nil {
							return err
						}
					}
					return nil
				}, Want: echoed()})
		}
	}
	return cs
}

func opName(op byte) string {
	if op == OpBinary {
		return "binary"
	}
	return "text"
}

// Section 10: auto-fragmentation.
func autoFragmentationCases() []Case {
	p := repeat("*", 65536)
	return []Case{{ID: "10.1.1", Desc: "text message of 65536 bytes in fragments of 1300",
		Script: send(fragments(OpText, p, 1300)...), Want: echoed(Message(false, p))}}
}

// compressionThreshold is the message size from which the echo server and
// the client compress (the package's default threshold): the cases check
// that echoes from this size on come back compressed.
const compressionThreshold = 128

// Sections 12 and 13: permessage-deflate.
func compressionCases(s Scale) []Case {
	type size struct{ n, frag int }
	sizes := []size{{16, 0}, {64, 0}, {256, 0}, {1024, 0}, {4096, 0}, {8192, 0}, {16384, 0}, {32768, 0}, {65536, 0}, {131072, 0},
		{8192, 256}, {16384, 256}, {32768, 256}, {65536, 256}, {131072, 256}, {131072, 1024}, {131072, 4096}, {131072, 32768}}
	count := s.count(1000, 2)
	var cs []Case
	for j, src := range testData() {
		for i, sz := range sizes {
			cs = append(cs, Case{
				ID:     fmt.Sprintf("12.%d.%d", j+1, i+1),
				Desc:   fmt.Sprintf("%d compressed messages of %d bytes of %s, fragmented to %d bytes, default offer", count, sz.n, src.name, sz.frag),
				Offers: []Offer{{}},
				Accept: &Accept{},
				Script: compressedRoundTrips(src, sz.n, sz.frag, count),
				Want:   echoed(),
			})
		}
	}
	deflateParams := []struct {
		offers []Offer
		accept Accept
	}{
		{[]Offer{{}}, Accept{}},
		{[]Offer{{ServerNoContextTakeover: true}}, Accept{ClientNoContextTakeover: true}},
		{[]Offer{{ServerMaxWindowBits: 9}}, Accept{ClientMaxWindowBits: 9}},
		{[]Offer{{ServerMaxWindowBits: 15}}, Accept{ClientMaxWindowBits: 15}},
		{[]Offer{{ServerNoContextTakeover: true, ServerMaxWindowBits: 9}}, Accept{ClientNoContextTakeover: true, ClientMaxWindowBits: 9}},
		{[]Offer{{ServerNoContextTakeover: true, ServerMaxWindowBits: 15}}, Accept{ClientNoContextTakeover: true, ClientMaxWindowBits: 15}},
		{[]Offer{{ServerNoContextTakeover: true, ServerMaxWindowBits: 9}, {ServerNoContextTakeover: true}, {}}, Accept{ClientNoContextTakeover: true, ClientMaxWindowBits: 9}},
	}
	src := testData()[0]
	for j, prm := range deflateParams {
		for i, sz := range sizes {
			accept := prm.accept
			cs = append(cs, Case{
				ID:     fmt.Sprintf("13.%d.%d", j+1, i+1),
				Desc:   fmt.Sprintf("%d compressed messages of %d bytes of %s, fragmented to %d bytes, offers %s, accept %s", count, sz.n, src.name, sz.frag, offersString(prm.offers), params{clientNoTakeover: accept.ClientNoContextTakeover, clientBits: accept.ClientMaxWindowBits}.header()),
				Offers: prm.offers,
				Accept: &accept,
				Script: compressedRoundTrips(src, sz.n, sz.frag, count),
				Want:   echoed(),
			})
		}
	}
	return cs
}

func offersString(offers []Offer) string {
	var s []string
	for _, o := range offers {
		s = append(s, o.header())
	}
	return strings.Join(s, ", ")
}

// compressedRoundTrips sends count compressed messages of n units (bytes,
// or characters of text) taken in turn from src, each fragmented into
// frames of frag bytes of compressed payload (0: one frame), and checks
// each echo, which must itself be compressed from compressionThreshold
// bytes on.
func compressedRoundTrips(src *dataSource, n, frag, count int) func(*Peer) error {
	return func(p *Peer) error {
		if !p.Compressing() {
			return errors.New("permessage-deflate was not negotiated")
		}
		op := OpText
		if src.binary {
			op = OpBinary
		}
		pos := 0
		for i := range count {
			var msg []byte
			msg, pos = src.next(pos, n)
			payload, err := p.pmd.compress(msg)
			if err != nil {
				return fmt.Errorf("failed to compress message %d: %w", i, err)
			}
			frames := []Frame{{Fin: true, Op: op, Payload: payload}}
			if frag > 0 {
				frames = fragments(op, payload, frag)
			}
			frames[0].Rsv = 4
			if err := p.Send(frames...); err != nil {
				return err
			}
			e, err := p.ExpectMessage(src.binary, msg)
			if err != nil {
				return fmt.Errorf("message %d: %w", i, err)
			}
			if len(msg) >= compressionThreshold && !e.Compressed {
				return fmt.Errorf("message %d: testee echoed %d bytes uncompressed", i, len(msg))
			}
		}
		return nil
	}
}

// ReadLimit is the largest message the testee reads: package websocket's
// DefaultReadLimit, which both the echo server and Dial use.
const ReadLimit = 16 << 20

// Cases x.1.*: ours, not Autobahn's (which has no case for a size limit).
// A message over the read limit fails the connection with 1009 as soon as
// its size is known: at the frame header that announces it, without
// waiting for the payload (which never comes), or while decompressing.
func readLimitCases() []Case {
	announce := func(p *Peer, f Frame, length int, sent []byte) error {
		f.Payload = make([]byte, length)
		b, h := p.EncodeFrame(f)
		return p.WriteRaw(b[:h+len(sent)])
	}
	return []Case{
		{ID: "x.1.1", Desc: "text frame announcing a message one byte over the read limit, payload withheld", Script: func(p *Peer) error {
			return announce(p, Frame{Fin: true, Op: OpText}, ReadLimit+1, make([]byte, 1024))
		}, Want: failed(1009)},
		{ID: "x.1.2", Desc: "binary message whose second fragment takes it one byte over the read limit, payload withheld", Script: func(p *Peer) error {
			if err := p.Send(Frame{Op: OpBinary, Payload: repeat("\xfe", 1024)}); err != nil {
				return err
			}
			return announce(p, Frame{Fin: true, Op: OpContinuation}, ReadLimit-1024+1, nil)
		}, Want: failed(1009)},
		{ID: "x.1.3", Desc: "compressed message that inflates to one byte over the read limit", Offers: []Offer{{}}, Accept: &Accept{},
			Script: func(p *Peer) error {
				if !p.Compressing() {
					return errors.New("permessage-deflate was not negotiated")
				}
				payload, err := p.pmd.compress(make([]byte, ReadLimit+1))
				if err != nil {
					return err
				}
				return p.Send(Frame{Fin: true, Rsv: 4, Op: OpBinary, Payload: payload})
			}, Want: failed(1009)},
	}
}

// Cases x.2.*: ours. Framing rules that only apply once permessage-deflate
// is negotiated (Autobahn's sections 3 and 6 run without it).
func compressedFramingCases() []Case {
	compressed := func(op byte, msg string) func(*Peer) (Frame, error) {
		return func(p *Peer) (Frame, error) {
			if !p.Compressing() {
				return Frame{}, errors.New("permessage-deflate was not negotiated")
			}
			payload, err := p.pmd.compress([]byte(msg))
			return Frame{Fin: true, Rsv: 4, Op: op, Payload: payload}, err
		}
	}
	sendCompressed := func(op byte, msg string) func(*Peer) error {
		return func(p *Peer) error {
			f, err := compressed(op, msg)(p)
			if err != nil {
				return err
			}
			return p.Send(f)
		}
	}
	long := strings.Repeat("Hello, compressed world! ", 20)
	cs := []Case{
		{ID: "x.2.1", Desc: "uncompressed text message on a compressed connection", Script: send(text(long)), Want: echoed(textMsg(long))},
		{ID: "x.2.2", Desc: "compressed empty text message", Script: sendCompressed(OpText, ""), Want: echoed(textMsg(""))},
		{ID: "x.2.3", Desc: "compressed text message in 3 fragments, RSV1 on the first only", Script: func(p *Peer) error {
			f, err := compressed(OpText, long)(p)
			if err != nil {
				return err
			}
			fs := fragments(OpText, f.Payload, len(f.Payload)/3+1)
			fs[0].Rsv = 4
			return p.Send(fs...)
		}, Want: echoed(textMsg(long))},
		{ID: "x.2.4", Desc: "compressed message with RSV1 on a continuation frame too", Script: func(p *Peer) error {
			f, err := compressed(OpText, long)(p)
			if err != nil {
				return err
			}
			fs := fragments(OpText, f.Payload, len(f.Payload)/2+1)
			fs[0].Rsv, fs[1].Rsv = 4, 4
			return p.Send(fs...)
		}, Want: failed(1002)},
		{ID: "x.2.5", Desc: "ping with RSV1", Script: send(withRsv(frame(OpPing, true, "ping"), 4)), Want: failed(1002)},
		{ID: "x.2.6", Desc: "compressed text message that inflates to invalid UTF-8", Script: sendCompressed(OpText, long+"\xed\xa0\x80"+long), Want: failed(1007)},
		{ID: "x.2.7", Desc: "compressed text, a compressed binary message, then an uncompressed one: context kept across them", Script: func(p *Peer) error {
			for _, op := range []byte{OpText, OpBinary} {
				if err := sendCompressed(op, long)(p); err != nil {
					return err
				}
			}
			return p.Send(text(long))
		}, Want: echoed(textMsg(long), Message(true, []byte(long)), textMsg(long))},
	}
	for i := range cs {
		cs[i].Offers, cs[i].Accept = []Offer{{}}, &Accept{}
	}
	// Autobahn's section 13 stops at 9 bits; RFC 7692 allows 8.
	return append(cs, Case{ID: "x.2.8", Desc: "compressed round trips with max_window_bits=8 both ways",
		Offers: []Offer{{ServerMaxWindowBits: 8}}, Accept: &Accept{ClientMaxWindowBits: 8},
		Script: compressedRoundTrips(testData()[0], 4096, 0, 3), Want: echoed()})
}
