package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	coder "github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
	"github.com/tether-rt/tether/websocket"
)

// Recorder collects the round trips of one connection that both start and
// end inside [From, To]; the ones outside are warm-up or wind-down.
type Recorder struct {
	From, To time.Time
	RTT      []time.Duration
}

func (r *Recorder) add(t0, t1 time.Time) {
	if !t0.Before(r.From) && !t1.After(r.To) {
		r.RTT = append(r.RTT, t1.Sub(t0))
	}
}

// Client is one echo client connection.
type Client interface {
	// Run sends payload, waits for its echo, records the round trip in
	// rec, and starts again, until stop is closed. An echo of the wrong
	// length is an error.
	Run(stop <-chan struct{}, payload []byte, rec *Recorder) error
	// Close closes the connection without a close handshake.
	Close() error
}

// errMismatch is the error of an echo that is not what was sent.
var errMismatch = errors.New("echo does not match the message sent")

// Dial connects a client of lib to the echo server at url ("ws://…"),
// offering compression c.
func Dial(ctx context.Context, lib, url string, c Compression) (Client, error) {
	if !Supports(lib, c) {
		return nil, fmt.Errorf("%s does not support compression %s", lib, c)
	}
	switch lib {
	case "tether":
		conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{ReadLimit: readLimit, Compression: tetherCompression(c)})
		if err != nil {
			return nil, err
		}
		if c != CompressOff && !conn.CompressionNegotiated() {
			conn.CloseNow()
			return nil, errors.New("compression was not negotiated")
		}
		return &tetherClient{c: conn}, nil
	case "gorilla":
		d := gorilla.Dialer{EnableCompression: c != CompressOff, HandshakeTimeout: 30 * time.Second}
		conn, resp, err := d.DialContext(ctx, url, nil)
		if err != nil {
			return nil, err
		}
		if c != CompressOff && resp.Header.Get("Sec-WebSocket-Extensions") == "" {
			conn.Close()
			return nil, errors.New("compression was not negotiated")
		}
		return &gorillaClient{c: conn}, nil
	case "gws":
		h := &gwsClient{opts: &gws.ClientOption{
			Addr:               url,
			ReadMaxPayloadSize: readLimit,
			PermessageDeflate:  gwsCompression(c),
		}}
		conn, resp, err := gws.NewClient(h, h.opts)
		if err != nil {
			return nil, err
		}
		if c != CompressOff && resp.Header.Get("Sec-WebSocket-Extensions") == "" {
			conn.NetConn().Close()
			return nil, errors.New("compression was not negotiated")
		}
		h.c = conn
		return h, nil
	case "coder":
		conn, resp, err := coder.Dial(ctx, url, &coder.DialOptions{
			CompressionMode:      coderCompression(c),
			CompressionThreshold: compressThreshold,
		})
		if err != nil {
			return nil, err
		}
		if c != CompressOff && resp.Header.Get("Sec-WebSocket-Extensions") == "" {
			conn.CloseNow()
			return nil, errors.New("compression was not negotiated")
		}
		conn.SetReadLimit(readLimit)
		return &coderClient{c: conn}, nil
	}
	return nil, fmt.Errorf("unknown library %q (want one of %v)", lib, Libraries)
}

func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// tetherClient drives the round trips from ReadLoop's handler, as the gws
// client does from OnMessage: the next message is written from the
// handler of the echo of the previous one, and each echo is read into a
// pooled buffer (not a buffer of the connection's own, which for 1,000
// connections of 64 KiB messages would be 64 MB that no cache holds).
type tetherClient struct{ c *websocket.Conn }

// errStopped ends the client's ReadLoop when the measurement is over.
var errStopped = errors.New("stopped")

func (t *tetherClient) Run(stop <-chan struct{}, payload []byte, rec *Recorder) error {
	t0 := time.Now()
	if err := t.c.WriteMessage(websocket.MessageBinary, payload); err != nil {
		return err
	}
	err := t.c.ReadLoop(func(_ websocket.MessageType, p []byte) error {
		rec.add(t0, time.Now())
		if len(p) != len(payload) {
			return errMismatch
		}
		if stopped(stop) {
			return errStopped
		}
		t0 = time.Now()
		return t.c.WriteMessage(websocket.MessageBinary, payload)
	})
	if err == errStopped {
		return nil
	}
	return err
}

func (t *tetherClient) Close() error { return t.c.CloseNow() }

type gorillaClient struct{ c *gorilla.Conn }

func (g *gorillaClient) Run(stop <-chan struct{}, payload []byte, rec *Recorder) error {
	for !stopped(stop) {
		t0 := time.Now()
		if err := g.c.WriteMessage(gorilla.BinaryMessage, payload); err != nil {
			return err
		}
		_, p, err := g.c.ReadMessage()
		if err != nil {
			return err
		}
		rec.add(t0, time.Now())
		if len(p) != len(payload) {
			return errMismatch
		}
	}
	return nil
}

func (g *gorillaClient) Close() error { return g.c.Close() }

type coderClient struct{ c *coder.Conn }

func (k *coderClient) Run(stop <-chan struct{}, payload []byte, rec *Recorder) error {
	ctx := context.Background()
	for !stopped(stop) {
		t0 := time.Now()
		if err := k.c.Write(ctx, coder.MessageBinary, payload); err != nil {
			return err
		}
		_, p, err := k.c.Read(ctx)
		if err != nil {
			return err
		}
		rec.add(t0, time.Now())
		if len(p) != len(payload) {
			return errMismatch
		}
	}
	return nil
}

func (k *coderClient) Close() error { return k.c.CloseNow() }

// gwsClient drives the round trips from gws's OnMessage callback, the way
// gws is meant to be used: the next message is written from the handler
// of the echo of the previous one.
type gwsClient struct {
	gws.BuiltinEventHandler
	c    *gws.Conn
	opts *gws.ClientOption

	stop    <-chan struct{}
	payload []byte
	rec     *Recorder
	t0      time.Time
	err     error
	done    chan struct{}
	endOnce sync.Once
}

func (g *gwsClient) Run(stop <-chan struct{}, payload []byte, rec *Recorder) error {
	g.stop, g.payload, g.rec = stop, payload, rec
	g.done = make(chan struct{})
	go g.c.ReadLoop()
	g.t0 = time.Now()
	if err := g.c.WriteMessage(gws.OpcodeBinary, payload); err != nil {
		return err
	}
	<-g.done
	return g.err
}

func (g *gwsClient) end(err error) {
	g.endOnce.Do(func() {
		g.err = err
		close(g.done)
	})
}

// OnMessage records the round trip and sends the next message.
func (g *gwsClient) OnMessage(socket *gws.Conn, m *gws.Message) {
	defer m.Close()
	g.rec.add(g.t0, time.Now())
	if m.Data.Len() != len(g.payload) {
		g.end(errMismatch)
		return
	}
	if stopped(g.stop) {
		g.end(nil)
		return
	}
	g.t0 = time.Now()
	if err := socket.WriteMessage(gws.OpcodeBinary, g.payload); err != nil {
		g.end(err)
	}
}

// OnClose ends Run if the connection fails first.
func (g *gwsClient) OnClose(socket *gws.Conn, err error) {
	if g.done != nil {
		g.end(fmt.Errorf("connection closed: %w", err))
	}
}

func (g *gwsClient) Close() error { return g.c.NetConn().Close() }

// compile-time checks that the handlers implement the libraries' interfaces.
var (
	_ gws.Event = (*gwsClient)(nil)
	_ gws.Event = gwsEcho{}
)
