package bench

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// IdleMessageSize is the size of the one message each idle connection
// exchanges before going quiet, so that buffers a library allocates lazily
// on the first message are counted.
const IdleMessageSize = 512

// DialIdle opens a WebSocket connection to the server at addr by hand (a
// client as cheap as possible: it costs the process measured nothing but
// its share of the kernel), offers compression c, exchanges one
// [IdleMessageSize] message (compressed when negotiated) and returns the
// TCP connection, to be left idle.
func DialIdle(addr string, c Compression) (net.Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, fmt.Errorf("failed to dial: %w", err)
	}
	if err := idleHandshake(nc, addr, c); err != nil {
		nc.Close()
		return nil, err
	}
	return nc, nil
}

func idleHandshake(nc net.Conn, addr string, c Compression) error {
	if err := nc.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return err
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	var req strings.Builder
	fmt.Fprintf(&req, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", addr, base64.StdEncoding.EncodeToString(key[:]))
	switch c {
	case CompressDeflate:
		req.WriteString("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n")
	case CompressDeflateCtx:
		req.WriteString("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(nc, req.String()); err != nil {
		return fmt.Errorf("failed to send handshake: %w", err)
	}
	br := bufio.NewReaderSize(nc, 1024)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return fmt.Errorf("failed to read handshake response: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("handshake answered %s", resp.Status)
	}
	compressed := strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")
	if compressed != (c != CompressOff) {
		return fmt.Errorf("compression %s, server answered extensions %q", c, resp.Header.Get("Sec-WebSocket-Extensions"))
	}
	p := Payload(IdleMessageSize)
	if compressed {
		p = Deflate(p)
	}
	if _, err := nc.Write(ClientFrame(p, compressed, [4]byte{7, 1, 9, 3})); err != nil {
		return fmt.Errorf("failed to send message: %w", err)
	}
	if err := skipFrame(br); err != nil {
		return fmt.Errorf("failed to read echo: %w", err)
	}
	if br.Buffered() > 0 {
		return errors.New("unexpected bytes after the echo")
	}
	return nc.SetDeadline(time.Time{})
}

// skipFrame reads one unmasked frame from the server and drops it.
func skipFrame(br *bufio.Reader) error {
	var h [10]byte
	if _, err := io.ReadFull(br, h[:2]); err != nil {
		return err
	}
	if h[1]&0x80 != 0 {
		return errors.New("masked frame from the server")
	}
	n := int64(h[1] & 0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(br, h[2:4]); err != nil {
			return err
		}
		n = int64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		if _, err := io.ReadFull(br, h[2:10]); err != nil {
			return err
		}
		n = int64(binary.BigEndian.Uint64(h[2:10]))
	}
	_, err := io.CopyN(io.Discard, br, n)
	return err
}
