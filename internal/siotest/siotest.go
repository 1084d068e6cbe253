// Package siotest is a Socket.IO v5 client for tests, over Tether's
// WebSocket: it speaks the protocol by hand (Engine.IO v4 packets, Socket.IO
// packets from socketio/parser), so that tests of servers and adapters can
// drive any number of clients with no client library. It answers the
// server's pings, routes acknowledgements, queues events, and decodes
// binary attachments.
package siotest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-rt/tether/socketio/parser"
	"github.com/tether-rt/tether/websocket"
)

// Timeout bounds every wait of a Client.
const Timeout = 10 * time.Second

// Event is an event the server sent: its name and arguments (binary parts
// inlined as base64 strings, as socketio's handlers see them), and its raw
// form with the attachments apart.
type Event struct {
	Name        string
	Args        []json.RawMessage
	Raw         json.RawMessage // the whole data array, placeholders in place
	Attachments [][]byte
}

// Client is one Socket.IO connection to one namespace.
type Client struct {
	t   testing.TB
	c   *websocket.Conn
	nsp string
	// SID is the socket id the server gave; PID and the last offset are
	// kept for connection state recovery.
	SID, PID string

	mu         sync.Mutex
	events     []Event
	arrived    chan struct{} // signalled when an event arrives
	acks       map[uint64]chan []json.RawMessage
	nextID     uint64
	lastOffset string
	err        error         // why the read loop ended
	done       chan struct{} // closed when the read loop ended
	disconnect chan string   // the server's DISCONNECT
	autoAck    func(e Event) []any
}

// Options configures Dial.
type Options struct {
	// Namespace to connect to; "" means "/".
	Namespace string
	// Auth is the CONNECT payload (a JSON object), or nil.
	Auth any
	// Header is sent with the WebSocket handshake.
	Header map[string]string
}

// Dial connects to the server at base (http://host:port) on the Socket.IO
// path /socket.io/ and joins the namespace; it fails the test if the server
// refuses.
func Dial(t testing.TB, base string, o *Options) *Client {
	t.Helper()
	c, err := DialErr(t, base, o)
	if err != nil {
		t.Fatalf("siotest: %v", err)
	}
	return c
}

// ConnectError is a refused CONNECT.
type ConnectError struct {
	Message string
	Data    json.RawMessage
}

func (e *ConnectError) Error() string { return "connect_error: " + e.Message + " " + string(e.Data) }

