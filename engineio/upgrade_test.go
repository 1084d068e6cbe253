package engineio_test

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/engineio/parser"
	"github.com/tether-rt/tether/websocket"
)

func TestUpgrade(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, nil, nil)
	sid, _ := e.handshake()
	s := e.nextConn()
	pending := make(chan string)
	go func() { pending <- e.poll(sid) }()
	waitFor(t, "a pending poll", s.Writable)

	c := e.dial("EIO=4&transport=websocket&sid=" + sid)
	write(t, c, "2probe")
	if _, msg := read(t, c); msg != "3probe" {
		t.Fatalf("probe answer %q", msg)
	}
	// The pending poll is ended with a noop so that the client can pause.
	if body := <-pending; body != "6" {
		t.Errorf("pending poll = %q, want a noop", body)
	}
	// Until the upgrade packet, the session stays on polling; packets
	// sent meanwhile wait for the new transport.
	if s.Transport() != "polling" {
		t.Errorf("transport %s before the upgrade packet", s.Transport())
	}
	s.Send(engineio.Packet{Data: []byte("queued")})
	write(t, c, "5")
	if _, msg := read(t, c); msg != "4queued" {
		t.Errorf("after upgrade: %q", msg)
	}
	if s.Transport() != "websocket" {
		t.Errorf("transport %s after the upgrade", s.Transport())
	}
	write(t, c, "4over ws")
	if m := e.nextMessage(); string(m.pkt.Data) != "over ws" {
		t.Errorf("message %q", m.pkt.Data)
	}
	// Polling is over for this session, and so are other WebSockets.
	if status, _, _ := e.do("GET", "EIO=4&transport=polling&sid="+sid, ""); status != 400 {
		t.Errorf("poll after upgrade: %d", status)
	}
	if status, _, _ := e.do("POST", "EIO=4&transport=polling&sid="+sid, "4x"); status != 400 {
		t.Errorf("POST after upgrade: %d", status)
	}
	c2 := e.dial("EIO=4&transport=websocket&sid=" + sid)
	if _, _, err := c2.ReadMessage(nil); err == nil {
		t.Error("second WebSocket after upgrade not closed")
	}
	s.Send(engineio.Packet{Data: []byte("still")})
	if _, msg := read(t, c); msg != "4still" {
		t.Errorf("after second WebSocket: %q", msg)
	}
}

func TestUpgradeFailures(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, &engineio.Options{UpgradeTimeout: 100 * time.Millisecond}, nil)

	// No upgrade packet within UpgradeTimeout: the WebSocket is closed,
	// the session goes on over polling.
	sid, _ := e.handshake()
	s := e.nextConn()
	c := e.dial("EIO=4&transport=websocket&sid=" + sid)
	write(t, c, "2probe")
	read(t, c)
	if _, _, err := c.ReadMessage(nil); err == nil {
		t.Error("probe WebSocket still open after the upgrade timeout")
	}
	s.Send(engineio.Packet{Data: []byte("polling")})
	if body := e.poll(sid); body != "4polling" {
		t.Errorf("poll after failed upgrade = %q", body)
	}
	if s.Transport() != "polling" {
		t.Errorf("transport %s", s.Transport())
	}

	// A message instead of the probe: the WebSocket is closed, and a new
	// upgrade can follow.
	c = e.dial("EIO=4&transport=websocket&sid=" + sid)
	write(t, c, "4too early")
	if _, _, err := c.ReadMessage(nil); err == nil {
		t.Error("probe WebSocket open after a message")
	}
	c = e.dial("EIO=4&transport=websocket&sid=" + sid)
	write(t, c, "2probe")
	read(t, c)
	write(t, c, "5")
	write(t, c, "4done")
	if m := e.nextMessage(); string(m.pkt.Data) != "done" || m.sock != s {
		t.Errorf("message %q", m.pkt.Data)
	}

	// Closing the session during an upgrade closes the probe.
	sid, _ = e.handshake()
	s = e.nextConn()
	c = e.dial("EIO=4&transport=websocket&sid=" + sid)
	write(t, c, "2probe")
	read(t, c)
	s.Close()
	if _, _, err := c.ReadMessage(nil); err == nil {
		t.Error("probe WebSocket open after Close")
	}
	if body := e.poll(sid); body != "1" {
		t.Errorf("poll = %q", body)
	}
}

