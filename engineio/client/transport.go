package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tether-rt/tether/engineio/parser"
	"github.com/tether-rt/tether/websocket"
)

// closeTimeout bounds the close packet's POST.
const closeTimeout = 5 * time.Second

// polling is the long-polling transport: one GET pending at a time (the
// poll), and one POST at a time for what the client sends.
type polling struct {
	c       *Conn
	active  bool            // a poll is in flight or its packets are being handled (under c.mu)
	pending []parser.Packet // packets that came with the open packet
}

func (t *polling) name() string { return TransportPolling }

// openPolling opens the session with a GET and returns the open packet's
// data.
func (c *Conn) openPolling(ctx context.Context) ([]byte, error) {
	t := &polling{c: c}
	pkts, err := t.get(ctx)
	if err != nil {
		return nil, err
	}
	if len(pkts) == 0 || pkts[0].Type != parser.Open {
		return nil, fmt.Errorf("engineio: handshake answered without an open packet")
	}
	t.pending = pkts[1:]
	c.tr = t
	return pkts[0].Data, nil
}

// request makes a polling request and returns the response's body and
// whether it was binary (application/octet-stream).
func (t *polling) request(ctx context.Context, method string, body []byte, binary bool) ([]byte, bool, error) {
	c := t.c
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(TransportPolling), rd)
	if err != nil {
		return nil, false, fmt.Errorf("engineio: failed to make a %s request: %w", method, err)
	}
	for k, vs := range c.opts.Header {
		req.Header[k] = vs
	}
	if body != nil {
		ct := "text/plain;charset=UTF-8"
		if binary {
			ct = "application/octet-stream"
		}
		req.Header.Set("Content-Type", ct)
	}
	resp, err := c.httpc.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("engineio: polling %s failed: %w", method, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.opts.ReadLimit+1))
	if err != nil {
		return nil, false, fmt.Errorf("engineio: failed to read the polling %s response: %w", method, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, false, newHandshakeError(resp.StatusCode, data)
	}
	if int64(len(data)) > c.opts.ReadLimit {
		return nil, false, fmt.Errorf("engineio: polling response over the read limit of %d bytes", c.opts.ReadLimit)
	}
	return data, strings.HasPrefix(resp.Header.Get("Content-Type"), "application/octet-stream"), nil
}

// errParse marks a response that is not an Engine.IO payload.
var errParse = errors.New("engineio: invalid payload")

// get makes one poll and decodes the payload.
func (t *polling) get(ctx context.Context) ([]parser.Packet, error) {
	body, binary, err := t.request(ctx, http.MethodGet, nil, false)
	if err != nil {
		return nil, err
	}
	pkts, err := parser.DecodePayload(t.c.proto, body, binary)
	if err != nil {
		return pkts, fmt.Errorf("%w: %w", errParse, err)
	}
	return pkts, nil
}

// pollLoop polls until the session closes, an upgrade pauses polling, or
// polling is no longer the session's transport.
func (t *polling) pollLoop() {
	c := t.c
	// Every way out but the pause ends the session: nothing polls again.
	defer func() {
		c.mu.Lock()
		if c.closed {
			t.active = false
			c.cond.Broadcast()
		}
		c.mu.Unlock()
	}()
	pkts := t.pending
	t.pending = nil
	for {
		for _, p := range pkts {
			if !c.onPacket(p) {
				return
			}
		}
		c.mu.Lock()
		if c.closed || c.paused || c.tr != t {
			t.active = false // in the same step as the check: a resume starts a new loop
			c.cond.Broadcast()
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		var err error
		pkts, err = t.get(c.ctx)
		if err != nil {
			if errors.Is(err, errParse) {
				for _, p := range pkts { // what came before the error, as Node's client
					if !c.onPacket(p) {
						return
					}
				}
				c.fail(ReasonParseError, err)
			} else {
				c.fail(ReasonTransportError, err)
			}
			return
		}
	}
}

// startPollingLocked starts the poll loop unless it runs.
func (t *polling) startPollingLocked() {
	if t.active || t.c.closed {
		return
	}
	t.active = true
	go t.pollLoop()
}

func (t *polling) write(pkts []parser.Packet) error {
	body, binary := parser.AppendPayload(t.c.proto, nil, pkts, false)
	resp, _, err := t.request(t.c.ctx, http.MethodPost, body, binary)
	if err != nil {
		return err
	}
	if string(resp) != "ok" {
		return fmt.Errorf("engineio: POST answered %q", resp)
	}
	return nil
}

// shutdown sends the close packet.
func (t *polling) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	body, _ := parser.AppendPayload(t.c.proto, nil, []parser.Packet{{Type: parser.Close}}, false)
	t.request(ctx, http.MethodPost, body, false)
}

func (t *polling) abort() {} // the session's context cancels the requests

// wsTransport is the WebSocket transport: one packet per message.
type wsTransport struct {
	c  *Conn
	ws *websocket.Conn
}

func (t *wsTransport) name() string { return TransportWebSocket }