// DialErr is Dial returning the error, a *ConnectError when the server
// refused the namespace.
func DialErr(t testing.TB, base string, o *Options) (*Client, error) {
	t.Helper()
	if o == nil {
		o = &Options{}
	}
	nsp := o.Namespace
	if nsp == "" {
		nsp = "/"
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	u := strings.Replace(strings.Replace(base, "https://", "wss://", 1), "http://", "ws://", 1) + "/socket.io/?EIO=4&transport=websocket"
	dopts := &websocket.DialOptions{}
	if len(o.Header) > 0 {
		dopts.HTTPHeader = map[string][]string{}
		for k, v := range o.Header {
			dopts.HTTPHeader[k] = []string{v}
		}
	}
	ws, _, err := websocket.Dial(ctx, u, dopts)
	if err != nil {
		return nil, fmt.Errorf("failed to dial: %w", err)
	}
	c := &Client{t: t, c: ws, nsp: nsp, arrived: make(chan struct{}, 1), acks: map[uint64]chan []json.RawMessage{},
		done: make(chan struct{}), disconnect: make(chan string, 1)}
	t.Cleanup(func() { ws.CloseNow() })
	if _, msg, err := ws.ReadMessage(nil); err != nil || !strings.HasPrefix(string(msg), "0{") {
		ws.CloseNow()
		return nil, fmt.Errorf("failed to read the open packet: %q %v", msg, err)
	}
	prefix := ""
	if nsp != "/" {
		prefix = nsp + ","
	}
	connect := "40" + prefix
	if o.Auth != nil {
		b, err := json.Marshal(o.Auth)
		if err != nil {
			return nil, err
		}
		connect += string(b)
	}
	if err := ws.WriteMessage(websocket.MessageText, []byte(connect)); err != nil {
		return nil, err
	}
	// Node's server sends a recovered session's missed packets before the
	// CONNECT answer: they are kept, as socket.io-client does.
	var early []earlyMessage
	for {
		typ, msg, err := ws.ReadMessage(nil)
		if err != nil {
			return nil, fmt.Errorf("failed to read the CONNECT answer: %w", err)
		}
		s := string(msg)
		switch {
		case typ == websocket.MessageBinary || strings.HasPrefix(s, "4") && !strings.HasPrefix(s, "40") && !strings.HasPrefix(s, "44"):
			early = append(early, earlyMessage{typ, append([]byte(nil), msg...)})
			continue
		case s == "2":
			_ = ws.WriteMessage(websocket.MessageText, []byte("3"))
			continue
		case strings.HasPrefix(s, "40"+prefix):
			var d struct{ SID, PID string }
			if err := json.Unmarshal([]byte(s[2+len(prefix):]), &d); err != nil {
				return nil, fmt.Errorf("bad CONNECT answer %q: %w", s, err)
			}
			c.SID, c.PID = d.SID, d.PID
			go c.readLoop(early)
			return c, nil
		case strings.HasPrefix(s, "44"+prefix):
			var e ConnectError
			_ = json.Unmarshal([]byte(s[2+len(prefix):]), &e)
			ws.CloseNow()
			return nil, &e
		}
		// Packets of other namespaces of the same connection: none here.
	}
}

// earlyMessage is a message that came before the CONNECT answer.
type earlyMessage struct {
	typ websocket.MessageType
	msg []byte
}

// readLoop handles the early messages, then reads packets until the
// connection ends.
func (c *Client) readLoop(early []earlyMessage) {
	defer close(c.done)
	var dec parser.Decoder
	for {
		var typ websocket.MessageType
		var msg []byte
		var err error
		if len(early) > 0 {
			typ, msg = early[0].typ, early[0].msg
			early = early[1:]
		} else {
			typ, msg, err = c.c.ReadMessage(nil)
		}
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		if typ == websocket.MessageText {
			switch {
			case len(msg) > 0 && msg[0] == '2':
				_ = c.c.WriteMessage(websocket.MessageText, []byte("3"))
				continue
			case len(msg) == 0 || msg[0] != '4':
				continue
			}
			msg = msg[1:]
		}
		p, ok, err := dec.Add(append([]byte(nil), msg...), typ == websocket.MessageBinary)
		if err != nil {
			c.mu.Lock()
			c.err = fmt.Errorf("siotest: bad packet: %w", err)
			c.mu.Unlock()
			c.c.CloseNow()
			return
		}
		if ok {
			c.handle(p)
		}
	}
}

func (c *Client) handle(p parser.Packet) {
	if p.Namespace != c.nsp {
		return
	}
	data := []byte(p.Data)
	if len(p.Attachments) > 0 {
		if inl, err := parser.InlineAttachments(nil, data, p.Attachments); err == nil {
			data = inl
		}
	}
	args, _ := parser.SplitArray(nil, data)
	switch p.Type {
	case parser.Event:
		if len(args) == 0 {
			return
		}
		var name string
		_ = json.Unmarshal(args[0], &name)
		e := Event{Name: name, Args: args[1:], Raw: p.Data, Attachments: p.Attachments}
		c.mu.Lock()
		if n := len(e.Args); n > 0 {
			var off string
			if json.Unmarshal(e.Args[n-1], &off) == nil {
				c.lastOffset = off
			}
		}
		c.events = append(c.events, e)
		auto := c.autoAck
		c.mu.Unlock()
		select {
		case c.arrived <- struct{}{}:
		default:
		}
		if p.HasID {
			var ackArgs []any
			if auto != nil {
				ackArgs = auto(e)
			}
			if ackArgs != nil {
				c.ack(p.ID, ackArgs)
			}
		}
	case parser.Ack:
		c.mu.Lock()
		ch := c.acks[p.ID]
		delete(c.acks, p.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- args
		}
	case parser.Disconnect:
		select {
		case c.disconnect <- "io server disconnect":
		default:
		}
	}
}

// AutoAck makes the client acknowledge each event that asks for it with
// what fn returns for it (nil: no acknowledgement).
func (c *Client) AutoAck(fn func(e Event) []any) {
	c.mu.Lock()
	c.autoAck = fn
	c.mu.Unlock()
}

func (c *Client) ack(id uint64, args []any) {
	data, atts, err := encodeArgs(args)
	if err != nil {
		c.t.Errorf("siotest: failed to encode an ack: %v", err)
		return
	}
	p := &parser.Packet{Type: parser.Ack, Namespace: c.nsp, ID: id, HasID: true, Data: data, Attachments: atts}
	c.writePacket(p)
}

func encodeArgs(args []any) ([]byte, [][]byte, error) {
	buf := []byte{'['}
	var atts [][]byte
	var err error
	for i, a := range args {
		if i > 0 {
			buf = append(buf, ',')
		}
		if buf, atts, err = parser.AppendValue(buf, a, atts); err != nil {
			return nil, nil, err
		}
	}
	return append(buf, ']'), atts, nil
}

func (c *Client) writePacket(p *parser.Packet) {
	text := append([]byte{'4'}, p.AppendText(nil)...)
	if err := c.c.WriteMessage(websocket.MessageText, text); err != nil {
		return
	}
	for _, a := range p.Attachments {
		if err := c.c.WriteMessage(websocket.MessageBinary, a); err != nil {
			return
		}
	}
}

// Emit sends an event ([]byte arguments travel as binary attachments).
func (c *Client) Emit(event string, args ...any) {
	c.t.Helper()
	data, atts, err := encodeArgs(append([]any{event}, args...))
	if err != nil {
		c.t.Fatalf("siotest: failed to encode %s: %v", event, err)
	}
	c.writePacket(&parser.Packet{Type: parser.Event, Namespace: c.nsp, Data: data, Attachments: atts})
}

// Go sends an event asking for an acknowledgement, as Call does, without
// waiting for it: its arguments come on the channel returned.
func (c *Client) Go(event string, args ...any) <-chan []json.RawMessage {
	c.t.Helper()
	data, atts, err := encodeArgs(append([]any{event}, args...))
	if err != nil {
		c.t.Fatalf("siotest: failed to encode %s: %v", event, err)
	}
	ch := make(chan []json.RawMessage, 1)
	c.mu.Lock()
	id := c.nextID
	c.nextID++
	c.acks[id] = ch
	c.mu.Unlock()
	c.writePacket(&parser.Packet{Type: parser.Event, Namespace: c.nsp, ID: id, HasID: true, Data: data, Attachments: atts})
	return ch
}

// Call sends an event asking for an acknowledgement and returns the
// acknowledgement's arguments.
func (c *Client) Call(event string, args ...any) []json.RawMessage {
	c.t.Helper()
	ch := c.Go(event, args...)
	select {
	case r := <-ch:
		return r
	case <-c.done:
		c.t.Fatalf("siotest: connection ended waiting for the ack of %s: %v", event, c.Err())
	case <-time.After(Timeout):
		c.t.Fatalf("siotest: no ack for %s", event)
	}
	return nil
}

// Next returns the next event named name, waiting for it; events of other
// names before it stay queued.
func (c *Client) Next(name string) Event {
	c.t.Helper()
	e, ok := c.NextWithin(name, Timeout)
	if !ok {
		c.t.Fatalf("siotest: no %q event (client %s)", name, c.SID)
	}
	return e
}

// NextBurst reads the events name of broadcasts 0…n-1, in order, except
// those skip reports (broadcasts that excepted this client): each carries
// its i as its first argument, and those attached reports carry one
// attachment whose first byte is byte(i). It fails the test at the first
// that differs.
func (c *Client) NextBurst(name string, n int, skip, attached func(i int) bool) {
	c.t.Helper()
	for i := range n {
		if skip(i) {
			continue
		}
		e := c.Next(name)
		if len(e.Args) == 0 || string(e.Args[0]) != fmt.Sprint(i) {
			c.t.Fatalf("client %s: broadcast %d is %s", c.SID, i, e.Raw)
		}
		if attached(i) && (len(e.Attachments) != 1 || len(e.Attachments[0]) == 0 || e.Attachments[0][0] != byte(i)) {
			c.t.Fatalf("client %s: broadcast %d has attachments %q", c.SID, i, e.Attachments)
		}
	}
}

// NextWithin is Next waiting at most d; ok is false when none came.
func (c *Client) NextWithin(name string, d time.Duration) (Event, bool) {
	deadline := time.After(d)
	for {
		c.mu.Lock()
		for i, e := range c.events {
			if e.Name == name {
				c.events = append(c.events[:i], c.events[i+1:]...)
				c.mu.Unlock()
				return e, true
			}
		}
		c.mu.Unlock()
		select {
		case <-c.arrived:
		case <-deadline:
			return Event{}, false
		}
	}
}

// Events returns and forgets the events received so far.
func (c *Client) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.events
	c.events = nil
	return e
}

// Peek returns the events received so far, leaving them queued.
func (c *Client) Peek() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

// LastOffset returns the last string argument of the last event received:
// the connection state recovery offset when the server gives one.
func (c *Client) LastOffset() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastOffset
}

// Disconnected waits for the server's DISCONNECT packet or the end of the
// connection and reports which ("io server disconnect", or "transport
// close").
func (c *Client) Disconnected() string {
	c.t.Helper()
	select {
	case r := <-c.disconnect:
		return r
	case <-c.done:
		return "transport close"
	case <-time.After(Timeout):
		c.t.Fatalf("siotest: client %s was not disconnected", c.SID)
		return ""
	}
}

// Err returns why the connection ended, or nil while it is open.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection at once, as a network failure would.
func (c *Client) Close() { c.c.CloseNow() }

// Conn returns the WebSocket underneath.
func (c *Client) Conn() *websocket.Conn { return c.c }
