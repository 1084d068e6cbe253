package websocket

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/flate"

	"github.com/tether-rt/tether/websocket/frame"
	"github.com/tether-rt/tether/websocket/internal/deflate"
	"github.com/tether-rt/tether/websocket/internal/inflate"
)

// CompressionMode selects whether and how permessage-deflate is used.
type CompressionMode int

// The compression modes.
const (
	// CompressionDisabled neither offers nor accepts permessage-deflate.
	CompressionDisabled CompressionMode = iota
	// CompressionContextTakeover keeps the deflate window from message to
	// message in both directions: the best ratio for streams of similar
	// messages. Compressors are pooled as without takeover (a few busy
	// connections keep theirs until they go quiet); a connection keeps the
	// last 4 KiB it sent compressed, to prime the compressor of its next
	// message, and the last window of what it received (32 KiB unless
	// ClientMaxWindowBits is lower), each only as far as that much has gone
	// through.
	CompressionContextTakeover
	// CompressionNoContextTakeover compresses each message on its own. State
	// is pooled between messages, so idle connections cost nothing extra, and
	// a broadcast can be compressed once for all connections.
	CompressionNoContextTakeover
)

// CompressionOptions configures permessage-deflate (RFC 7692). The zero
// value disables it.
type CompressionOptions struct {
	Mode CompressionMode
	// Level is the flate compression level; 0 means 1 (fastest). At
	// level 1 without context takeover, messages up to 1 KiB are written
	// as one block with DEFLATE's fixed codes: about a fifth of the
	// compression time, a third of the peer's decompression time, and
	// about a fifth larger (9–22 % for JSON-like text) than a general
	// compressor makes them.
	Level int
	// Threshold is the size below which messages are sent uncompressed; 0
	// means 128 bytes, -1 compresses every message.
	Threshold int
	// ServerMaxWindowBits and ClientMaxWindowBits (8–15; 0 means 15) cap
	// the deflate window of each side. A server uses ServerMaxWindowBits for
	// what it sends and asks clients that allow it for ClientMaxWindowBits.
	ServerMaxWindowBits int
	ClientMaxWindowBits int
}

// compressParams is the outcome of a negotiation, seen from one side.
type compressParams struct {
	enabled         bool
	writeNoTakeover bool // reset our compressor after each message
	readNoTakeover  bool // the peer resets its compressor after each message
	writeWindowBits int8 // our compressor's window
	readWindowBits  int8 // the peer's compressor's window; 0 means 15
	level           int8 // flate.HuffmanOnly to flate.BestCompression
}

func (o CompressionOptions) level() int {
	if o.Level == 0 {
		return flate.BestSpeed
	}
	return o.Level
}

func (o CompressionOptions) threshold() int {
	switch {
	case o.Threshold == 0:
		return 128
	case o.Threshold < 0:
		return 0
	}
	return o.Threshold
}

func windowBits(b int) int {
	if b == 0 {
		return 15
	}
	return b
}

func (o CompressionOptions) validate() error {
	if o.Mode < CompressionDisabled || o.Mode > CompressionNoContextTakeover {
		return fmt.Errorf("websocket: unknown compression mode %d", o.Mode)
	}
	for _, b := range []int{o.ServerMaxWindowBits, o.ClientMaxWindowBits} {
		if b != 0 && (b < 8 || b > 15) {
			return fmt.Errorf("websocket: max window bits %d outside 8–15", b)
		}
	}
	if o.Level < flate.HuffmanOnly || o.Level > flate.BestCompression {
		return fmt.Errorf("websocket: compression level %d outside %d–%d", o.Level, flate.HuffmanOnly, flate.BestCompression)
	}
	return nil
}

// extension is one entry of a Sec-WebSocket-Extensions header.
type extension struct {
	name   string
	params []extParam
}

type extParam struct {
	name, value string
	hasValue    bool
}

