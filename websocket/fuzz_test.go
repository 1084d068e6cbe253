package websocket

// Fuzz targets for every parser of the engine that reads what a peer sends:
// the frame reader (with and without permessage-deflate), the inflater, the
// server and client handshakes and the Sec-WebSocket-Extensions parser and
// negotiation. Their seed corpora are in testdata/fuzz/<FuzzName>/; run
// them all with `make fuzz` (scripts/fuzz.sh).

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tether-rt/tether/internal/fuzzseed"

	kflate "github.com/klauspost/compress/flate"

	"github.com/tether-rt/tether/websocket/frame"
)

// fuzzConn is an in-memory net.Conn: reads return in (at most chunk bytes
// at a time when chunk > 0) and then io.EOF; writes are recorded. It is
// used by one goroutine at a time.
type fuzzConn struct {
	in     []byte
	chunk  int
	out    bytes.Buffer
	closed bool
	waited int // reads made after in ran out, where a live peer would block
	// onFirstRead, when set, runs before the first read (a fake server
	// answering the request written so far).
	onFirstRead func(c *fuzzConn)
}

func (c *fuzzConn) Read(p []byte) (int, error) {
	if c.onFirstRead != nil {
		f := c.onFirstRead
		c.onFirstRead = nil
		f(c)
	}
	if c.closed {
		return 0, net.ErrClosed
	}
	if len(c.in) == 0 {
		c.waited++
		return 0, io.EOF
	}
	if c.chunk > 0 && len(p) > c.chunk {
		p = p[:c.chunk]
	}
	n := copy(p, c.in)
	c.in = c.in[n:]
	return n, nil
}

func (c *fuzzConn) Write(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.out.Write(p)
}

func (c *fuzzConn) Close() error                     { c.closed = true; return nil }
func (c *fuzzConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *fuzzConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (c *fuzzConn) SetDeadline(time.Time) error      { return nil }
func (c *fuzzConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fuzzConn) SetWriteDeadline(time.Time) error { return nil }

// fuzzWithDeadline runs fn and fails t if it has not returned within 10 s: a
// read must never hang on input that has ended.
func fuzzWithDeadline(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Fatalf("%s did not return within 10 s", what)
	}
}

// fuzzHeapAllocs returns the bytes allocated on the heap since the program
// started. (ReadMemStats counts them exactly; runtime/metrics counts whole
// spans.)
func fuzzHeapAllocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// fuzzReaderConfig is how a fuzzed byte stream is read.
type fuzzReaderConfig struct {
	client         bool // read as the client (frames must be unmasked)
	compress       bool // permessage-deflate negotiated
	readNoTakeover bool // the peer compresses without context takeover
	limit          int64
	chunk          int  // bytes per network read; 0: as many as asked
	useReader      bool // read through Conn.Reader in small pieces
	buffered       int  // bytes handed over with the handshake
}

var fuzzLimits = [4]int64{1 << 20, 64, 1000, 70_000}
var fuzzChunks = [8]int{0, 1, 2, 3, 7, 64, 511, 4096}

// parseFuzzReaderConfig decodes the fuzzer's flag bytes.
func parseFuzzReaderConfig(flags, mode byte) fuzzReaderConfig {
	return fuzzReaderConfig{
		compress:       flags&1 != 0,
		readNoTakeover: flags&2 != 0,
		client:         flags&4 != 0,
		limit:          fuzzLimits[flags>>3&3],
		chunk:          fuzzChunks[mode&7],
		useReader:      mode&8 != 0,
		buffered:       int(mode>>4) * 200,
	}
}

type fuzzMsg struct {
	typ  MessageType
	data []byte
}

// fuzzOutcome is what a Conn made of a byte stream.
type fuzzOutcome struct {
	msgs   []fuzzMsg
	err    error
	wrote  []byte // what the Conn sent back
	allocs uint64 // heap bytes allocated while reading
}

// fuzzReadStream reads data with a Conn configured by cfg until the first
// error, with a 10 s deadline.
func fuzzReadStream(t *testing.T, data []byte, cfg fuzzReaderConfig) fuzzOutcome {
	t.Helper()
	buffered := data[:min(cfg.buffered, len(data))]
	nc := &fuzzConn{in: data[len(buffered):], chunk: cfg.chunk}
	var out fuzzOutcome
	var fail string
	fuzzWithDeadline(t, "reading the stream", func() {
		before := fuzzHeapAllocs()
		c := newConn(connConfig{
			nc:        nc,
			client:    cfg.client,
			buffered:  buffered,
			readLimit: cfg.limit,
			compress: compressParams{enabled: cfg.compress, readNoTakeover: cfg.readNoTakeover,
				writeWindowBits: 15, level: 1},
		})
		// Each message takes at least 2 bytes, so this ends.
		for range len(data)/2 + 2 {
			var typ MessageType
			var p []byte
			var err error
			if cfg.useReader {
				var r io.Reader
				typ, r, err = c.Reader(context.Background())
				if err == nil {
					p, err = fuzzReadSmall(r)
				}
			} else {
				typ, p, err = c.ReadMessage(nil)
			}
			if err != nil {
				out.err = err
				break
			}
			if int64(len(p)) > cfg.limit {
				fail = fmt.Sprintf("message of %d bytes read with a limit of %d", len(p), cfg.limit)
			}
			if !cfg.useReader && int64(cap(p)) > 2*cfg.limit+4096 {
				fail = fmt.Sprintf("message buffer grew to %d bytes with a limit of %d", cap(p), cfg.limit)
			}
			out.msgs = append(out.msgs, fuzzMsg{typ, p})
		}
		out.allocs = fuzzHeapAllocs() - before
		c.CloseNow()
	})
	if fail != "" {
		t.Fatal(fail)
	}
	if out.err == nil {
		t.Fatalf("reading %d bytes did not end in an error after %d messages", len(data), len(out.msgs))
	}
	out.wrote = nc.out.Bytes()
	return out
}