// dialWebSocket opens a WebSocket for the session (with its id once there
// is one).
func (c *Conn) dialWebSocket(ctx context.Context) (*websocket.Conn, error) {
	ws, resp, err := websocket.Dial(ctx, c.url(TransportWebSocket), &websocket.DialOptions{
		HTTPHeader:     c.opts.Header,
		Compression:    c.opts.Compression,
		TLSConfig:      c.opts.TLSConfig,
		Proxy:          c.opts.Proxy,
		NetDialContext: c.opts.NetDialContext,
		ReadLimit:      c.opts.ReadLimit,
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			var body []byte
			if resp.Body != nil {
				body, _ = io.ReadAll(io.LimitReader(resp.Body, 1024))
			}
			return nil, newHandshakeError(resp.StatusCode, body)
		}
		return nil, fmt.Errorf("engineio: %w", err)
	}
	return ws, nil
}

// openWebSocket opens the session over a WebSocket and returns the open
// packet's data.
func (c *Conn) openWebSocket(ctx context.Context) ([]byte, error) {
	ws, err := c.dialWebSocket(ctx)
	if err != nil {
		return nil, err
	}
	typ, msg, err := ws.Read(ctx)
	if err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("engineio: failed to read the open packet: %w", err)
	}
	p, err := parser.DecodePacket(c.proto, msg, typ == websocket.MessageBinary)
	if err != nil || p.Type != parser.Open {
		ws.CloseNow()
		return nil, fmt.Errorf("engineio: handshake answered %q, not an open packet", msg)
	}
	c.tr = &wsTransport{c: c, ws: ws}
	return p.Data, nil
}

// startReading reads the WebSocket without a goroutine while it is idle.
func (t *wsTransport) startReading() {
	c := t.c
	t.ws.ReadLoopAsync(func(typ websocket.MessageType, data []byte) error {
		p, err := parser.DecodePacket(c.proto, data, typ == websocket.MessageBinary)
		if err != nil {
			c.fail(ReasonParseError, err)
			return err
		}
		if p.Type == parser.Message && !(p.Binary && typ == websocket.MessageText) {
			p.Data = bytes.Clone(p.Data) // data is the read loop's; base64 was decoded into a new slice
			if p.Data == nil {
				p.Data = []byte{}
			}
		}
		if !c.onPacket(p) {
			return ErrClosed
		}
		return nil
	}, func(err error) {
		if websocket.CloseStatus(err) == websocket.StatusNormalClosure || websocket.CloseStatus(err) == websocket.StatusGoingAway {
			err = nil
		}
		c.fail(ReasonTransportClose, err)
	})
}

func (t *wsTransport) write(pkts []parser.Packet) error {
	b := t.ws.Batch()
	var buf []byte
	for _, p := range pkts {
		var binary bool
		buf, binary = parser.AppendPacket(t.c.proto, buf[:0], p)
		typ := websocket.MessageText
		if binary {
			typ = websocket.MessageBinary
		}
		if err := b.WriteMessage(typ, buf); err != nil {
			b.Flush()
			return fmt.Errorf("engineio: failed to write to the WebSocket: %w", err)
		}
	}
	if err := b.Flush(); err != nil {
		return fmt.Errorf("engineio: failed to write to the WebSocket: %w", err)
	}
	return nil
}

func (t *wsTransport) shutdown() { t.ws.Close(websocket.StatusNormalClosure, "") }

func (t *wsTransport) abort() { t.ws.CloseNow() }

// upgrade moves a polling session to a WebSocket, as the JavaScript client
// does: probe, pause polling, upgrade packet. Any failure leaves the
// session on polling.
func (c *Conn) upgrade() {
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.UpgradeTimeout)
	defer cancel()
	ws, err := c.dialWebSocket(ctx)
	if err != nil {
		return
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte("2probe")); err != nil {
		ws.CloseNow()
		return
	}
	typ, msg, err := ws.Read(ctx)
	if err != nil || typ != websocket.MessageText || string(msg) != "3probe" {
		ws.CloseNow()
		return
	}
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	c.mu.Lock()
	poll, ok := c.tr.(*polling)
	if !ok || c.closed || c.closing {
		c.mu.Unlock()
		ws.CloseNow()
		return
	}
	// Pause: no new poll or POST; wait for those in flight.
	c.paused = true
	for (poll.active || c.writing) && !c.closed && !c.closing && ctx.Err() == nil {
		c.cond.Wait()
	}
	if c.closed || c.closing || ctx.Err() != nil {
		c.resumeLocked(poll)
		c.mu.Unlock()
		ws.CloseNow()
		return
	}
	c.mu.Unlock()
	err = ws.Write(ctx, websocket.MessageText, []byte("5"))
	c.mu.Lock()
	if err != nil || c.closed {
		c.resumeLocked(poll)
		c.mu.Unlock()
		ws.CloseNow()
		return
	}
	t := &wsTransport{c: c, ws: ws}
	c.tr = t
	c.paused = false
	c.wakeLocked()
	c.mu.Unlock()
	t.startReading()
	if fn := c.opts.OnUpgrade; fn != nil {
		fn(TransportWebSocket)
	}
}

// resumeLocked ends a pause after a failed upgrade: polling goes on.
func (c *Conn) resumeLocked(poll *polling) {
	c.paused = false
	poll.startPollingLocked()
	c.wakeLocked()
}