// parseExtensions parses Sec-WebSocket-Extensions header values (RFC 6455,
// section 9.1): comma-separated extensions, each a token followed by
// ";"-separated parameters, whose values are tokens or quoted strings.
func parseExtensions(values []string) ([]extension, error) {
	var exts []extension
	for _, v := range values {
		s := v
		for {
			s = skipSpace(s)
			if s == "" {
				break
			}
			var e extension
			var ok bool
			if e.name, s, ok = cutToken(s); !ok {
				return nil, fmt.Errorf("bad extension name in %q", v)
			}
			for {
				s = skipSpace(s)
				if s == "" || s[0] == ',' {
					break
				}
				if s[0] != ';' {
					return nil, fmt.Errorf("unexpected %q in extension %q", s[0], v)
				}
				s = skipSpace(s[1:])
				var p extParam
				if p.name, s, ok = cutToken(s); !ok {
					return nil, fmt.Errorf("bad extension parameter in %q", v)
				}
				s = skipSpace(s)
				if s != "" && s[0] == '=' {
					s = skipSpace(s[1:])
					p.hasValue = true
					if s != "" && s[0] == '"' {
						p.value, s, ok = cutQuoted(s)
					} else {
						p.value, s, ok = cutToken(s)
					}
					if !ok {
						return nil, fmt.Errorf("bad value for %s in %q", p.name, v)
					}
				}
				e.params = append(e.params, p)
			}
			exts = append(exts, e)
			if s != "" {
				s = s[1:] // the comma
			}
		}
	}
	return exts, nil
}

func skipSpace(s string) string { return strings.TrimLeft(s, " \t") }

// isTokenChar reports whether c may appear in an RFC 7230 token.
func isTokenChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	return !strings.ContainsRune("()<>@,;:\\\"/[]?={}", rune(c))
}

func cutToken(s string) (tok, rest string, ok bool) {
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	return s[:i], s[i:], i > 0
}

// cutQuoted cuts a quoted string off s. RFC 6455 requires the unquoted
// value to be a token, so escapes are undone and the result checked.
func cutQuoted(s string) (val, rest string, ok bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			v := b.String()
			_, r, ok := cutToken(v)
			return v, s[i+1:], ok && r == ""
		case '\\':
			if i+1 == len(s) {
				return "", "", false
			}
			i++
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", "", false
}

// deflateOffer holds the parameters of one permessage-deflate offer or
// response.
type deflateOffer struct {
	serverNoTakeover, clientNoTakeover bool
	serverBits                         int // 0: absent
	clientBits                         int // 0: absent; -1: present without value
}

// parseDeflateParams checks a permessage-deflate entry's parameters. Each
// may appear once; window bits must be 8–15.
func parseDeflateParams(params []extParam) (deflateOffer, error) {
	var o deflateOffer
	seen := map[string]bool{}
	for _, p := range params {
		if seen[p.name] {
			return o, fmt.Errorf("permessage-deflate parameter %s repeated", p.name)
		}
		seen[p.name] = true
		switch p.name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if p.hasValue {
				return o, fmt.Errorf("permessage-deflate parameter %s takes no value", p.name)
			}
			if p.name[0] == 's' {
				o.serverNoTakeover = true
			} else {
				o.clientNoTakeover = true
			}
		case "server_max_window_bits", "client_max_window_bits":
			bits := -1
			if p.hasValue {
				n, err := strconv.Atoi(p.value)
				if err != nil || n < 8 || n > 15 || p.value[0] == '0' || p.value[0] == '+' {
					return o, fmt.Errorf("permessage-deflate %s=%q is not 8–15", p.name, p.value)
				}
				bits = n
			}
			if p.name[0] == 's' {
				if bits < 0 {
					return o, errors.New("permessage-deflate server_max_window_bits needs a value")
				}
				o.serverBits = bits
			} else {
				o.clientBits = bits
			}
		default:
			return o, fmt.Errorf("unknown permessage-deflate parameter %s", p.name)
		}
	}
	return o, nil
}