// fuzzReadSmall reads r to its end in reads of 1 to 700 bytes, never holding
// more than it was given.
func fuzzReadSmall(r io.Reader) ([]byte, error) {
	var p []byte
	var b [700]byte
	for i := 0; ; i++ {
		n, err := r.Read(b[:1+i*37%len(b)])
		p = append(p, b[:n]...)
		if err == io.EOF {
			return p, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// refOutcome is what a reading of RFC 6455 and RFC 7692, independent of
// the Conn, expects from a byte stream.
type refOutcome struct {
	msgs  []fuzzMsg
	pongs [][]byte
	// codes are the close statuses the read may end with: one, except
	// where a compressed message fails and the order in which the inflater
	// meets the problems is the implementation's.
	codes []StatusCode
	// loosePongs: the read may stop before later control frames of the
	// last message, so fewer pongs may have been sent.
	loosePongs bool
}

// refValidPrefix reports whether p is valid UTF-8 or valid UTF-8 cut
// inside its last encoding.
func refValidPrefix(p []byte) bool {
	if utf8.Valid(p) {
		return true
	}
	for k := 1; k <= 3 && k <= len(p); k++ {
		if !utf8.Valid(p[:len(p)-k]) {
			continue
		}
		tail := p[len(p)-k:]
		for n := k + 1; n <= utf8.UTFMax; n++ {
			seq := make([]byte, n)
			copy(seq, tail)
			for i := k; i < n; i++ {
				seq[i] = 0x80
			}
			lo, hi := 0x80, 0x80
			if k == 1 {
				lo, hi = 0, 255
			}
			for c := lo; c <= hi; c++ {
				seq[k] = byte(c)
				if utf8.Valid(seq) && utf8.RuneCount(seq) == 1 {
					return true
				}
			}
		}
	}
	return false
}

// refHeader is a frame header decoded by hand.
type refHeader struct {
	fin, rsv1, rsv2, rsv3, masked bool
	op                            byte
	length                        uint64
	key                           [4]byte
}

// refParseHeader decodes the header at b's start: ok=false when b is too
// short, bad=true when the length is not minimally encoded.
func refParseHeader(b []byte) (h refHeader, n int, ok, bad bool) {
	if len(b) < 2 {
		return h, 0, false, false
	}
	h.fin, h.rsv1, h.rsv2, h.rsv3 = b[0]&0x80 != 0, b[0]&0x40 != 0, b[0]&0x20 != 0, b[0]&0x10 != 0
	h.op = b[0] & 0xf
	h.masked = b[1]&0x80 != 0
	n = 2
	switch l := b[1] & 0x7f; l {
	case 126:
		n = 4
	case 127:
		n = 10
	default:
		h.length = uint64(l)
	}
	if h.masked {
		n += 4
	}
	if len(b) < n {
		return h, 0, false, false
	}
	switch b[1] & 0x7f {
	case 126:
		h.length = uint64(binary.BigEndian.Uint16(b[2:]))
		bad = h.length < 126
	case 127:
		h.length = binary.BigEndian.Uint64(b[2:])
		bad = h.length < 1<<16 || h.length >= 1<<63
	}
	if h.masked {
		copy(h.key[:], b[n-4:n])
	}
	return h, n, true, bad
}

// refDecode works out what reading data with cfg must give.
func refDecode(data []byte, cfg fuzzReaderConfig) refOutcome {
	var ref refOutcome
	end := func(codes ...StatusCode) refOutcome { ref.codes = codes; return ref }
	var dict []byte // the peer's compression window, with context takeover
	pos := 0
	// Message in progress.
	inMsg := false
	var typ MessageType
	var compressed bool
	var raw []byte // payload so far (compressed bytes for compressed messages)
	var size uint64
	for {
		h, n, ok, bad := refParseHeader(data[pos:])
		var failCode StatusCode
		switch {
		case !ok:
			failCode = StatusAbnormalClosure
		case bad, h.rsv2, h.rsv3, h.rsv1 && !cfg.compress, (h.op >= 3 && h.op <= 7) || h.op >= 0xb,
			h.masked == cfg.client, h.op >= 8 && (!h.fin || h.length > 125 || h.rsv1):
			failCode = StatusProtocolError
		case h.op < 8 && inMsg != (h.op == 0), h.op == 0 && h.rsv1:
			failCode = StatusProtocolError
		// The limit applies to compressed messages after inflating; their
		// frames are held to compressedLimit.
		case h.op < 8 && !inMsg && !h.rsv1 && h.length > uint64(cfg.limit),
			h.op < 8 && inMsg && !compressed && size+h.length > uint64(cfg.limit),
			h.op < 8 && !inMsg && h.rsv1 && h.length > uint64(compressedLimit(cfg.limit)),
			h.op == 0 && inMsg && compressed && size+h.length > uint64(compressedLimit(cfg.limit)):
			failCode = StatusMessageTooBig
		}
		if failCode != 0 {
			if inMsg && compressed {
				return refInflateFailure(&ref, raw, dict, typ, cfg, failCode)
			}
			return end(failCode)
		}
		pos += n
		avail := data[pos:min(uint64(len(data)), uint64(pos)+h.length)]
		p := slices.Clone(avail)
		if h.masked {
			for i := range p {
				p[i] ^= h.key[i&3]
			}
		}
		pos += len(avail)
		truncated := uint64(len(avail)) < h.length
		if h.op >= 8 {
			if truncated {
				if inMsg && compressed {
					return refInflateFailure(&ref, raw, dict, typ, cfg, StatusAbnormalClosure)
				}
				return end(StatusAbnormalClosure)
			}
			switch h.op {
			case 9:
				ref.pongs = append(ref.pongs, p)
			case 8:
				var code StatusCode
				switch {
				case len(p) == 0:
					code = StatusNoStatusRcvd
				case len(p) == 1:
					code = StatusProtocolError
				default:
					c := binary.BigEndian.Uint16(p)
					switch {
					case !(c >= 1000 && c <= 1003 || c >= 1007 && c <= 1014 || c >= 3000 && c <= 4999):
						code = StatusProtocolError
					case !utf8.Valid(p[2:]):
						code = StatusInvalidFramePayloadData
					default:
						code = StatusCode(c)
					}
				}
				if inMsg && compressed {
					return refInflateFailure(&ref, raw, dict, typ, cfg, code)
				}
				return end(code)
			}
			continue
		}
		if !inMsg {
			inMsg, typ, compressed, raw, size = true, MessageType(h.op), h.rsv1, nil, 0
		}
		size += h.length
		raw = append(raw, p...)
		if !compressed {
			if typ == MessageText && !refValidPrefix(raw) {
				return end(StatusInvalidFramePayloadData)
			}
			if truncated {
				return end(StatusAbnormalClosure)
			}
			if h.fin {
				if typ == MessageText && !utf8.Valid(raw) {
					return end(StatusInvalidFramePayloadData)
				}
				ref.msgs = append(ref.msgs, fuzzMsg{typ, raw})
				inMsg = false
			}
			continue
		}
		if truncated {
			return refInflateFailure(&ref, raw, dict, typ, cfg, StatusAbnormalClosure)
		}
		if !h.fin {
			continue
		}
		inMsg = false
		out, clean := refInflate(raw, dict, cfg.limit, true)
		// A failing compressed message may fail before the inflater has
		// asked for its later frames, and their pings.
		ref.loosePongs = true
		switch {
		case clean && int64(len(out)) <= cfg.limit && (typ == MessageBinary || utf8.Valid(out)):
			ref.msgs = append(ref.msgs, fuzzMsg{typ, out})
			ref.loosePongs = false
			if !cfg.readNoTakeover {
				dict = append(dict, out...)
				dict = dict[max(0, len(dict)-maxWindow):]
			}
		case int64(len(out)) > cfg.limit:
			if typ == MessageText && !refValidPrefix(out[:cfg.limit+1]) {
				return end(StatusMessageTooBig, StatusInvalidFramePayloadData)
			}
			return end(StatusMessageTooBig)
		default:
			// Corrupt deflate data or invalid UTF-8.
			return end(StatusInvalidFramePayloadData)
		}
	}
}

// refInflateFailure is the outcome of a compressed message whose frames
// end with failCode before the message does: the inflater may meet an
// error in the data it already has first.
func refInflateFailure(ref *refOutcome, raw, dict []byte, typ MessageType, cfg fuzzReaderConfig, failCode StatusCode) refOutcome {
	ref.codes = []StatusCode{failCode}
	ref.loosePongs = true
	out, clean := refInflate(raw, dict, cfg.limit, false)
	if int64(len(out)) > cfg.limit {
		ref.codes = append(ref.codes, StatusMessageTooBig)
		out = out[:cfg.limit+1]
	}
	if !clean || (typ == MessageText && !refValidPrefix(out)) {
		ref.codes = append(ref.codes, StatusInvalidFramePayloadData)
	}
	return *ref
}

// refInflate decompresses a message's payload on its own, appending the
// tail RFC 7692 strips when the message is whole, and returns at most
// limit+1 bytes; clean is false for corrupt data. It uses the standard
// library's compress/flate, which package inflate (the Conn's decoder)
// follows exactly, down to where input that ends early stops the output
// (inflate's own fuzz test compares the two directly).
func refInflate(raw, dict []byte, limit int64, whole bool) (out []byte, clean bool) {
	in := raw
	if whole {
		in = append(slices.Clone(raw), 0, 0, 0xff, 0xff)
	}
	fr := flate.NewReaderDict(bytes.NewReader(in), dict)
	out, err := io.ReadAll(io.LimitReader(fr, limit+1))
	return out, err == nil || err == io.ErrUnexpectedEOF
}

// fuzzSentFrame is a frame the Conn wrote back.
type fuzzSentFrame struct {
	op      frame.OpCode
	payload []byte
}

// fuzzParseSent decodes the frames a Conn wrote.
func fuzzParseSent(t *testing.T, b []byte, client bool) []fuzzSentFrame {
	t.Helper()
	var fs []fuzzSentFrame
	for len(b) > 0 {
		h, n, err := frame.ParseHeader(b)
		if err != nil || int64(len(b)-n) < h.Length || h.Masked != client || !h.Fin {
			t.Fatalf("the connection wrote a malformed frame %x: %+v, %v", b, h, err)
		}
		p := slices.Clone(b[n : n+int(h.Length)])
		if h.Masked {
			frame.Mask(h.Mask, 0, p)
		}
		fs = append(fs, fuzzSentFrame{h.OpCode, p})
		b = b[n+int(h.Length):]
	}
	return fs
}

// fuzzCheckStream reads data with cfg and checks the outcome against refDecode.
func fuzzCheckStream(t *testing.T, data []byte, cfg fuzzReaderConfig) fuzzOutcome {
	t.Helper()
	got := fuzzReadStream(t, data, cfg)
	want := refDecode(data, cfg)
	if len(got.msgs) != len(want.msgs) {
		t.Fatalf("%+v: read %d messages (error %v), want %d (ending with %v)", cfg, len(got.msgs), got.err, len(want.msgs), want.codes)
	}
	for i, m := range got.msgs {
		if m.typ != want.msgs[i].typ || !bytes.Equal(m.data, want.msgs[i].data) {
			t.Fatalf("%+v: message %d is %v %q, want %v %q", cfg, i, m.typ, m.data, want.msgs[i].typ, want.msgs[i].data)
		}
	}
	var ce *CloseError
	if !errors.As(got.err, &ce) {
		t.Fatalf("%+v: read ended with %v, want a CloseError", cfg, got.err)
	}
	if !slices.Contains(want.codes, ce.Code) {
		t.Fatalf("%+v: read ended with %v, want status %v", cfg, got.err, want.codes)
	}
	// What the Conn wrote: a pong per ping, then its close frame (none
	// when the connection just dropped).
	sent := fuzzParseSent(t, got.wrote, cfg.client)
	var pongs [][]byte
	for i, f := range sent {
		switch f.op {
		case frame.OpPong:
			pongs = append(pongs, f.payload)
		case frame.OpClose:
			if i != len(sent)-1 {
				t.Fatalf("%+v: frames written after the close frame", cfg)
			}
			code, _, err := frame.ParseClose(f.payload)
			if err != nil && !(ce.Code == StatusNoStatusRcvd && len(f.payload) == 0) {
				t.Fatalf("%+v: bad close frame written: %v", cfg, err)
			}
			if StatusCode(code) != ce.Code {
				t.Fatalf("%+v: sent close %d, read error is %v", cfg, code, got.err)
			}
		default:
			t.Fatalf("%+v: the connection wrote a %v frame", cfg, f.op)
		}
	}
	if ce.Code == StatusAbnormalClosure {
		if len(sent) > 0 && sent[len(sent)-1].op == frame.OpClose {
			t.Fatalf("%+v: close frame sent on a dropped connection", cfg)
		}
	} else if len(sent) == 0 || sent[len(sent)-1].op != frame.OpClose {
		t.Fatalf("%+v: read ended with %v but no close frame was sent", cfg, got.err)
	}
	if len(pongs) > len(want.pongs) || (!want.loosePongs && len(pongs) != len(want.pongs)) {
		t.Fatalf("%+v: sent %d pongs, want %d", cfg, len(pongs), len(want.pongs))
	}
	for i, p := range pongs {
		if !bytes.Equal(p, want.pongs[i]) {
			t.Fatalf("%+v: pong %d carries %q, want %q", cfg, i, p, want.pongs[i])
		}
	}
	return got
}

// fuzzFrame builds one frame as a peer sends it: masked when it comes
// from a client, with a fixed-pattern key.
func fuzzFrame(op frame.OpCode, fin, rsv1, masked bool, p []byte) []byte {
	h := frame.Header{Fin: fin, Rsv1: rsv1, OpCode: op, Length: int64(len(p)), Masked: masked}
	if masked {
		h.Mask = [4]byte{0x37, 0xfa, 0x21, byte(len(p))}
	}
	b := frame.AppendHeader(nil, h)
	start := len(b)
	b = append(b, p...)
	if masked {
		frame.Mask(h.Mask, 0, b[start:])
	}
	return b
}

// refDeflater is refDeflate's compressor, kept: making one costs more
// than the rest of a fuzz iteration.
var (
	refDeflateMu sync.Mutex
	refDeflater  *flate.Writer
)

// refDeflate compresses messages with the standard library's flate as a
// permessage-deflate peer does, keeping the window from one to the next
// unless noTakeover, and returns each payload without its tail.
func refDeflate(noTakeover bool, msgs ...[]byte) [][]byte {
	refDeflateMu.Lock()
	defer refDeflateMu.Unlock()
	var buf bytes.Buffer
	fw := refDeflater
	if fw == nil {
		fw, _ = flate.NewWriter(&buf, flate.BestCompression)
		refDeflater = fw
	}
	fw.Reset(&buf)
	var out [][]byte
	for i, m := range msgs {
		buf.Reset()
		if noTakeover && i > 0 {
			fw.Reset(&buf)
		}
		fw.Write(m)
		fw.Flush()
		out = append(out, bytes.TrimSuffix(slices.Clone(buf.Bytes()), []byte{0, 0, 0xff, 0xff}))
	}
	return out
}

// fuzzReaderSeed is a byte stream with what reading it must give.
type fuzzReaderSeed struct {
	name  string
	data  []byte
	flags byte // see parseFuzzReaderConfig
	msgs  []string
	code  StatusCode
}

// fuzzReaderSeeds builds the seed streams: real frames as browsers and
// servers send them, and the ways they go wrong.
func fuzzReaderSeeds() []fuzzReaderSeed {
	const cmp, noCtx, client = 1, 2, 4
	m := func(op frame.OpCode, fin bool, p string) []byte { return fuzzFrame(op, fin, false, true, []byte(p)) }
	u := func(op frame.OpCode, fin bool, p string) []byte { return fuzzFrame(op, fin, false, false, []byte(p)) }
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	closeFrame := func(code uint16, reason string) []byte {
		return fuzzFrame(frame.OpClose, true, false, true, frame.AppendClose(nil, code, reason))
	}
	long := strings.Repeat("the quick brown fox jumps over the lazy dog. ", 10)
	d := refDeflate(false, []byte(long), []byte(long+"again"), []byte("κόσμε κόσμε κόσμε"))
	d2 := refDeflate(true, []byte(long), []byte(long))
	bomb := refDeflate(true, make([]byte, 256<<10))[0] // FuzzInflate has one for 1 MiB
	// A final stored block of 64 bytes: 69 bytes that inflate to 64.
	stored64 := append([]byte{0x01, 64, 0, 0xff - 64, 0xff}, strings.Repeat("s", 64)...)
	var seeds = []fuzzReaderSeed{
		{name: "text", data: m(frame.OpText, true, "hello"), msgs: []string{"hello"}, code: 1006},
		{name: "two messages and close", data: cat(m(frame.OpText, true, "κόσμε"), m(frame.OpBinary, true, "\x00\xff"), closeFrame(1000, "bye")),
			msgs: []string{"κόσμε", "\x00\xff"}, code: 1000},
		{name: "fragments with ping", data: cat(m(frame.OpText, false, "hel"), m(frame.OpPing, true, "p1"), m(frame.OpContinuation, false, ""),
			m(frame.OpContinuation, true, "lo"), m(frame.OpPong, true, "x"), closeFrame(4000, "")),
			msgs: []string{"hello"}, code: 4000},
		{name: "16-bit length", data: cat(m(frame.OpBinary, true, long), fuzzFrame(frame.OpClose, true, false, true, nil)),
			msgs: []string{long}, code: 1005},
		{name: "client reads unmasked", data: cat(u(frame.OpText, true, "hi"), u(frame.OpPing, true, ""), u(frame.OpClose, true, "\x03\xe8")),
			flags: client, msgs: []string{"hi"}, code: 1000},
		{name: "utf8 split across fragments", data: cat(m(frame.OpText, false, "\xce"), m(frame.OpContinuation, true, "\xba")),
			msgs: []string{"κ"}, code: 1006},
		{name: "compressed with context takeover", data: cat(fuzzFrame(frame.OpText, true, true, true, d[0]),
			fuzzFrame(frame.OpText, true, true, true, d[1]), m(frame.OpText, true, "plain"), fuzzFrame(frame.OpText, true, true, true, d[2])),
			flags: cmp, msgs: []string{long, long + "again", "plain", "κόσμε κόσμε κόσμε"}, code: 1006},
		{name: "compressed fragments without takeover", data: cat(fuzzFrame(frame.OpBinary, false, true, true, d2[0][:7]),
			m(frame.OpPing, true, "mid"), m(frame.OpContinuation, true, string(d2[0][7:])), fuzzFrame(frame.OpBinary, true, true, true, d2[1])),
			flags: cmp | noCtx, msgs: []string{long, long}, code: 1006},
		{name: "empty compressed message", data: cat(fuzzFrame(frame.OpText, true, true, true, []byte{0x00}), closeFrame(1001, "")),
			flags: cmp, msgs: []string{""}, code: 1001},
		{name: "decompression bomb", data: fuzzFrame(frame.OpBinary, true, true, true, bomb), flags: cmp | 3<<3, code: 1009},
		{name: "decompression bomb, small limit", data: fuzzFrame(frame.OpBinary, true, true, true, bomb), flags: cmp | 1<<3, code: 1009},
		{name: "compressed frame longer than its output", data: fuzzFrame(frame.OpBinary, true, true, true, stored64),
			flags: cmp | 1<<3, msgs: []string{string(stored64[5:])}, code: 1006},
		{name: "rsv1 without deflate", data: fuzzFrame(frame.OpText, true, true, true, d[0]), code: 1002},
		{name: "corrupt deflate", data: fuzzFrame(frame.OpBinary, true, true, true, []byte{0xff, 0xff, 0xff}), flags: cmp, code: 1007},
		{name: "rsv2", data: cat([]byte{0xa1}, m(frame.OpText, true, "x")[1:]), code: 1002},
		{name: "reserved opcode", data: m(3, true, "x"), code: 1002},
		{name: "reserved control opcode", data: m(0xb, true, ""), code: 1002},
		{name: "unmasked from client", data: u(frame.OpText, true, "x"), code: 1002},
		{name: "masked from server", data: m(frame.OpText, true, "x"), flags: client, code: 1002},
		{name: "fragmented ping", data: m(frame.OpPing, false, "x"), code: 1002},
		{name: "long ping", data: m(frame.OpPing, true, strings.Repeat("x", 126)), code: 1002},
		{name: "continuation first", data: m(frame.OpContinuation, true, "x"), code: 1002},
		{name: "text inside fragments", data: cat(m(frame.OpText, false, "x"), m(frame.OpText, true, "y")), code: 1002},
		{name: "rsv1 on continuation", data: cat(fuzzFrame(frame.OpText, false, true, true, d[0][:3]), fuzzFrame(frame.OpContinuation, true, true, true, d[0][3:])),
			flags: cmp, code: 1002},
		{name: "non-minimal length", data: []byte{0x82, 0xfe, 0x00, 0x05, 1, 2, 3, 4, 5, 6, 7, 8, 9}, code: 1002},
		{name: "too big", data: m(frame.OpBinary, true, strings.Repeat("x", 65)), flags: 1 << 3, code: 1009},
		{name: "too big in fragments", data: cat(m(frame.OpBinary, false, strings.Repeat("x", 40)), m(frame.OpContinuation, true, strings.Repeat("x", 40))),
			flags: 1 << 3, code: 1009},
		{name: "huge length", data: []byte{0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}, code: 1009},
		{name: "invalid utf8", data: m(frame.OpText, true, "ab\xed\xa0\x80cd"), code: 1007},
		{name: "invalid utf8 fails fast", data: cat(m(frame.OpText, false, "\xf4\x90"), m(frame.OpContinuation, true, "\x80\x80")), code: 1007},
		{name: "text ends inside utf8", data: m(frame.OpText, true, "ab\xe2\x82"), code: 1007},
		{name: "compressed invalid utf8", data: fuzzFrame(frame.OpText, true, true, true, refDeflate(true, []byte("ok \xff"))[0]), flags: cmp, code: 1007},
		{name: "close of one byte", data: m(frame.OpClose, true, "\x03"), code: 1002},
		{name: "close code 1005", data: closeFrame(1005, ""), code: 1002},
		{name: "close reason not utf8", data: closeFrame(1000, "\xff"), code: 1007},
		{name: "truncated header", data: []byte{0x81}, code: 1006},
		{name: "truncated payload", data: m(frame.OpBinary, true, "hello")[:8], code: 1006},
	}
	return seeds
}

// TestFrameReaderSeeds checks the seed streams against what they were
// built to give, so the reference the fuzz target compares with is itself
// checked.
func TestFrameReaderSeeds(t *testing.T) {
	for _, s := range fuzzReaderSeeds() {
		for _, mode := range []byte{0, 0x1b, 0x2c, 0x45} {
			cfg := parseFuzzReaderConfig(s.flags, mode)
			ref := refDecode(s.data, cfg)
			var msgs []string
			for _, m := range ref.msgs {
				msgs = append(msgs, string(m.data))
			}
			if !slices.Equal(msgs, s.msgs) || !slices.Contains(ref.codes, s.code) {
				t.Fatalf("%s: reference gives %q and %v, want %q and %d", s.name, msgs, ref.codes, s.msgs, s.code)
			}
			got := fuzzCheckStream(t, s.data, cfg)
			if CloseStatus(got.err) != s.code {
				t.Fatalf("%s (mode %d): read ended with %v, want %d", s.name, mode, got.err, s.code)
			}
		}
	}
}

// TestInflaterStartsClean reads the same corrupt compressed message (its
// Huffman table for code lengths is empty) on fresh connections, after
// messages that leave different Huffman tables in the pooled inflaters:
// it must fail the same way every time. Found by FuzzInflate: the inflater
// used to decode it with the previous message's tables.
func TestInflaterStartsClean(t *testing.T) {
	bad := fuzzFrame(frame.OpBinary, true, true, true, []byte("$0"))
	cfg := fuzzReaderConfig{compress: true, readNoTakeover: true, limit: 1 << 20}
	var first string
	for i, text := range []string{"", strings.Repeat("hello world, a dynamic huffman block please ", 50), "\x00\x01\x02\x03\x00\x01\x02\x01\x00"} {
		for range 3 {
			if text != "" {
				var buf bytes.Buffer
				fw, _ := kflate.NewWriter(&buf, kflate.BestCompression)
				fw.Write([]byte(text))
				fw.Flush()
				good := fuzzFrame(frame.OpBinary, true, true, true, buf.Bytes())
				if got := fuzzReadStream(t, good, cfg); len(got.msgs) != 1 || string(got.msgs[0].data) != text {
					t.Fatalf("%q read back as %v (%v)", text, got.msgs, got.err)
				}
			}
			got := fuzzReadStream(t, bad, cfg)
			var ce *CloseError
			if !errors.As(got.err, &ce) || ce.Code != StatusInvalidFramePayloadData || len(got.msgs) != 0 {
				t.Fatalf("after a %d-byte message: corrupt message gave %d messages, %v", len(text), len(got.msgs), got.err)
			}
			if i == 0 && first == "" {
				first = ce.Reason
			} else if ce.Reason != first {
				t.Fatalf("after a %d-byte message: corrupt message failed with %q, first with %q", len(text), ce.Reason, first)
			}
		}
	}
}

// FuzzFrameReader feeds arbitrary bytes to a Conn as the stream its peer
// sends, with and without permessage-deflate, as server or client, with
// small read limits, network reads cut anywhere and part of the stream
// handed over with the handshake. Reading must end, in an error that is a
// CloseError, after exactly the messages an independent reading of the
// RFCs finds, with the close frame and pongs it requires sent back; no
// message may exceed the read limit, nor the memory used a small multiple
// of it.
func FuzzFrameReader(f *testing.F) {
	for _, s := range fuzzReaderSeeds() {
		fuzzseed.Add(f, s.data, s.flags, byte(0))
		fuzzseed.Add(f, s.data, s.flags, byte(0x1b)) // 3-byte reads, Reader API, 200 bytes buffered
	}
	f.Fuzz(func(t *testing.T, data []byte, flags, mode byte) {
		cfg := parseFuzzReaderConfig(flags, mode)
		got := fuzzCheckStream(t, data, cfg)
		// Message buffers (ours, and the Conn's, which double as they
		// grow) stay within a few times the limit; the inflater and its
		// window take a fixed amount beyond that. An inflater that ignores
		// the limit blows through this on the bomb seeds.
		if bound := fuzzAllocBound(cfg.limit, len(data)); got.allocs > bound {
			t.Fatalf("%+v: reading %d bytes allocated %d bytes (bound %d)", cfg, len(data), got.allocs, bound)
		}
	})
}

// fuzzAllocBound is how many bytes reading n bytes of input with a read
// limit may allocate.
func fuzzAllocBound(limit int64, n int) uint64 {
	return uint64(6*limit) + uint64(2*n) + 256<<10
}

// FuzzInflate sends an arbitrary payload as a compressed message, in one or
// two frames, to a Conn with a small read limit: it must give what a fresh
// inflater gives (refInflate), or fail with 1007 for corrupt data
// and 1009 at the limit, without allocating much beyond it. Then the
// payload goes the other way: compressed by our writer (whole, streamed,
// and twice with context takeover) and read back, it must come back
// unchanged, and compressed by the standard library it must read the same.
func FuzzInflate(f *testing.F) {
	long := []byte(strings.Repeat("compress me, compress me again. ", 40))
	seeds := [][]byte{
		refDeflate(true, long)[0],
		refDeflate(true, []byte("κόσμε"))[0],
		refDeflate(true, make([]byte, 2<<20))[0], // a bomb: 2 MiB of zeros
		{0x00},
		{0x01, 0x00, 0x00, 0xff, 0xff}, // final empty stored block, then the tail again
		{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00},
		{0xff, 0xff, 0xff},
		long,
	}
	for i, s := range seeds {
		fuzzseed.Add(f, s, byte(i), uint16(len(s)/2), byte(i))
		fuzzseed.Add(f, s, byte(i)|0x4, uint16(0), byte(0)) // 1 KiB limit
	}
	f.Fuzz(func(t *testing.T, payload []byte, flags byte, split uint16, wflags byte) {
		text := flags&1 != 0
		cfg := fuzzReaderConfig{
			compress:       true,
			readNoTakeover: flags&2 != 0,
			limit:          [4]int64{1 << 20, 1 << 10, 100, 64 << 10}[flags>>2&3],
			client:         flags&16 != 0,
			chunk:          fuzzChunks[flags>>5&7],
		}
		typ := frame.OpBinary
		if text {
			typ = frame.OpText
		}
		masked := !cfg.client
		var data []byte
		if s := int(split); s > 0 && s < len(payload) {
			data = append(fuzzFrame(typ, false, true, masked, payload[:s]), fuzzFrame(frame.OpContinuation, true, false, masked, payload[s:])...)
		} else {
			data = fuzzFrame(typ, true, true, masked, payload)
		}
		got := fuzzCheckStream(t, data, cfg)
		if bound := fuzzAllocBound(cfg.limit, len(data)); got.allocs > bound {
			t.Fatalf("%+v: inflating %d bytes allocated %d bytes (bound %d)", cfg, len(payload), got.allocs, bound)
		}
		if c := CloseStatus(got.err); len(got.msgs) == 0 && c != StatusInvalidFramePayloadData && c != StatusMessageTooBig {
			t.Fatalf("%+v: compressed message failed with %v, want 1007 or 1009", cfg, got.err)
		}

		// The other way: our compressor, then our reader.
		msg := payload
		if text && !utf8.Valid(msg) {
			msg = []byte(strings.ToValidUTF8(string(msg), "?"))
		}
		// With context takeover every Conn makes its own compressor, which
		// costs more than the rest of an iteration: a quarter of them do.
		fuzzRoundTrip(t, MessageType(typ), msg, flags&2 != 0 || wflags&0x10 == 0, wflags)
		// The standard library's compressor, then our reader.
		ref := refDeflate(false, msg, msg)
		data = append(fuzzFrame(typ, true, true, true, ref[0]), fuzzFrame(typ, true, true, true, ref[1])...)
		rt := fuzzReadStream(t, data, fuzzReaderConfig{compress: true, limit: int64(len(msg)) + 1})
		if len(rt.msgs) != 2 || !bytes.Equal(rt.msgs[0].data, msg) || !bytes.Equal(rt.msgs[1].data, msg) {
			t.Fatalf("%d bytes compressed by compress/flate read back as %d messages (%v)", len(msg), len(rt.msgs), rt.err)
		}
	})
}

// fuzzRoundTrip writes msg with a compressing server Conn (WriteMessage
// twice, with context takeover or not, then streamed through Writer) and
// reads what it wrote with a client Conn.
func fuzzRoundTrip(t *testing.T, typ MessageType, msg []byte, noCtx bool, wflags byte) {
	t.Helper()
	bits := [4]int{15, 15, 11, 8}[wflags&3] // the server's window
	level := [4]int{1, 1, 5, 9}[wflags>>2&3]
	cp := compressParams{enabled: true, writeNoTakeover: noCtx, writeWindowBits: int8(bits), level: int8(level)}
	nc := &fuzzConn{}
	w := newConn(connConfig{nc: nc, compress: cp, compressMin: 0})
	for range 2 {
		if err := w.WriteMessage(typ, msg); err != nil {
			t.Fatal(err)
		}
	}
	mw, err := w.Writer(context.Background(), typ)
	if err != nil {
		t.Fatal(err)
	}
	half := len(msg) / 2
	if _, err := mw.Write(msg[:half]); err != nil {
		t.Fatal(err)
	}
	if _, err := mw.Write(msg[half:]); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	got := fuzzReadStream(t, nc.out.Bytes(), fuzzReaderConfig{client: true, compress: true, readNoTakeover: noCtx, limit: int64(len(msg)) + 1})
	if len(got.msgs) != 3 {
		t.Fatalf("%d-byte message (window %d, no takeover %v) read back as %d messages: %v", len(msg), bits, noCtx, len(got.msgs), got.err)
	}
	for i, m := range got.msgs {
		if m.typ != typ || !bytes.Equal(m.data, msg) {
			t.Fatalf("%d-byte message (window %d, no takeover %v): copy %d read back as %d bytes", len(msg), bits, noCtx, i, len(m.data))
		}
	}
}

// fuzzHijackRecorder is an httptest.ResponseRecorder that can be hijacked,
// handing over a fuzzConn and what is left of the request's reader.
type fuzzHijackRecorder struct {
	*httptest.ResponseRecorder
	conn     *fuzzConn
	br       *bufio.Reader // net/http's reader of rd
	rd       *bytes.Reader // the bytes that came in
	hijacked bool
}

func (h *fuzzHijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h.hijacked = true
	h.conn.in, _ = io.ReadAll(h.rd) // what net/http has not read yet
	return h.conn, bufio.NewReadWriter(h.br, bufio.NewWriter(h.conn)), nil
}

// refAcceptKey is Sec-WebSocket-Accept computed from RFC 6455 section 4.2.2.
func refAcceptKey(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// fuzzHasToken reports whether a comma-separated header has token, ignoring
// case.
func fuzzHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// fuzzAcceptOptions decodes the server's options from the fuzzer's flags.
func fuzzAcceptOptions(flags byte) *AcceptOptions {
	opts := &AcceptOptions{Compression: CompressionOptions{Mode: CompressionMode(flags & 3 % 3)}}
	if flags&4 != 0 {
		opts.Subprotocols = []string{"chat", "v2.json"}
	}
	if flags&8 != 0 {
		opts.OriginPatterns = []string{"*.example.com", "https://app.example.org"}
	}
	opts.InsecureSkipVerify = flags&16 != 0
	if flags&32 != 0 {
		opts.Compression.ServerMaxWindowBits = 10
		opts.Compression.ClientMaxWindowBits = 12
	}
	return opts
}

// FuzzHandshake feeds arbitrary bytes to Accept as an HTTP request. A
// request that net/http parses must be answered 101, with the right
// Sec-WebSocket-Accept and only what the client offered, exactly when it
// is a valid opening handshake (RFC 6455 section 4.2.1) from an allowed
// origin; otherwise with 400, 403, 405 or 426 as the problem requires.
func FuzzHandshake(f *testing.F) {
	valid := "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	for _, s := range []struct {
		req   string
		flags byte
	}{
		{valid + "\r\n", 0},
		{valid + "Origin: http://server.example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\r\n", 4},
		{valid + "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n", 1},
		{valid + "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9; client_no_context_takeover, permessage-deflate\r\n\r\n", 2 | 32},
		{valid + "Sec-WebSocket-Extensions: x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=\"10\"\r\n\r\n", 1},
		{valid + "Origin: https://a.example.com\r\n\r\n", 8},
		{valid + "Origin: https://evil.example\r\n\r\n", 8},
		{valid + "Origin: null\r\n\r\n", 16},
		{valid + "\r\n\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 0}, // a frame right after the request
		{strings.Replace(valid, "GET", "POST", 1) + "\r\n", 0},
		{strings.Replace(valid, "HTTP/1.1", "HTTP/1.0", 1) + "\r\n", 0},
		{strings.Replace(valid, "Version: 13", "Version: 8", 1) + "\r\n", 0},
		{strings.Replace(valid, "Upgrade: websocket", "Upgrade: h2c", 1) + "\r\n", 0},
		{strings.Replace(valid, "Connection: Upgrade", "Connection: keep-alive, upgrade", 1) + "\r\n", 0},
		{strings.Replace(valid, "dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZQ==", 1) + "\r\n", 0},
		{valid + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", 0},
	} {
		fuzzseed.Add(f, []byte(s.req), s.flags)
	}
	f.Fuzz(func(t *testing.T, raw []byte, flags byte) {
		rd := bytes.NewReader(raw)
		br := bufio.NewReader(rd)
		r, err := http.ReadRequest(br)
		if err != nil {
			return // net/http answers 400 before any handler runs
		}
		opts := fuzzAcceptOptions(flags)
		w := &fuzzHijackRecorder{ResponseRecorder: httptest.NewRecorder(), conn: &fuzzConn{}, br: br, rd: rd}
		var c *Conn
		fuzzWithDeadline(t, "Accept", func() { c, err = Accept(w, r, opts) })

		// The conditions of RFC 6455 section 4.2.1, each on its own.
		keys := r.Header.Values("Sec-WebSocket-Key")
		validKey := false
		if len(keys) == 1 {
			k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(keys[0]))
			validKey = err == nil && len(k) == 16
		}
		versions := r.Header.Values("Sec-WebSocket-Version")
		methodOK := r.Method == http.MethodGet
		protoOK := r.ProtoMajor == 1 && r.ProtoMinor >= 1
		upgradeOK := fuzzHasToken(r.Header, "Upgrade", "websocket") && fuzzHasToken(r.Header, "Connection", "upgrade")
		versionOK := len(versions) == 1 && versions[0] == "13"
		originOK := opts.InsecureSkipVerify || refOriginAllowed(r, opts.OriginPatterns)
		validRequest := methodOK && protoOK && upgradeOK && versionOK && validKey && originOK

		if err != nil {
			var he *HandshakeError
			if !errors.As(err, &he) {
				t.Fatalf("Accept failed with %v, not a HandshakeError", err)
			}
			if w.hijacked || w.Code != he.Status {
				t.Fatalf("Accept answered %d (hijacked %v) but returned %v", w.Code, w.hijacked, err)
			}
			var why bool
			switch he.Status {
			case http.StatusMethodNotAllowed:
				why = !methodOK
			case http.StatusBadRequest:
				why = !protoOK || !validKey
			case http.StatusUpgradeRequired:
				why = !upgradeOK || !versionOK
				if w.Header().Get("Sec-WebSocket-Version") != "13" {
					t.Fatal("426 without Sec-WebSocket-Version: 13")
				}
			case http.StatusForbidden:
				why = !originOK
			default:
				t.Fatalf("Accept answered %d", he.Status)
			}
			if !why || validRequest {
				t.Fatalf("Accept refused %q with %v", raw, err)
			}
			return
		}
		defer c.CloseNow()
		if !validRequest {
			t.Fatalf("Accept took an invalid request %q (method %v proto %v upgrade %v version %v key %v origin %v)",
				raw, methodOK, protoOK, upgradeOK, versionOK, validKey, originOK)
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(w.conn.out.Bytes())), r)
		if err != nil {
			t.Fatalf("Accept wrote a malformed response %q: %v", w.conn.out.Bytes(), err)
		}
		if resp.StatusCode != http.StatusSwitchingProtocols || !fuzzHasToken(resp.Header, "Upgrade", "websocket") ||
			!fuzzHasToken(resp.Header, "Connection", "upgrade") {
			t.Fatalf("Accept wrote %q", w.conn.out.Bytes())
		}
		if got, want := resp.Header.Get("Sec-WebSocket-Accept"), refAcceptKey(strings.TrimSpace(keys[0])); got != want {
			t.Fatalf("Sec-WebSocket-Accept is %q, want %q", got, want)
		}
		if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "" {
			offered := false
			for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
				for o := range strings.SplitSeq(v, ",") {
					offered = offered || strings.TrimSpace(o) == p
				}
			}
			if !offered || !slices.Contains(opts.Subprotocols, p) || c.Subprotocol() != p {
				t.Fatalf("subprotocol %q chosen from %q", p, r.Header.Values("Sec-WebSocket-Protocol"))
			}
		}
		ext := resp.Header.Values("Sec-WebSocket-Extensions")
		if c.CompressionNegotiated() != (len(ext) > 0) || (len(ext) > 0 && opts.Compression.Mode == CompressionDisabled) {
			t.Fatalf("extensions %q answered, compression negotiated %v, mode %d", ext, c.CompressionNegotiated(), opts.Compression.Mode)
		}
		if len(ext) > 0 {
			if !strings.Contains(strings.Join(r.Header.Values("Sec-WebSocket-Extensions"), ","), "permessage-deflate") {
				t.Fatalf("permessage-deflate answered to %q", r.Header.Values("Sec-WebSocket-Extensions"))
			}
			if _, err := parseExtensions(ext); err != nil {
				t.Fatalf("answered extensions %q do not parse: %v", ext, err)
			}
		}
		// The bytes after the request belong to the connection.
		c.SetReadLimit(1 << 16)
		fuzzWithDeadline(t, "reading after the handshake", func() {
			for range len(raw)/2 + 1 {
				if _, _, err := c.ReadMessage(nil); err != nil {
					break
				}
			}
		})
	})
}

// refOriginAllowed is the Origin policy documented on AcceptOptions: no
// Origin, the request's own host, or a match of a pattern.
func refOriginAllowed(r *http.Request, patterns []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = origin
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return true
		}
	}
	return false
}