// TestUpgradeOrdering upgrades a session while both sides send numbered
// messages as fast as they can, the client behaving as engine.io-client
// does (pause polling after the probe, then send the upgrade packet), and
// checks that no message is lost, duplicated or reordered either way.
func TestUpgradeOrdering(t *testing.T) {
	checkGoroutines(t)
	for _, v := range []int{4, 3} {
		t.Run(fmt.Sprint("EIO=", v), func(t *testing.T) { testUpgradeOrdering(t, v) })
	}
}

func testUpgradeOrdering(t *testing.T, eio int) {
	const toClient, toServer = 3000, 600
	// The queue fills while the client pauses polling; don't let that
	// close the session.
	e := newEnv(t, &engineio.Options{AllowEIO3: true, SendQueue: 2 * toClient}, nil)
	ver := parser.Version(eio)
	q := fmt.Sprintf("EIO=%d&transport=polling", eio)
	status, body, _ := e.do("GET", q, "")
	open := decode(t, ver, body, false)
	if status != 200 || len(open) != 1 || open[0].Type != parser.Open {
		t.Fatalf("handshake %d %q", status, body)
	}
	sid := strings.Split(strings.Split(string(open[0].Data), `"sid":"`)[1], `"`)[0]
	q += "&sid=" + sid
	s := e.nextConn()

	// The server sends 0, 1, 2… while the upgrade happens.
	go func() {
		for i := range toClient {
			if err := s.Send(engineio.Packet{Data: []byte(strconv.Itoa(i))}); err != nil {
				t.Errorf("Send: %v", err)
				return
			}
			if i%20 == 0 {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()

	var mu sync.Mutex
	var got []string
	add := func(p parser.Packet) {
		if p.Type == parser.Message {
			mu.Lock()
			got = append(got, string(p.Data))
			mu.Unlock()
		}
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(got)
	}

	// The client's transport: POSTs until the upgrade, the WebSocket after.
	var tmu sync.Mutex
	var ws *websocket.Conn
	send := func(data string) error {
		tmu.Lock()
		defer tmu.Unlock()
		if ws != nil {
			return ws.WriteMessage(websocket.MessageText, []byte("4"+data))
		}
		payload, _ := parser.AppendPayload(ver, nil, []parser.Packet{{Type: parser.Message, Data: []byte(data)}}, true)
		resp, err := e.client.Post(e.url+"?"+q, "text/plain;charset=UTF-8", strings.NewReader(string(payload)))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("POST: %d", resp.StatusCode)
		}
		return nil
	}
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		for i := range toServer {
			if err := send("c" + strconv.Itoa(i)); err != nil {
				t.Errorf("client send %d: %v", i, err)
				return
			}
		}
	}()

	// Poll until paused; the poll in flight when pausing completes first.
	var paused atomic.Bool
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		for !paused.Load() {
			resp, err := e.client.Get(e.url + "?" + q)
			if err != nil {
				t.Errorf("poll: %v", err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			pkts, err := parser.DecodePayload(ver, b, resp.Header.Get("Content-Type") == "application/octet-stream")
			if resp.StatusCode != 200 || err != nil {
				t.Errorf("poll: %d %q %v", resp.StatusCode, b, err)
				return
			}
			for _, p := range pkts {
				add(p)
			}
		}
	}()

	waitFor(t, "messages over polling", func() bool { return count() > toClient/10 })
	c := e.dial(fmt.Sprintf("EIO=%d&transport=websocket&sid=%s", eio, sid))
	write(t, c, "2probe")
	if _, msg := read(t, c); msg != "3probe" {
		t.Fatalf("probe answer %q", msg)
	}
	tmu.Lock() // waits for a POST in flight
	paused.Store(true)
	<-pollDone
	if err := c.WriteMessage(websocket.MessageText, []byte("5")); err != nil {
		t.Fatal(err)
	}
	ws = c
	tmu.Unlock()
	atUpgrade := count()

	for count() < toClient {
		_, msg := read(t, c)
		p, err := parser.DecodePacket(ver, []byte(msg), false)
		if err != nil {
			t.Fatal(err)
		}
		add(p)
	}
	for i, m := range got {
		if m != strconv.Itoa(i) {
			t.Fatalf("server -> client: message %d is %q (%d of %d came over polling)", i, m, atUpgrade, toClient)
		}
	}
	<-sendDone
	for i := range toServer {
		if m := e.nextMessage(); string(m.pkt.Data) != "c"+strconv.Itoa(i) {
			t.Fatalf("client -> server: message %d is %q", i, m.pkt.Data)
		}
	}
	if atUpgrade == toClient {
		t.Logf("every message came over polling")
	}
}

func TestV3(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, &engineio.Options{AllowEIO3: true, PingInterval: 50 * time.Millisecond}, nil)
	short := newEnv(t, &engineio.Options{AllowEIO3: true, PingInterval: 50 * time.Millisecond, PingTimeout: 50 * time.Millisecond}, nil)

	// Handshake: length-prefixed payload, no maxPayload.
	status, body, _ := e.do("GET", "EIO=3&transport=polling", "")
	colon := strings.IndexByte(body, ':')
	if status != 200 || colon < 0 || body[colon+1] != '0' || body[:colon] != strconv.Itoa(len(body)-colon-1) {
		t.Fatalf("handshake %d %q", status, body)
	}
	if strings.Contains(body, "maxPayload") || !strings.Contains(body, `"pingInterval":50`) {
		t.Errorf("open packet %q", body)
	}
	sid := strings.Split(strings.Split(body, `"sid":"`)[1], `"`)[0]
	q := "EIO=3&transport=polling&sid=" + sid
	s := e.nextConn()
	if s.Protocol() != 3 {
		t.Errorf("protocol %d", s.Protocol())
	}

	// The client pings, the server answers.
	e.do("POST", q, "1:2")
	if _, body, _ := e.do("GET", q, ""); body != "1:3" {
		t.Errorf("pong payload %q", body)
	}
	// Text payloads count UTF-16 code units.
	if status, _, _ := e.do("POST", q, "2:4€3:4😀6:4hello"); status != 200 {
		t.Fatalf("POST %d", status)
	}
	for _, want := range []string{"€", "😀", "hello"} {
		if m := e.nextMessage(); string(m.pkt.Data) != want {
			t.Errorf("message %q, want %q", m.pkt.Data, want)
		}
	}
	// Binary payloads go both ways as application/octet-stream.
	e.do("POST", q, "\x01\x04\xff\x04\x01\x02\x03\x00\x03\xff4hi", "Content-Type", "application/octet-stream")
	if m := e.nextMessage(); string(m.pkt.Data) != "\x01\x02\x03" || !m.pkt.Binary {
		t.Errorf("binary message %+v", m.pkt)
	}
	if m := e.nextMessage(); string(m.pkt.Data) != "hi" || m.pkt.Binary {
		t.Errorf("text message %+v", m.pkt)
	}
	s.Send(engineio.Packet{Data: []byte("é")}, engineio.Packet{Data: []byte{9}, Binary: true})
	_, body, resp := e.do("GET", q, "")
	if resp.Header.Get("Content-Type") != "application/octet-stream" || body != "\x00\x03\xff4é\x01\x02\xff\x04\x09" {
		t.Errorf("binary payload %q (%s)", body, resp.Header.Get("Content-Type"))
	}
	s.Close()
	if _, body, _ := e.do("GET", q, ""); body != "1:1" {
		t.Errorf("close payload %q", body)
	}
	if cl := e.nextClose(); cl.reason != engineio.ReasonForcedClose {
		t.Errorf("reason %q", cl.reason)
	}
	// A client that does not ping is closed after interval + timeout.
	short.do("GET", "EIO=3&transport=polling", "")
	if cl := short.nextClose(); cl.reason != engineio.ReasonPingTimeout {
		t.Errorf("reason %q", cl.reason)
	}

	// A client without binary support (b64=1) gets base64 text.
	_, body, _ = e.do("GET", "EIO=3&transport=polling&b64=1", "")
	sid = strings.Split(strings.Split(body, `"sid":"`)[1], `"`)[0]
	s = e.nextConn()
	s.Send(engineio.Packet{Data: []byte{1, 2, 3, 4}, Binary: true})
	if _, body, resp := e.do("GET", "EIO=3&transport=polling&sid="+sid, ""); body != "10:b4AQIDBA==" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("b64 payload %q", body)
	}
	// A pong from a v3 client is an error.
	e.do("POST", "EIO=3&transport=polling&sid="+sid, "1:3")
	if cl := e.nextClose(); cl.reason != engineio.ReasonTransportError {
		t.Errorf("v3 pong: reason %q", cl.reason)
	}

	// WebSocket: binary frames carry a type byte.
	c := e.dial("EIO=3&transport=websocket")
	if _, open := read(t, c); !strings.HasPrefix(open, `0{"sid":`) || strings.Contains(open, "maxPayload") {
		t.Errorf("open %q", open)
	}
	s = e.nextConn()
	if err := c.WriteMessage(websocket.MessageBinary, []byte{4, 7, 8}); err != nil {
		t.Fatal(err)
	}
	if m := e.nextMessage(); string(m.pkt.Data) != "\x07\x08" || !m.pkt.Binary {
		t.Errorf("binary message %+v", m.pkt)
	}
	s.Send(engineio.Packet{Data: []byte{5}, Binary: true})
	if typ, msg := read(t, c); typ != websocket.MessageBinary || msg != "\x04\x05" {
		t.Errorf("binary frame %v %q", typ, msg)
	}
	// A WebSocket client that asked for base64 gets binary data as text.
	c = e.dial("EIO=3&transport=websocket&b64=1")
	read(t, c)
	s = e.nextConn()
	s.Send(engineio.Packet{Data: []byte{5}, Binary: true})
	if typ, msg := read(t, c); typ != websocket.MessageText || msg != "b4BQ==" {
		t.Errorf("b64 frame %v %q", typ, msg)
	}

	c = short.dial("EIO=3&transport=websocket")
	read(t, c)
	for range 3 {
		write(t, c, "2")
		if _, msg := read(t, c); msg != "3" {
			t.Fatalf("pong %q", msg)
		}
	}
	if cl := short.nextClose(); cl.reason != engineio.ReasonPingTimeout {
		t.Errorf("websocket reason %q", cl.reason)
	}
}