// negotiateServer picks the first acceptable permessage-deflate offer
// and returns the parameters to use and the response header value. It
// returns enabled=false when compression is off or no offer is acceptable.
func negotiateServer(opts CompressionOptions, values []string) (compressParams, string) {
	if opts.Mode == CompressionDisabled || len(values) == 0 {
		return compressParams{}, ""
	}
	exts, err := parseExtensions(values)
	if err != nil {
		return compressParams{}, ""
	}
	for _, e := range exts {
		if e.name != "permessage-deflate" {
			continue
		}
		o, err := parseDeflateParams(e.params)
		if err != nil {
			continue // decline this offer, try the next
		}
		cp := compressParams{enabled: true, level: int8(opts.level()), writeWindowBits: int8(windowBits(opts.ServerMaxWindowBits))}
		resp := []string{"permessage-deflate"}
		if o.serverNoTakeover || opts.Mode == CompressionNoContextTakeover {
			cp.writeNoTakeover = true
			resp = append(resp, "server_no_context_takeover")
		}
		if o.clientNoTakeover || opts.Mode == CompressionNoContextTakeover {
			cp.readNoTakeover = true
			resp = append(resp, "client_no_context_takeover")
		}
		if o.serverBits != 0 {
			cp.writeWindowBits = min(cp.writeWindowBits, int8(o.serverBits))
			resp = append(resp, "server_max_window_bits="+strconv.Itoa(int(cp.writeWindowBits)))
		}
		cp.readWindowBits = 15
		if cb := windowBits(opts.ClientMaxWindowBits); o.clientBits != 0 && cb < 15 {
			if o.clientBits > 0 {
				cb = min(cb, o.clientBits)
			}
			resp = append(resp, "client_max_window_bits="+strconv.Itoa(cb))
			cp.readWindowBits = int8(cb)
		}
		return cp, strings.Join(resp, "; ")
	}
	return compressParams{}, ""
}

// clientOffer is the Sec-WebSocket-Extensions value a client sends.
func clientOffer(opts CompressionOptions) string {
	s := "permessage-deflate; client_max_window_bits"
	if opts.Mode == CompressionNoContextTakeover {
		s += "; server_no_context_takeover; client_no_context_takeover"
	}
	if b := windowBits(opts.ServerMaxWindowBits); b < 15 {
		s += "; server_max_window_bits=" + strconv.Itoa(b)
	}
	return s
}

// negotiateClient checks the server's Sec-WebSocket-Extensions response
// against what the client offered and returns the parameters to use.
func negotiateClient(opts CompressionOptions, values []string) (compressParams, error) {
	exts, err := parseExtensions(values)
	if err != nil {
		return compressParams{}, err
	}
	var cp compressParams
	for _, e := range exts {
		if e.name != "permessage-deflate" || opts.Mode == CompressionDisabled {
			return cp, fmt.Errorf("server accepted extension %q, which was not offered", e.name)
		}
		if cp.enabled {
			return cp, errors.New("server accepted permessage-deflate twice")
		}
		o, err := parseDeflateParams(e.params)
		if err != nil {
			return cp, err
		}
		if o.clientBits < 0 {
			return cp, errors.New("server sent client_max_window_bits without a value")
		}
		if opts.Mode == CompressionNoContextTakeover && !o.serverNoTakeover {
			return cp, errors.New("server did not accept server_no_context_takeover")
		}
		if b := windowBits(opts.ServerMaxWindowBits); b < 15 && (o.serverBits == 0 || o.serverBits > b) {
			return cp, fmt.Errorf("server did not accept server_max_window_bits=%d", b)
		}
		cp = compressParams{
			enabled:         true,
			level:           int8(opts.level()),
			writeNoTakeover: o.clientNoTakeover || opts.Mode == CompressionNoContextTakeover,
			readNoTakeover:  o.serverNoTakeover,
			writeWindowBits: int8(windowBits(opts.ClientMaxWindowBits)),
			readWindowBits:  int8(windowBits(o.serverBits)),
		}
		if o.clientBits > 0 {
			cp.writeWindowBits = min(cp.writeWindowBits, int8(o.clientBits))
		}
	}
	return cp, nil
}

// The tail that a sync flush ends with, which RFC 7692 strips from each
// message and the receiver puts back.
var deflateTail = [4]byte{0x00, 0x00, 0xff, 0xff}

// inflaterPool holds the decompressors of every connection. A pooled
// [inflate.Decoder] keeps nothing of one message that the next, of any
// connection, could observe (see package inflate), so it needs no
// scrubbing between uses.
var inflaterPool = sync.Pool{New: func() any { return new(inflate.Decoder) }}

// maxWindow is the largest deflate window (15 bits).
const maxWindow = 32 << 10

// readWindow is how much decompressed output the reader keeps between
// messages with context takeover: the peer's window, at least 512 bytes,
// since zlib, which many peers use, compresses with a 512-byte window when
// 8 bits are negotiated.
func (cp compressParams) readWindow() int {
	if cp.readWindowBits == 0 {
		return maxWindow
	}
	return 1 << max(cp.readWindowBits, 9)
}

