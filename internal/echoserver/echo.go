package echoserver

import (
	"errors"
	"net/http"

	"github.com/tether-rt/tether/websocket"
)

// Handler returns an http.Handler that accepts WebSocket connections on any
// path with opts and echoes every message. nil opts means: permessage-deflate
// with context takeover, any Origin (it is a test tool, not a site), no read
// limit beyond the default.
func Handler(opts *websocket.AcceptOptions) http.Handler {
	if opts == nil {
		opts = DefaultOptions()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, opts)
		if err != nil {
			return
		}
		Echo(c)
	})
}

// DefaultOptions returns the options `tether echo` serves with.
func DefaultOptions() *websocket.AcceptOptions {
	return &websocket.AcceptOptions{
		InsecureSkipVerify: true,
		Compression:        websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover},
	}
}

// Echo sends every message read from c back to it until the connection
// closes, and returns nil after a clean close. It works for both client and
// server connections.
func Echo(c *websocket.Conn) error {
	defer c.CloseNow()
	err := c.ReadLoop(func(typ websocket.MessageType, p []byte) error {
		return c.WriteMessage(typ, p)
	})
	if websocket.CloseStatus(err) == websocket.StatusNormalClosure || errors.Is(err, websocket.ErrClosed) {
		return nil
	}
	return err
}
