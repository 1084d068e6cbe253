package bench

import (
	"context"
	"fmt"
	"net/http"

	coder "github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
	"github.com/tether-rt/tether/internal/echoserver"
	"github.com/tether-rt/tether/websocket"
)

// Libraries lists the libraries compared, ours first.
var Libraries = []string{"tether", "gorilla", "gws", "coder"}

// Compression is the permessage-deflate setting of a benchmark run.
type Compression string

// The compression settings. Deflate (no context takeover) is the one all
// four libraries support, so it is the one compared; gorilla/websocket
// cannot keep the window between messages.
const (
	CompressOff        Compression = "off"
	CompressDeflate    Compression = "deflate"     // no context takeover, both directions
	CompressDeflateCtx Compression = "deflate-ctx" // context takeover, both directions
)

// ParseCompression parses a -compress flag value; "on" means [CompressDeflate].
func ParseCompression(s string) (Compression, error) {
	switch c := Compression(s); c {
	case CompressOff, CompressDeflate, CompressDeflateCtx:
		return c, nil
	case "on":
		return CompressDeflate, nil
	}
	return "", fmt.Errorf("unknown compression %q (want off, deflate or deflate-ctx)", s)
}

// Supports reports whether lib can run with compression c.
func Supports(lib string, c Compression) bool {
	return !(lib == "gorilla" && c == CompressDeflateCtx)
}

// compressThreshold is the size from which every library compresses: all
// the payloads compared (512 B and up) are compressed when compression is
// on. gorilla/websocket has no threshold and compresses everything.
const compressThreshold = 128

// readLimit is the message size limit set where a library's default would
// refuse the 64 KiB messages (coder/websocket reads at most 32 KiB).
const readLimit = 1 << 20

// EchoHandler returns an http.Handler that upgrades every request with lib
// and echoes each message back, written the idiomatic way for that
// library:
//   - tether: a goroutine per connection (the handler's) in ReadLoop, which
//     takes a pooled buffer only once a message has begun, and WriteMessage.
//   - gorilla: the handler's goroutine in ReadMessage, then WriteMessage.
//   - gws: the Upgrader's event handler, `go socket.ReadLoop()` as in its
//     README's "Best Practice", echoing from OnMessage.
//   - coder: the handler's goroutine in Read, then Write.
func EchoHandler(lib string, c Compression) (http.Handler, error) {
	if !Supports(lib, c) {
		return nil, fmt.Errorf("%s does not support compression %s", lib, c)
	}
	switch lib {
	case "tether":
		opts := &websocket.AcceptOptions{InsecureSkipVerify: true, ReadLimit: readLimit, Compression: tetherCompression(c)}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, err := websocket.Accept(w, r, opts)
			if err != nil {
				return
			}
			defer conn.CloseNow()
			_ = conn.ReadLoop(func(typ websocket.MessageType, p []byte) error {
				return conn.WriteMessage(typ, p)
			})
		}), nil
	case "tether-go":
		// Tether the way gws is used: the handler returns at once and a
		// goroutine of its own reads, so net/http frees its request state.
		opts := &websocket.AcceptOptions{InsecureSkipVerify: true, ReadLimit: readLimit, Compression: tetherCompression(c)}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, err := websocket.Accept(w, r, opts)
			if err != nil {
				return
			}
			go func() {
				defer conn.CloseNow()
				_ = conn.ReadLoop(func(typ websocket.MessageType, p []byte) error {
					return conn.WriteMessage(typ, p)
				})
			}()
		}), nil
	case "tether-async":
		// Tether for many idle connections: the handler returns at once and
		// the poller reads (ReadLoopAsync): no goroutine and no read buffer
		// while a connection is idle.
		opts := &websocket.AcceptOptions{InsecureSkipVerify: true, ReadLimit: readLimit, Compression: tetherCompression(c)}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, err := websocket.Accept(w, r, opts)
			if err != nil {
				return
			}
			conn.ReadLoopAsync(func(typ websocket.MessageType, p []byte) error {
				return conn.WriteMessage(typ, p)
			}, func(error) { conn.CloseNow() })
		}), nil
	case "tether-echoserver":
		// The handler of `tether echo` (its default options: context
		// takeover offered, the heartbeat, ReadLoopAsync) in this process,
		// for its heap per idle connection; loadtest's tether-echo runs
		// the binary itself. It negotiates what the client offers.
		return echoserver.Handler(echoserver.DefaultOptions()), nil
	case "gorilla":
		up := &gorilla.Upgrader{
			EnableCompression: c != CompressOff,
			CheckOrigin:       func(*http.Request) bool { return true },
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer conn.Close()
			for {
				typ, p, err := conn.ReadMessage()
				if err != nil {
					return
				}
				if err := conn.WriteMessage(typ, p); err != nil {
					return
				}
			}
		}), nil
	case "gws":
		up := gws.NewUpgrader(gwsEcho{}, &gws.ServerOption{
			ReadMaxPayloadSize: readLimit,
			PermessageDeflate:  gwsCompression(c),
		})
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			socket, err := up.Upgrade(w, r)
			if err != nil {
				return
			}
			go socket.ReadLoop()
		}), nil
	case "coder":
		opts := &coder.AcceptOptions{
			InsecureSkipVerify:   true,
			CompressionMode:      coderCompression(c),
			CompressionThreshold: compressThreshold,
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, err := coder.Accept(w, r, opts)
			if err != nil {
				return
			}
			defer conn.CloseNow()
			conn.SetReadLimit(readLimit)
			ctx := context.Background()
			for {
				typ, p, err := conn.Read(ctx)
				if err != nil {
					return
				}
				if err := conn.Write(ctx, typ, p); err != nil {
					return
				}
			}
		}), nil
	}
	return nil, fmt.Errorf("unknown library %q (want one of %v)", lib, Libraries)
}

// gwsEcho is gws's event handler for the echo server.
type gwsEcho struct{ gws.BuiltinEventHandler }

// OnMessage echoes the message and releases its buffer.
func (gwsEcho) OnMessage(socket *gws.Conn, m *gws.Message) {
	defer m.Close()
	_ = socket.WriteMessage(m.Opcode, m.Bytes())
}

func tetherCompression(c Compression) websocket.CompressionOptions {
	switch c {
	case CompressDeflate:
		return websocket.CompressionOptions{Mode: websocket.CompressionNoContextTakeover, Threshold: compressThreshold}
	case CompressDeflateCtx:
		return websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover, Threshold: compressThreshold}
	}
	return websocket.CompressionOptions{}
}

func gwsCompression(c Compression) gws.PermessageDeflate {
	if c == CompressOff {
		return gws.PermessageDeflate{}
	}
	ctx := c == CompressDeflateCtx
	return gws.PermessageDeflate{
		Enabled:               true,
		Threshold:             compressThreshold,
		ServerContextTakeover: ctx,
		ClientContextTakeover: ctx,
	}
}

func coderCompression(c Compression) coder.CompressionMode {
	switch c {
	case CompressDeflate:
		return coder.CompressionNoContextTakeover
	case CompressDeflateCtx:
		return coder.CompressionContextTakeover
	}
	return coder.CompressionDisabled
}