// startInflate sets up decompression of the message that has just begun.
func (c *Conn) startInflate() {
	r := &c.r
	if r.z == nil {
		r.z = &inflateState{src: flateSource{c: c}}
	}
	z := r.z
	z.src.tail = 0
	z.src.eof = false
	z.src.err = nil
	var dict []byte
	if !c.compress.readNoTakeover {
		dict = z.dict
	}
	d := inflaterPool.Get().(*inflate.Decoder)
	d.Reset(&z.src, dict)
	r.inflate = d
}

// endInflate returns the decompressor to the pool, no longer holding on to
// the connection.
func (c *Conn) endInflate() {
	c.r.inflate.Reset(nil, nil)
	inflaterPool.Put(c.r.inflate)
	c.r.inflate = nil
}

// readInflated reads decompressed payload of the current message.
func (c *Conn) readInflated(p []byte) (int, error) {
	r := &c.r
	n, err := r.inflate.Read(p)
	if n > 0 {
		r.decompressed += int64(n)
		if r.decompressed > c.readLimit.Load() {
			c.endInflate()
			return 0, c.failRead(StatusMessageTooBig, "decompressed message is bigger than the read limit")
		}
		if r.msgType == frame.OpText && !r.utf8.Write(p[:n]) {
			c.endInflate()
			return 0, c.failRead(StatusInvalidFramePayloadData, "invalid UTF-8 in text message")
		}
		if !c.compress.readNoTakeover {
			r.z.dict = appendWindow(r.z.dict, p[:n], c.compress.readWindow())
		}
	}
	if err == nil {
		return n, nil
	}
	if r.z.src.err != nil {
		c.endInflate()
		return 0, r.z.src.err
	}
	if err == io.EOF || (err == io.ErrUnexpectedEOF && r.z.src.eof) {
		// Whatever follows a final deflate block is ignored, but the frames
		// must still be read off the wire.
		for !r.z.src.eof {
			var b [64]byte
			if _, err := r.z.src.Read(b[:]); err != nil && err != io.EOF {
				c.endInflate()
				return 0, err
			}
		}
		c.endInflate()
		if r.msgType == frame.OpText && !r.utf8.Done() {
			return 0, c.failRead(StatusInvalidFramePayloadData, "text message ends inside a UTF-8 sequence")
		}
		r.msgDone = true
		return n, io.EOF
	}
	c.endInflate()
	return 0, c.failRead(StatusInvalidFramePayloadData, "invalid compressed data: "+err.Error())
}

// appendWindow appends p to the window w, keeping only the last size
// bytes. The window's array grows, doubling, only as far as bytes have
// gone through it, never beyond size: a connection that has received one
// small message keeps that message, not a whole window.
func appendWindow(w, p []byte, size int) []byte {
	if len(p) >= size {
		if cap(w) < size {
			w = make([]byte, 0, size)
		}
		return append(w[:0], p[len(p)-size:]...)
	}
	if over := len(w) + len(p) - size; over > 0 {
		w = w[:copy(w, w[over:])]
	}
	if need := len(w) + len(p); need > cap(w) {
		nw := make([]byte, len(w), min(size, max(need, 2*cap(w))))
		copy(nw, w)
		w = nw
	}
	return append(w, p...)
}

// flateSource feeds a compressed message's payload to the decompressor,
// followed by the 4 bytes of [deflateTail].
// inflateState is a connection's state for reading compressed messages,
// made with the first one (most connections never get one).
type inflateState struct {
	src  flateSource
	dict []byte // last window of decompressed output, for context takeover
}

type flateSource struct {
	c    *Conn
	tail int   // bytes of the tail already given
	eof  bool  // everything has been given
	err  error // a read error other than the message's end
}

func (s *flateSource) Read(p []byte) (int, error) {
	if s.eof {
		return 0, io.EOF
	}
	if s.tail == 0 {
		n, err := s.c.readRaw(p)
		if err == nil {
			return n, nil
		}
		if err != io.EOF {
			s.err = err
			return n, err
		}
	}
	n := copy(p, deflateTail[s.tail:])
	s.tail += n
	if s.tail == len(deflateTail) {
		s.eof = true
	}
	return n, nil
}