// TestNoGoroutineLeak closes a server with sessions in every state and
// checks that nothing is left running.
func TestNoGoroutineLeak(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, nil, nil)
	var polls sync.WaitGroup
	for range 5 {
		sid, _ := e.handshake()
		s := e.nextConn()
		polls.Add(1)
		go func() {
			defer polls.Done()
			if resp, err := e.client.Get(e.url + "?EIO=4&transport=polling&sid=" + sid); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
		waitFor(t, "a pending poll", s.Writable)
	}
	for range 5 {
		e.handshake()
		e.nextConn()
	}
	for range 5 {
		c := e.dial("EIO=4&transport=websocket")
		read(t, c)
		e.nextConn()
		go func() {
			for {
				if _, _, err := c.ReadMessage(nil); err != nil {
					return
				}
			}
		}()
	}
	for range 5 {
		sid, _ := e.handshake()
		e.nextConn()
		c := e.dial("EIO=4&transport=websocket&sid=" + sid)
		write(t, c, "2probe")
		read(t, c)
	}
	closing, _ := e.handshake()
	e.nextConn().Close()
	if e.srv.Count() != 21 {
		t.Errorf("Count = %d", e.srv.Count())
	}
	e.srv.Close()
	polls.Wait()
	if e.srv.Count() != 0 {
		t.Errorf("Count after Close = %d", e.srv.Count())
	}
	if resp, err := e.client.Get(e.url + "?EIO=4&transport=polling&sid=" + closing); err == nil {
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("closing session still served: %d", resp.StatusCode)
		}
	}
}
