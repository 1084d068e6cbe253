package conformance

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	kflate "github.com/klauspost/compress/flate"
)

// Offer is one permessage-deflate offer the peer makes as a client. Like
// Autobahn's default offer it always says the client can do without
// context takeover and can use a smaller window (client_no_context_takeover;
// client_max_window_bits); the fields are what it asks of the server.
type Offer struct {
	// ServerNoContextTakeover asks the server to compress each message on
	// its own (Autobahn's requestNoContextTakeover).
	ServerNoContextTakeover bool
	// ServerMaxWindowBits asks the server for a window of that many bits
	// (Autobahn's requestMaxWindowBits); 0 asks nothing.
	ServerMaxWindowBits int
}

func (o Offer) header() string {
	s := "permessage-deflate; client_no_context_takeover; client_max_window_bits"
	if o.ServerNoContextTakeover {
		s += "; server_no_context_takeover"
	}
	if o.ServerMaxWindowBits != 0 {
		s += "; server_max_window_bits=" + strconv.Itoa(o.ServerMaxWindowBits)
	}
	return s
}

// Accept is how the peer, as a server, answers a client's permessage-deflate
// offer: it grants what the client asked of the server and asks these of
// the client.
type Accept struct {
	// ClientNoContextTakeover tells the client to compress each message on
	// its own. RFC 7692 lets a server ask this whatever the offer said.
	ClientNoContextTakeover bool
	// ClientMaxWindowBits limits the client's window, when the offer
	// allows it (client_max_window_bits); 0 asks nothing.
	ClientMaxWindowBits int
}

// params are negotiated permessage-deflate parameters; bits are 0 when
// absent (a window of 15 bits).
type params struct {
	serverNoTakeover, clientNoTakeover bool
	serverBits, clientBits             int
	clientBitsNoValue                  bool // client_max_window_bits without a value (offers only)
}

func (r params) header() string {
	s := "permessage-deflate"
	if r.serverNoTakeover {
		s += "; server_no_context_takeover"
	}
	if r.clientNoTakeover {
		s += "; client_no_context_takeover"
	}
	if r.serverBits != 0 {
		s += "; server_max_window_bits=" + strconv.Itoa(r.serverBits)
	}
	if r.clientBits != 0 {
		s += "; client_max_window_bits=" + strconv.Itoa(r.clientBits)
	}
	return s
}

// extension is one element of a Sec-WebSocket-Extensions header.
type extension struct {
	name   string
	params []string // "name" or "name=value", unquoted
}

// parseExtensions splits Sec-WebSocket-Extensions values. It is deliberately
// simple: the peer only reads what the implementation under test wrote.
func parseExtensions(values []string) []extension {
	var exts []extension
	for _, v := range values {
		for _, e := range strings.Split(v, ",") {
			parts := strings.Split(e, ";")
			ext := extension{name: strings.TrimSpace(parts[0])}
			for _, p := range parts[1:] {
				name, value, ok := strings.Cut(strings.TrimSpace(p), "=")
				name = strings.TrimSpace(name)
				if ok {
					name += "=" + strings.Trim(strings.TrimSpace(value), `"`)
				}
				ext.params = append(ext.params, name)
			}
			exts = append(exts, ext)
		}
	}
	return exts
}

// parseParams checks a permessage-deflate element's parameters.
func parseParams(e extension, isOffer bool) (params, error) {
	var r params
	seen := map[string]bool{}
	for _, p := range e.params {
		name, value, hasValue := strings.Cut(p, "=")
		if seen[name] {
			return r, fmt.Errorf("parameter %s repeated in %q", name, p)
		}
		seen[name] = true
		bits := 0
		if hasValue {
			n, err := strconv.Atoi(value)
			if err != nil || n < 8 || n > 15 || value[0] == '0' {
				return r, fmt.Errorf("bad value in %s", p)
			}
			bits = n
		}
		switch name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if hasValue {
				return r, fmt.Errorf("%s takes no value", name)
			}
			if name[0] == 's' {
				r.serverNoTakeover = true
			} else {
				r.clientNoTakeover = true
			}
		case "server_max_window_bits":
			if !hasValue {
				return r, errors.New("server_max_window_bits without a value")
			}
			r.serverBits = bits
		case "client_max_window_bits":
			if !hasValue && !isOffer {
				return r, errors.New("client_max_window_bits without a value in a response")
			}
			r.clientBits = bits
			r.clientBitsNoValue = !hasValue
		default:
			return r, fmt.Errorf("unknown permessage-deflate parameter %q", name)
		}
	}
	return r, nil
}