// FuzzDialResponse feeds arbitrary bytes to the client's handshake as the
// server's answer; "{ACCEPT}" in them is replaced by the right
// Sec-WebSocket-Accept for the key the client sent. The handshake must
// succeed exactly for a 101 answer with the upgrade headers and the right
// key, a subprotocol the client offered and extensions it can use.
func FuzzDialResponse(f *testing.F) {
	ok := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n"
	for _, s := range []struct {
		resp  string
		flags byte
	}{
		{ok + "\r\n", 0},
		{ok + "Sec-WebSocket-Protocol: chat\r\n\r\n\x81\x02hi", 4},
		{ok + "Sec-WebSocket-Protocol: other\r\n\r\n", 4},
		{ok + "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00", 1},
		{ok + "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=9\r\n\r\n", 2},
		{ok + "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n\r\n", 1 | 32},
		{ok + "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n", 0},
		{ok + "Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate\r\n\r\n", 1},
		{strings.Replace(ok, "{ACCEPT}", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", 1) + "\r\n", 0},
		{"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 5\r\n\r\nmoved", 0},
		{"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", 0},
		{"HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n", 0},
	} {
		fuzzseed.Add(f, []byte(s.resp), s.flags)
	}
	f.Fuzz(func(t *testing.T, resp []byte, flags byte) {
		opts := &DialOptions{Compression: CompressionOptions{Mode: CompressionMode(flags & 3 % 3)}}
		if flags&4 != 0 {
			opts.Subprotocols = []string{"chat", "v2.json"}
		}
		if flags&32 != 0 {
			opts.Compression.ServerMaxWindowBits = 10
		}
		var key string
		var reqErr error
		nc := &fuzzConn{onFirstRead: func(c *fuzzConn) {
			req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(c.out.Bytes())))
			if err != nil {
				reqErr = err
				return
			}
			key = req.Header.Get("Sec-WebSocket-Key")
			c.in = bytes.ReplaceAll(resp, []byte("{ACCEPT}"), []byte(refAcceptKey(key)))
		}}
		u := &url.URL{Scheme: "http", Host: "example.com", Path: "/ws"}
		var c *Conn
		var err error
		fuzzWithDeadline(t, "the client handshake", func() { c, _, err = clientHandshake(nc, u, opts) })
		if reqErr != nil {
			t.Fatalf("the client sent a malformed request %q: %v", nc.out.Bytes(), reqErr)
		}

		answer := bytes.ReplaceAll(resp, []byte("{ACCEPT}"), []byte(refAcceptKey(key)))
		br := bufio.NewReader(bytes.NewReader(answer))
		r, rerr := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
		if rerr != nil {
			if err == nil {
				t.Fatalf("handshake succeeded on a response net/http cannot parse: %v", rerr)
			}
			return
		}
		proto := r.Header.Get("Sec-WebSocket-Protocol")
		headersOK := r.StatusCode == http.StatusSwitchingProtocols && r.ProtoAtLeast(1, 1) &&
			fuzzHasToken(r.Header, "Upgrade", "websocket") && fuzzHasToken(r.Header, "Connection", "upgrade") &&
			r.Header.Get("Sec-WebSocket-Accept") == refAcceptKey(key) &&
			(proto == "" || slices.Contains(opts.Subprotocols, proto))
		exts, extErr := parseExtensions(r.Header.Values("Sec-WebSocket-Extensions"))
		if err != nil {
			if headersOK && extErr == nil && len(exts) == 0 {
				t.Fatalf("handshake refused a valid answer %q: %v", answer, err)
			}
			return
		}
		defer c.CloseNow()
		if !headersOK {
			t.Fatalf("handshake accepted %q", answer)
		}
		if c.CompressionNegotiated() && opts.Compression.Mode == CompressionDisabled {
			t.Fatalf("compression negotiated without an offer: %+v", exts)
		}
		if c.CompressionNegotiated() != (len(exts) > 0) {
			t.Fatalf("compression negotiated %v from %+v", c.CompressionNegotiated(), exts)
		}
		// The bytes after the answer belong to the connection.
		c.SetReadLimit(1 << 16)
		fuzzWithDeadline(t, "reading after the handshake", func() {
			for range len(answer)/2 + 1 {
				if _, _, err := c.ReadMessage(nil); err != nil {
					break
				}
			}
		})
	})
}

