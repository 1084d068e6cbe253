package engineio

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/tether-rt/tether/engineio/parser"
)

// handlePoll serves a GET with sid: it answers with the queued packets, or
// waits for some.
func (s *Socket) handlePoll(w http.ResponseWriter, r *http.Request) {
	pkts, pw, code := s.startPoll("", nil)
	switch {
	case code >= 0:
		writeError(w, code, "")
		return
	case pw == nil:
		s.writePayload(w, r, pkts)
		return
	}
	select {
	case pkts := <-pw.ch:
		if pkts == nil {
			writeError(w, CodeBadRequest, "") // the session upgraded meanwhile
			return
		}
		s.writePayload(w, r, pkts)
	case <-r.Context().Done():
		s.mu.Lock()
		if s.poll == pw {
			s.poll = nil
		}
		s.mu.Unlock()
		s.closeWith(ReasonTransportError, errors.New("engineio: poll request closed prematurely"), closeError)
	}
}

// startPoll starts a poll, local or held by another server of a cluster
// (remote is that server's node ID, and fn gets the packets): it returns
// the packets to answer with at once, or the waiter it set (which gets
// them later), or the error code to refuse the poll with (-1 when it is
// not refused).
func (s *Socket) startPoll(remote string, fn func([]outgoing)) (pkts []outgoing, pw *pollWaiter, code int) {
	s.mu.Lock()
	switch {
	case sockState(s.state.Load()) == stateClosed:
		late := s.lateNoop
		s.lateNoop = false
		s.mu.Unlock()
		if late {
			return []outgoing{noopPacket}, nil, -1
		}
		return nil, nil, CodeUnknownSID
	case s.ws != nil:
		s.mu.Unlock()
		return nil, nil, CodeBadRequest // upgraded meanwhile
	case s.poll != nil:
		// Two polls at once break the packet order: Node closes the
		// session, and the first poll gets the close packet.
		s.mu.Unlock()
		s.closeWith(ReasonTransportError, errors.New("engineio: overlapping poll requests"), closeError)
		return nil, nil, CodeBadRequest
	case sockState(s.state.Load()) == stateClosing:
		pkts := append(s.takeQueueLocked(), closePacket)
		fin := s.finalizeLocked(s.coldLocked().closeReason, nil, nil)
		s.mu.Unlock()
		s.afterClose(fin)
		return pkts, nil, -1
	case len(s.queue) > 0:
		pkts := s.takeQueueLocked()
		s.mu.Unlock()
		return pkts, nil, -1
	}
	pw = &pollWaiter{remote: remote, fn: fn}
	if fn == nil {
		pw.ch = make(chan []outgoing, 1)
	}
	s.poll = pw
	s.mu.Unlock()
	return nil, pw, -1
}

// handlePost serves a POST with sid: the packets the client sends.
func (s *Socket) handlePost(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if sockState(s.state.Load()) == stateClosed {
		s.mu.Unlock()
		writeError(w, CodeUnknownSID, "")
		return
	}
	if s.ws != nil {
		s.mu.Unlock()
		writeError(w, CodeBadRequest, "")
		return
	}
	if s.posting {
		s.mu.Unlock()
		s.closeWith(ReasonTransportError, errors.New("engineio: overlapping POST requests"), closeError)
		writeError(w, CodeBadRequest, "")
		return
	}
	s.posting = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.posting = false
		s.mu.Unlock()
	}()

	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	binary := mt == "application/octet-stream"
	if binary && s.proto != 3 {
		s.closeWith(ReasonTransportError, errors.New("engineio: binary POST body from a v4 client"), closeError)
		writeError(w, CodeBadRequest, "")
		return
	}
	limit := s.srv.cfg.MaxPayload
	body, err := s.readPost(w, r, limit)
	if errors.Is(err, errTooLarge) {
		s.closeWith(ReasonTransportError, fmt.Errorf("engineio: POST body larger than maxPayload (%d bytes)", limit), closeError)
		w.Header().Set("Connection", "close")
		writeJSONError(w, http.StatusRequestEntityTooLarge, CodeBadRequest, "Payload too large")
		return
	}
	if err != nil {
		s.closeWith(ReasonTransportError, fmt.Errorf("engineio: failed to read POST body: %w", err), closeError)
		writeError(w, CodeBadRequest, "")
		return
	}
	if !binary && !utf8.Valid(body) {
		// Node decodes the body as UTF-8, replacing what is not.
		body = toValidUTF8(body)
	}
	pkts, derr := parser.DecodePayload(s.ver(), body, binary)
	for _, p := range pkts {
		if !s.onPacket(p, true) {
			break
		}
	}
	if derr != nil {
		s.closeWith(ReasonParseError, derr, closeError)
		writeError(w, CodeBadRequest, "")
		return
	}
	h := w.Header()
	// text/html as Node sends it, so that old browsers don't offer "ok"
	// as a download.
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", "2")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "ok")
}

var errTooLarge = errors.New("body too large")

// readPost reads the body of a POST: at most limit bytes, within
// TransferTimeout, and cut short if the session closes meanwhile.
func (s *Socket) readPost(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	return readPostBody(w, r, &s.srv.cfg, limit, func(rc *http.ResponseController) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.coldLocked().postRead = rc
		return rc == nil || sockState(s.state.Load()) != stateClosed
	})
}

// readPostBody reads the body of a POST: at most limit bytes, within
// TransferTimeout. track, when not nil, is told of the transfer's
// response controller before the body is read (it returns false to
// refuse the read: ErrClosed) and of nil after.
func readPostBody(w http.ResponseWriter, r *http.Request, cfg *config, limit int64, track func(*http.ResponseController) bool) ([]byte, error) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(cfg.TransferTimeout))
	var body []byte
	var err error
	if track != nil && !track(rc) {
		err = ErrClosed
	} else {
		body, err = readBody(r.Body, r.ContentLength, limit)
	}
	if track != nil {
		track(nil)
	}
	// Reads after the body (net/http's check for a closed connection) have
	// no deadline.
	_ = rc.SetReadDeadline(time.Time{})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("%w: %w", ErrSlowPost, err)
	}
	return body, err
}

// bodyBufferMin is the size a body buffer starts at when the declared
// length is larger.
const bodyBufferMin = 4 << 10

// readBody reads a request body of at most limit bytes. Its buffer grows
// with the bytes that arrive, never ahead of them by more than twice: a
// declared Content-Length reserves nothing.
func readBody(body io.Reader, length, limit int64) ([]byte, error) {
	if length > limit {
		return nil, errTooLarge
	}
	size := int64(bodyBufferMin)
	if length >= 0 && length < size {
		size = length + 1 // room to see EOF without growing
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			// Double, but for a declared length not beyond it (and the
			// byte that sees EOF).
			grow := len(buf)
			if length >= 0 {
				grow = int(min(int64(grow), length+1-int64(len(buf))))
			}
			buf = slices.Grow(buf, max(grow, 1))
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// toValidUTF8 replaces each byte that is not part of valid UTF-8 with
// U+FFFD.
func toValidUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	return out
}