// checkResponse checks a server's Sec-WebSocket-Extensions answer against
// the peer's offers (RFC 7692, section 7.1) and returns what was agreed.
func checkResponse(values []string, offers []Offer) (params, error) {
	exts := parseExtensions(values)
	if len(offers) == 0 {
		return params{}, fmt.Errorf("testee accepted extensions %q that were not offered", values)
	}
	if len(exts) != 1 || exts[0].name != "permessage-deflate" {
		return params{}, fmt.Errorf("testee answered extensions %q, want one permessage-deflate", values)
	}
	r, err := parseParams(exts[0], false)
	if err != nil {
		return r, fmt.Errorf("testee's permessage-deflate response: %w", err)
	}
	for _, o := range offers {
		if o.ServerNoContextTakeover && !r.serverNoTakeover {
			continue
		}
		if o.ServerMaxWindowBits != 0 && (r.serverBits == 0 || r.serverBits > o.ServerMaxWindowBits) {
			continue
		}
		return r, nil
	}
	return r, fmt.Errorf("testee's response %q matches none of the offers", values)
}

// respond answers a client's offers as a server.
func (a *Accept) respond(values []string) (params, error) {
	for _, e := range parseExtensions(values) {
		if e.name != "permessage-deflate" {
			continue
		}
		o, err := parseParams(e, true)
		if err != nil {
			return params{}, fmt.Errorf("testee's permessage-deflate offer: %w", err)
		}
		r := params{serverNoTakeover: o.serverNoTakeover, serverBits: o.serverBits, clientNoTakeover: a.ClientNoContextTakeover}
		if a.ClientMaxWindowBits != 0 && (o.clientBits != 0 || o.clientBitsNoValue) {
			r.clientBits = a.ClientMaxWindowBits
			if o.clientBits != 0 {
				r.clientBits = min(r.clientBits, o.clientBits)
			}
		}
		return r, nil
	}
	return params{}, fmt.Errorf("testee offered no permessage-deflate in %q", values)
}

// deflateState compresses what the peer sends and decompresses what it
// receives, as negotiated.
type deflateState struct {
	sendNoTakeover, recvNoTakeover bool
	sendBits, recvBits             int // 8–15

	w    flateWriter
	out  bytes.Buffer
	hist []byte // the last 32 KiB received, for context takeover
}

type flateWriter interface {
	io.Writer
	Flush() error
	Reset(io.Writer)
}

func newDeflateState(r params, client bool) *deflateState {
	bits := func(b int) int {
		if b == 0 {
			return 15
		}
		return b
	}
	d := &deflateState{
		sendNoTakeover: r.serverNoTakeover, sendBits: bits(r.serverBits),
		recvNoTakeover: r.clientNoTakeover, recvBits: bits(r.clientBits),
	}
	if client {
		d.sendNoTakeover, d.recvNoTakeover = d.recvNoTakeover, d.sendNoTakeover
		d.sendBits, d.recvBits = d.recvBits, d.sendBits
	}
	return d
}

// compress deflates msg for a frame: a sync flush without its
// 00 00 ff ff tail (RFC 7692, 7.2.1). It uses Go's compress/flate, which
// the implementation under test does not, or a window-limited compressor
// when the window was negotiated down.
func (d *deflateState) compress(msg []byte) ([]byte, error) {
	d.out.Reset()
	switch {
	case d.w == nil && d.sendBits < 15:
		w, err := kflate.NewWriterWindow(&d.out, 1<<d.sendBits)
		if err != nil {
			return nil, err
		}
		d.w = w
	case d.w == nil:
		w, err := flate.NewWriter(&d.out, flate.BestSpeed)
		if err != nil {
			return nil, err
		}
		d.w = w
	case d.sendNoTakeover:
		d.w.Reset(&d.out)
	}
	if _, err := d.w.Write(msg); err != nil {
		return nil, err
	}
	if err := d.w.Flush(); err != nil {
		return nil, err
	}
	b := d.out.Bytes()
	if !bytes.HasSuffix(b, deflateTail) {
		return nil, errors.New("sync flush did not end with 00 00 ff ff")
	}
	return bytes.Clone(b[:len(b)-len(deflateTail)]), nil
}

var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// finalBlock is an empty final block with fixed codes. Appended after the
// tail, it lets Go's decompressor tell a complete message (clean io.EOF)
// from a truncated one.
var finalBlock = []byte{0x03, 0x00}

// decompress inflates a compressed message from the testee, holding it to
// the negotiated window and context takeover.
func (d *deflateState) decompress(payload []byte) ([]byte, error) {
	var dict []byte
	if !d.recvNoTakeover {
		dict = d.hist
	}
	in := append(append(bytes.Clone(payload), deflateTail...), finalBlock...)
	var out []byte
	var err error
	if d.recvBits < 15 {
		out, err = inflateWindow(in, dict, 1<<d.recvBits)
	} else {
		fr := flate.NewReaderDict(bytes.NewReader(in), dict)
		out, err = io.ReadAll(fr)
	}
	if err != nil {
		return nil, err
	}
	if !d.recvNoTakeover {
		d.hist = append(d.hist, out...)
		if over := len(d.hist) - 32<<10; over > 0 {
			d.hist = append(d.hist[:0], d.hist[over:]...)
		}
	}
	return out, nil
}