// FuzzProxyResponse feeds arbitrary bytes to Dial's HTTP CONNECT proxy
// client as the proxy's answer. The tunnel must open exactly on a 200
// answer with nothing after it, and the CONNECT request must carry the
// proxy credentials.
func FuzzProxyResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 Connection established\r\n\r\n",
		"HTTP/1.0 200 OK\r\nProxy-Agent: test\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 101 Switching Protocols\r\n",
		"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	} {
		fuzzseed.Add(f, []byte(s), true)
		fuzzseed.Add(f, []byte(s), false)
	}
	f.Fuzz(func(t *testing.T, resp []byte, auth bool) {
		nc := &fuzzConn{in: resp}
		dial := func(context.Context, string, string) (net.Conn, error) { return nc, nil }
		pu := &url.URL{Scheme: "http", Host: "proxy.example:3128"}
		if auth {
			pu.User = url.UserPassword("al:ice", "s3cr=t")
		}
		var err error
		fuzzWithDeadline(t, "the CONNECT exchange", func() {
			_, err = dialProxy(context.Background(), dial, pu, "example.com:443")
		})
		req, rerr := http.ReadRequest(bufio.NewReader(bytes.NewReader(nc.out.Bytes())))
		if rerr != nil || req.Method != http.MethodConnect || req.Host != "example.com:443" {
			t.Fatalf("the client sent a bad CONNECT request %q: %v", nc.out.Bytes(), rerr)
		}
		if got, want := req.Header.Get("Proxy-Authorization"), "Basic "+base64.StdEncoding.EncodeToString([]byte("al:ice:s3cr=t")); auth && got != want {
			t.Fatalf("Proxy-Authorization is %q, want %q", got, want)
		}
		br := bufio.NewReader(bytes.NewReader(resp))
		r, perr := http.ReadResponse(br, req)
		opened := perr == nil && r.StatusCode == http.StatusOK && br.Buffered() == 0
		if (err == nil) != opened {
			t.Fatalf("answer %q: tunnel error %v", resp, err)
		}
		// After a complete 200 answer a live proxy sends nothing more: a
		// client that reads on (a body RFC 9110 section 9.3.6 says to
		// ignore) hangs until its timeout.
		if perr == nil && r.StatusCode == http.StatusOK && nc.waited > 0 {
			t.Fatalf("answer %q: the client read on after the 200 answer", resp)
		}
		if err == nil && !nc.closed {
			nc.Close()
		} else if err != nil && !nc.closed {
			t.Fatalf("answer %q refused (%v) without closing the connection", resp, err)
		}
	})
}