// deflater compresses outgoing messages into a buffer.
type deflater struct {
	fw  *flate.Writer
	out []byte
	// stamp identifies the message a connection with context takeover
	// compressed last with fw (see [Conn.getDeflater]); 0 otherwise.
	stamp uint64
}

// Write collects the compressor's output.
func (d *deflater) Write(p []byte) (int, error) {
	d.out = append(d.out, p...)
	return len(p), nil
}

// deflaterPools pools compressors, one pool per window size (index 8–15)
// and level (index 15 is split by level in levelPools). A pooled
// compressor is only ever used after [flate.Writer.ResetDict], never
// Reset, which would bring back the dictionary of whichever connection
// primed it last.
var (
	windowPools [15]sync.Pool
	levelPools  [flate.BestCompression - flate.HuffmanOnly + 1]sync.Pool
)

func deflaterPool(cp compressParams) *sync.Pool {
	if cp.writeWindowBits < 15 {
		return &windowPools[cp.writeWindowBits]
	}
	return &levelPools[cp.level-flate.HuffmanOnly]
}

// newDeflater makes a compressor for cp's window and level.
func newDeflater(cp compressParams) *deflater {
	d := &deflater{}
	var err error
	if cp.writeWindowBits < 15 {
		d.fw, err = flate.NewWriterWindow(d, 1<<cp.writeWindowBits)
	} else {
		d.fw, err = flate.NewWriter(d, int(cp.level))
	}
	if err != nil {
		panic("websocket: " + err.Error()) // options were validated
	}
	return d
}

// historySize is the most a connection with context takeover keeps of
// what it sent, to prime the compressor of its next message. RFC 7692 caps
// the sender's window, not the receiver's: the peer keeps the whole
// negotiated window, so a compressor that refers only to the last
// historySize bytes (plus the message itself, within the negotiated
// window) is always understood.
//
// Priming costs about what compressing the history costs, per message
// that does not find its compressor warm (see getDeflater); it grows
// linearly with the history. BenchmarkWriteTakeover (different JSON
// messages) compressed 512-byte messages 1.72:1 without takeover, 2.05:1
// with 1 KiB of history, 2.13 with 2 KiB, 2.22 with 4 KiB, 2.29 with 8 KiB
// and 2.38 with the whole 32 KiB window, which a warm compressor has; a
// cold message cost about 2×, 2.5×, 4× and 15× the CPU of a warm one with
// 2, 4, 8 and 32 KiB. 4 KiB, what gws keeps by default, gets three
// quarters of what takeover gains.
const historySize = 4 << 10

// deflateStamps numbers the compressed messages of connections with
// context takeover.
var deflateStamps atomic.Uint64

// A busy connection with context takeover keeps its compressor between
// messages, so that it does not pay for priming one each time (2.8× the
// CPU of a 512-byte message, 1.7× at 4 KiB), until deflaterIdle passes
// without a compressed message. At most maxHeldDeflaters connections of
// the process do so at once, about 26 MB of compressors at levels 1–6;
// the others take pooled compressors for each message. Without that bound,
// a server broadcasting often to many connections with context takeover
// would hold a compressor per connection again.
var deflaterIdle atomic.Int64 // nanoseconds; tests change it

func init() { deflaterIdle.Store(int64(defaultDeflaterIdle)) }

// defaultDeflaterIdle is deflaterIdle's value outside tests.
const defaultDeflaterIdle = 250 * time.Millisecond

// defaultHeldDeflaters is maxHeldDeflaters' value outside tests.
const defaultHeldDeflaters = 32

var (
	maxHeldDeflaters atomic.Int64 // tests and benchmarks change it
	heldDeflaters    atomic.Int64
)

func init() { maxHeldDeflaters.Store(defaultHeldDeflaters) }