// fuzzFormatExtensions writes extensions back as a header value, quoting no
// value (they are tokens).
func fuzzFormatExtensions(exts []extension) string {
	var b strings.Builder
	for i, e := range exts {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(e.name)
		for _, p := range e.params {
			b.WriteString("; " + p.name)
			if p.hasValue {
				b.WriteString("=" + p.value)
			}
		}
	}
	return b.String()
}

// fuzzIsToken reports whether s is an RFC 7230 token.
func fuzzIsToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

// fuzzCompressionOptions decodes options for one side from a fuzzer byte.
func fuzzCompressionOptions(b byte) CompressionOptions {
	bits := func(v byte) int { // 0 (meaning 15) or 8–14
		if v == 0 {
			return 0
		}
		return 7 + int(v)
	}
	return CompressionOptions{
		Mode:                CompressionMode(b & 3 % 3),
		ServerMaxWindowBits: bits(b >> 2 & 7),
		ClientMaxWindowBits: bits(b >> 5 & 7),
	}
}

// fuzzDeflateResponse is a parsed permessage-deflate response.
type fuzzDeflateResponse struct {
	o deflateOffer
}

// FuzzExtensions checks the Sec-WebSocket-Extensions parser and the
// permessage-deflate negotiation of both sides: parsing never panics and
// what it parses writes back to a header that parses the same; the server
// accepts an offer exactly when one is valid, answers only what was offered
// or what its options require, with window bits 8–15; the client accepts
// that answer with matching parameters; and the client's own offer,
// answered by our server, always negotiates.
func FuzzExtensions(f *testing.F) {
	for _, s := range []string{
		"permessage-deflate",
		"permessage-deflate; client_max_window_bits",
		"permessage-deflate; client_max_window_bits=10; server_max_window_bits=12; server_no_context_takeover; client_no_context_takeover",
		"x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=\"9\"",
		"permessage-deflate; server_max_window_bits=16, permessage-deflate; server_max_window_bits=08, permessage-deflate",
		"permessage-deflate; client_max_window_bits; client_max_window_bits",
		"permessage-deflate; server_max_window_bits",
		"permessage-deflate; server_no_context_takeover=1",
		"permessage-deflate; foo=\"b\\ar\"",
		"permessage-deflate;;",
		"permessage-deflate; a=\"unterminated",
		"foo, bar; baz=1,, permessage-deflate\nmux; x",
		"",
	} {
		fuzzseed.Add(f, s, byte(1), byte(0))
		fuzzseed.Add(f, s, byte(2|2<<2|7<<5), byte(1|1<<2|3<<5))
	}
	f.Fuzz(func(t *testing.T, header string, sflags, cflags byte) {
		values := strings.Split(header, "\n")
		exts, err := parseExtensions(values)
		if err == nil {
			for _, e := range exts {
				if !fuzzIsToken(e.name) {
					t.Fatalf("extension name %q is not a token", e.name)
				}
				for _, p := range e.params {
					if !fuzzIsToken(p.name) || (p.hasValue && !fuzzIsToken(p.value)) || (!p.hasValue && p.value != "") {
						t.Fatalf("parameter %+v of %q is not made of tokens", p, e.name)
					}
				}
			}
			again, err := parseExtensions([]string{fuzzFormatExtensions(exts)})
			if err != nil || !reflect.DeepEqual(again, exts) {
				t.Fatalf("%q parsed as %+v, written back as %q, parsed again as %+v (%v)", header, exts, fuzzFormatExtensions(exts), again, err)
			}
		}

		// The server's side of an arbitrary offer.
		sopts := fuzzCompressionOptions(sflags)
		scp, resp := negotiateServer(sopts, values)
		var offer *deflateOffer // the first acceptable offer
		if err == nil && sopts.Mode != CompressionDisabled {
			for _, e := range exts {
				if e.name == "permessage-deflate" {
					if o, err := parseDeflateParams(e.params); err == nil {
						offer = &o
						break
					}
				}
			}
		}
		if scp.enabled != (offer != nil) || (resp != "") != scp.enabled {
			t.Fatalf("server options %+v, offer %q: negotiated %+v, %q", sopts, header, scp, resp)
		}
		if scp.enabled {
			r := fuzzCheckResponse(t, resp)
			if r.o.serverNoTakeover != scp.writeNoTakeover || r.o.clientNoTakeover != scp.readNoTakeover {
				t.Fatalf("answer %q does not match the server's parameters %+v", resp, scp)
			}
			if scp.writeWindowBits < 8 || scp.writeWindowBits > 15 || int(scp.writeWindowBits) > windowBits(sopts.ServerMaxWindowBits) {
				t.Fatalf("server window bits %d with options %+v", scp.writeWindowBits, sopts)
			}
			if r.o.serverBits != 0 && r.o.serverBits != int(scp.writeWindowBits) {
				t.Fatalf("answer %q, but the server compresses with window bits %d", resp, scp.writeWindowBits)
			}
			if offer.serverNoTakeover && !r.o.serverNoTakeover {
				t.Fatalf("answer %q ignores server_no_context_takeover in %q", resp, header)
			}
			if offer.serverBits != 0 && (r.o.serverBits == 0 || r.o.serverBits > offer.serverBits) {
				t.Fatalf("answer %q ignores server_max_window_bits in %q", resp, header)
			}
			if offer.serverBits == 0 && r.o.serverBits != 0 && r.o.serverBits != 15 {
				// Allowed by RFC 7692 only as a hint; we never send it.
				t.Fatalf("answer %q has server_max_window_bits that %q did not ask for", resp, header)
			}
			if r.o.clientBits != 0 && (offer.clientBits == 0 || (offer.clientBits > 0 && r.o.clientBits > offer.clientBits)) {
				t.Fatalf("answer %q has client_max_window_bits beyond %q", resp, header)
			}
		}

		// The client's side of an arbitrary answer.
		copts := fuzzCompressionOptions(cflags)
		if ccp, err := negotiateClient(copts, values); err == nil && ccp.enabled {
			if copts.Mode == CompressionDisabled || ccp.writeWindowBits < 8 || ccp.writeWindowBits > 15 {
				t.Fatalf("client options %+v accepted %q as %+v", copts, header, ccp)
			}
		}

		// Our client's offer, our server's answer, our client's check.
		offerHdr := clientOffer(copts)
		if _, err := parseExtensions([]string{offerHdr}); err != nil {
			t.Fatalf("client offer %q does not parse: %v", offerHdr, err)
		}
		if copts.Mode == CompressionDisabled {
			return
		}
		scp, resp = negotiateServer(sopts, []string{offerHdr})
		if scp.enabled != (sopts.Mode != CompressionDisabled) {
			t.Fatalf("server %+v declined our client's offer %q", sopts, offerHdr)
		}
		var respValues []string
		if resp != "" {
			respValues = []string{resp}
		}
		ccp, err := negotiateClient(copts, respValues)
		if err != nil {
			t.Fatalf("client %+v refused our server's answer %q to %q: %v", copts, resp, offerHdr, err)
		}
		if ccp.enabled != scp.enabled {
			t.Fatalf("client negotiated %v, server %v", ccp.enabled, scp.enabled)
		}
		if !ccp.enabled {
			return
		}
		if ccp.writeNoTakeover != scp.readNoTakeover || ccp.readNoTakeover != scp.writeNoTakeover {
			t.Fatalf("takeover disagrees: client %+v, server %+v (offer %q, answer %q)", ccp, scp, offerHdr, resp)
		}
		if copts.Mode == CompressionNoContextTakeover && !(ccp.writeNoTakeover && ccp.readNoTakeover) {
			t.Fatalf("client asked for no context takeover, got %+v", ccp)
		}
		if int(scp.writeWindowBits) > windowBits(copts.ServerMaxWindowBits) {
			t.Fatalf("server compresses with window bits %d, client allows %d", scp.writeWindowBits, windowBits(copts.ServerMaxWindowBits))
		}
		if int(ccp.writeWindowBits) > windowBits(sopts.ClientMaxWindowBits) || int(ccp.writeWindowBits) > windowBits(copts.ClientMaxWindowBits) {
			t.Fatalf("client compresses with window bits %d; server allows %d", ccp.writeWindowBits, windowBits(sopts.ClientMaxWindowBits))
		}
	})
}

// fuzzCheckResponse parses a server's answer: exactly one permessage-deflate
// with valid parameters.
func fuzzCheckResponse(t *testing.T, resp string) fuzzDeflateResponse {
	t.Helper()
	exts, err := parseExtensions([]string{resp})
	if err != nil || len(exts) != 1 || exts[0].name != "permessage-deflate" {
		t.Fatalf("answer %q does not parse as one permessage-deflate: %+v, %v", resp, exts, err)
	}
	o, err := parseDeflateParams(exts[0].params)
	if err != nil || o.clientBits < 0 {
		t.Fatalf("answer %q has bad parameters: %v", resp, err)
	}
	for _, p := range exts[0].params {
		if p.hasValue {
			if n, err := strconv.Atoi(p.value); err != nil || n < 8 || n > 15 {
				t.Fatalf("answer %q has window bits %q", resp, p.value)
			}
		}
	}
	if fuzzFormatExtensions(exts) != resp {
		t.Fatalf("answer %q is not in canonical form %q", resp, fuzzFormatExtensions(exts))
	}
	return fuzzDeflateResponse{o: o}
}