// getDeflater returns a compressor ready for the next message.
//
// Without context takeover, a pooled one, reset. With context takeover,
// the compressor must continue the connection's stream: the one the
// connection keeps while it is busy, or a pooled one primed with the
// history, the last [historySize] bytes the connection sent compressed.
// When the pool gives back the compressor the connection used for its last
// message, untouched since (it tends to return to a goroutine what it put
// back last), the compressor's own state is that history and more, and it
// goes on without priming.
func (c *Conn) getDeflater() *deflater {
	if d := c.w.held; d != nil {
		c.w.heldUsed = true
		return d
	}
	d, ok := deflaterPool(c.compress).Get().(*deflater)
	if !ok {
		d = newDeflater(c.compress)
	}
	if c.w.stamp == 0 || d.stamp != c.w.stamp {
		d.fw.ResetDict(d, c.w.hist)
	}
	d.stamp = 0
	return d
}

// putDeflater ends a message's use of d: it goes back to the pool, or,
// with context takeover, the connection keeps it if the budget allows.
func (c *Conn) putDeflater(d *deflater) {
	d.out = nil
	switch {
	case c.compress.writeNoTakeover:
		deflaterPool(c.compress).Put(d)
	case d == c.w.held:
	case heldDeflaters.Add(1) <= maxHeldDeflaters.Load():
		c.w.held, c.w.heldUsed = d, false
		c.w.heldTimer = time.AfterFunc(time.Duration(deflaterIdle.Load()), c.releaseDeflater)
	default:
		heldDeflaters.Add(-1)
		c.poolDeflater(d)
	}
}

// poolDeflater returns d, which has just compressed a message of a
// connection with context takeover, to the pool, stamped.
func (c *Conn) poolDeflater(d *deflater) {
	c.w.stamp = deflateStamps.Add(1)
	d.stamp = c.w.stamp
	deflaterPool(c.compress).Put(d)
}

// releaseDeflater runs deflaterIdle after a connection started keeping a
// compressor, and again every deflaterIdle while it is busy; it returns
// the compressor to the pool once a period has gone by without a message.
// It also does so for a connection that has been closed.
func (c *Conn) releaseDeflater() {
	c.msgMu.Lock()
	defer c.msgMu.Unlock()
	d := c.w.held
	if d == nil {
		return
	}
	if c.w.heldUsed {
		c.w.heldUsed = false
		c.w.heldTimer.Reset(time.Duration(deflaterIdle.Load()))
		return
	}
	c.w.held, c.w.heldTimer = nil, nil
	heldDeflaters.Add(-1)
	c.poolDeflater(d)
}

// addHistory records p, which is being sent compressed, in the history of
// a connection with context takeover.
func (c *Conn) addHistory(p []byte) {
	if !c.compress.writeNoTakeover {
		c.w.hist = appendWindow(c.w.hist, p, min(historySize, 1<<c.compress.writeWindowBits))
	}
}

// fixedCodesMax is the longest message compressed with the fixed codes
// (package internal/deflate) rather than klauspost's compressor: beyond
// it, dynamic codes are worth their cost (at 1 KiB of JSON-like text the
// fixed codes' output is 20–22 % larger, at 4 KiB 44 %).
const fixedCodesMax = 1 << 10

// fixedEncoders pools the fixed-code encoders (4 KiB of match table each).
var fixedEncoders = sync.Pool{New: func() any { return new(deflate.Encoder) }}

// compressFixed appends p compressed with the fixed codes to out, with
// back-references no further than a window of windowBits.
func compressFixed(out, p []byte, windowBits int) []byte {
	e := fixedEncoders.Get().(*deflate.Encoder)
	out = e.Compress(out, p, 1<<windowBits)
	fixedEncoders.Put(e)
	return out
}

// useFixedCodes reports whether a message of n bytes is compressed with
// the fixed codes: short, at the fastest level, without context takeover
// (where the history the next messages refer to is worth more).
func (cp compressParams) useFixedCodes(n int) bool {
	return n <= fixedCodesMax && cp.level == flate.BestSpeed && cp.writeNoTakeover
}

// compressMessage deflates p into out (appending) and returns the
// compressed payload without the sync-flush tail.
func compressMessage(d *deflater, out, p []byte) ([]byte, error) {
	d.out = out
	if _, err := d.fw.Write(p); err != nil {
		return nil, fmt.Errorf("websocket: failed to compress message: %w", err)
	}
	if err := d.fw.Flush(); err != nil {
		return nil, fmt.Errorf("websocket: failed to compress message: %w", err)
	}
	b := d.out
	d.out = nil
	return b[:len(b)-len(deflateTail)], nil
}
