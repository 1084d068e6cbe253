package socketio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestConnectAndEvents(t *testing.T) {
	srv := newTestServer(t, nil)
	type got struct {
		args []json.RawMessage
		ack  bool
	}
	events := make(chan got, 10)
	connected := make(chan *Socket, 1)
	srv.OnConnection(func(s *Socket) {
		connected <- s
		s.On("hello", func(s *Socket, args []json.RawMessage, ack AckFunc) {
			events <- got{args, ack != nil}
			if ack != nil {
				_ = ack("ok", 1, map[string]any{"b": []byte{1, 2}})
				_ = ack("twice") // ignored
			}
		})
	})
	tc := dial(t, srv)
	sid := tc.connect("/", "")
	s := recvValue(t, connected)
	if s.ID() != sid || sid == tc.conn.ID() || len(sid) != 20 {
		t.Fatalf("socket id %q, CONNECT sid %q, engine id %q", s.ID(), sid, tc.conn.ID())
	}
	if h := s.Handshake(); h.Query.Get("x") != "1" || !h.XDomain || h.Headers.Get("Origin") == "" {
		t.Fatalf("handshake = %+v", h)
	}
	if rooms := s.Rooms(); !slices.Equal(rooms, []string{sid}) {
		t.Fatalf("rooms = %v", rooms)
	}

	tc.send(`2["hello","world",{"n":1}]`)
	g := recvValue(t, events)
	if g.ack || len(g.args) != 2 || string(g.args[0]) != `"world"` || string(g.args[1]) != `{"n":1}` {
		t.Fatalf("event = %+v", g)
	}
	tc.send(`27["hello"]`)
	g = recvValue(t, events)
	if !g.ack || len(g.args) != 0 {
		t.Fatalf("event = %+v", g)
	}
	if got := tc.recvText(); got != `61-7["ok",1,{"b":{"_placeholder":true,"num":0}}]` {
		t.Fatalf("ack = %q", got)
	}
	if p := tc.recv(); !p.Binary || string(p.Data) != "\x01\x02" {
		t.Fatalf("attachment = %+v", p)
	}
	// Unknown events are ignored; the connection stays.
	tc.send(`2["nobody"]`)
	tc.send(`2["hello"]`)
	recvValue(t, events)
	tc.expectNothing()
}

func TestEmitEncodings(t *testing.T) {
	srv := newTestServer(t, nil)
	connected := make(chan *Socket, 1)
	srv.Of("/chat").OnConnection(func(s *Socket) { connected <- s })
	tc := dial(t, srv)
	tc.connect("/chat", `{"token":"abc"}`)
	s := recvValue(t, connected)
	if string(s.Handshake().Auth) != `{"token":"abc"}` {
		t.Fatalf("auth = %s", s.Handshake().Auth)
	}
	type msg struct {
		Text string `json:"text"`
		File []byte `json:"file,omitempty"`
	}
	if err := s.Emit("plain", "a", 1, true, nil, msg{Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if got := tc.recvText(); got != `2/chat,["plain","a",1,true,null,{"text":"x"}]` {
		t.Fatalf("got %q", got)
	}
	if err := s.Emit("bin", msg{Text: "y", File: []byte("F")}, []byte("G")); err != nil {
		t.Fatal(err)
	}
	if got := tc.recvText(); got != `52-/chat,["bin",{"text":"y","file":{"_placeholder":true,"num":0}},{"_placeholder":true,"num":1}]` {
		t.Fatalf("got %q", got)
	}
	if a, b := tc.recv(), tc.recv(); string(a.Data) != "F" || string(b.Data) != "G" || !a.Binary || !b.Binary {
		t.Fatalf("attachments %q %q", a.Data, b.Data)
	}
	for _, ev := range []string{"connect", "disconnect", "disconnecting", "connect_error", "newListener", "removeListener"} {
		if err := s.Emit(ev); !errors.Is(err, ErrReservedEvent) {
			t.Errorf("Emit(%q) = %v", ev, err)
		}
	}
	if err := s.Emit("bad", make(chan int)); err == nil {
		t.Error("Emit of a channel succeeded")
	}
}

func TestBinaryFromClient(t *testing.T) {
	srv := newTestServer(t, nil)
	type upload struct {
		Name string `json:"name"`
		Data []byte `json:"data"`
	}
	got := make(chan upload, 1)
	srv.OnConnection(func(s *Socket) {
		OnTyped(s, "upload", func(s *Socket, u upload, ack AckFunc) {
			got <- u
			_ = ack(len(u.Data))
		})
	})
	tc := dial(t, srv)
	tc.connect("/", "")
	tc.send(`51-3["upload",{"name":"f.bin","data":{"_placeholder":true,"num":0}}]`)
	tc.sendBinary([]byte{0, 1, 2, 255})
	u := recvValue(t, got)
	if u.Name != "f.bin" || string(u.Data) != "\x00\x01\x02\xff" {
		t.Fatalf("upload = %+v", u)
	}
	if a := tc.recvText(); a != `33[4]` {
		t.Fatalf("ack = %q", a)
	}
}

func TestEmitWithAck(t *testing.T) {
	srv := newTestServer(t, nil)
	connected := make(chan *Socket, 1)
	srv.OnConnection(func(s *Socket) { connected <- s })
	tc := dial(t, srv)
	tc.connect("/", "")
	s := recvValue(t, connected)

	type result struct {
		args []json.RawMessage
		err  error
	}
	res := make(chan result, 1)
	go func() {
		args, err := s.EmitWithAck(context.Background(), "question", 42)
		res <- result{args, err}
	}()
	q := tc.recvText()
	var id int
	if _, err := fmt.Sscanf(q, "2%d", &id); err != nil || !strings.HasSuffix(q, `["question",42]`) {
		t.Fatalf("question = %q", q)
	}
	tc.send(fmt.Sprintf(`6%s1-%d["answer",{"_placeholder":true,"num":0}]`, "", id))
	tc.sendBinary([]byte("zz"))
	r := recvValue(t, res)
	if r.err != nil || len(r.args) != 2 || string(r.args[0]) != `"answer"` {
		t.Fatalf("result = %+v", r)
	}
	if b, err := Decode[[]byte](r.args, 1); err != nil || string(b) != "zz" {
		t.Fatalf("binary ack = %q, %v", b, err)
	}

	// Deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := s.EmitWithAck(ctx, "ignored")
	if !errors.Is(err, ErrAckTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	tc.recvText()

	// Disconnection ends the wait.
	go func() {
		_, err := s.EmitWithAck(context.Background(), "never")
		res <- result{nil, err}
	}()
	tc.recvText()
	tc.c.onEngineClose(ReasonTransportClose, nil)
	if r := recvValue(t, res); !errors.Is(r.err, ErrDisconnected) {
		t.Fatalf("err = %v", r.err)
	}
}

// EmitWithAck inside an event handler does not block the acknowledgement
// it waits for.
func TestEmitWithAckInsideHandler(t *testing.T) {
	srv := newTestServer(t, nil)
	answers := make(chan string, 1)
	srv.OnConnection(func(s *Socket) {
		s.On("ask", func(s *Socket, _ []json.RawMessage, _ AckFunc) {
			args, err := s.EmitWithAck(context.Background(), "q")
			if err != nil {
				answers <- err.Error()
				return
			}
			answers <- string(args[0])
		})
	})
	tc := dial(t, srv)
	tc.connect("/", "")
	tc.send(`2["ask"]`)
	q := tc.recvText()
	var id int
	fmt.Sscanf(q, "2%d", &id)
	tc.send(fmt.Sprintf(`3%d["yes"]`, id))
	if a := recvValue(t, answers); a != `"yes"` {
		t.Fatalf("answer = %s", a)
	}
}

func TestMiddlewareConnectError(t *testing.T) {
	srv := newTestServer(t, nil)
	var order []string
	srv.Use(func(s *Socket) error {
		order = append(order, "first")
		return nil
	})
	srv.Use(func(s *Socket) error {
		order = append(order, "second")
		var auth struct {
			Token string `json:"token"`
		}
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		if auth.Token != "secret" {
			return NewConnectError("not authorized", map[string]any{"code": 401})
		}
		s.Data().Set("user", "alice")
		return nil
	})
	srv.Of("/plain").Use(func(*Socket) error { return errors.New("plain error") })
	connected := make(chan *Socket, 1)
	srv.OnConnection(func(s *Socket) { connected <- s })

	tc := dial(t, srv)
	tc.send(`0{"token":"nope"}`)
	if got := tc.recvText(); got != `4{"data":{"code":401},"message":"not authorized"}` {
		t.Fatalf("got %q", got)
	}
	tc.send(`0/plain,`)
	if got := tc.recvText(); got != `4/plain,{"message":"plain error"}` {
		t.Fatalf("got %q", got)
	}
	// A refused namespace may be tried again.
	tc.connect("/", `{"token":"secret"}`)
	s := recvValue(t, connected)
	if v, _ := s.Data().Get("user"); v != "alice" {
		t.Fatalf("data = %v", v)
	}
	if !slices.Equal(order, []string{"first", "second", "first", "second"}) {
		t.Fatalf("order = %v", order)
	}
}

func TestNamespaces(t *testing.T) {
	srv := newTestServer(t, nil)
	dyn := srv.OfRegexp(regexp.MustCompile(`^/dyn-\d+$`))
	var parentConns, childMW []string
	dyn.Use(func(s *Socket) error {
		childMW = append(childMW, s.Namespace().Name())
		return nil
	})
	joined := make(chan *Socket, 4)
	dyn.OnConnection(func(s *Socket) {
		parentConns = append(parentConns, s.Namespace().Name())
		joined <- s
	})
	byAuth := srv.OfFunc(func(name string, auth json.RawMessage) bool {
		return strings.HasPrefix(name, "/team-") && string(auth) == `{"ok":true}`
	})
	byAuth.OnConnection(func(s *Socket) { joined <- s })

	tc := dial(t, srv)
	tc.connect("/dyn-1", "")
	tc.connect("/dyn-22", "")
	recvValue(t, joined)
	recvValue(t, joined)
	if len(dyn.Children()) != 2 || !slices.Equal(parentConns, []string{"/dyn-1", "/dyn-22"}) || len(childMW) != 2 {
		t.Fatalf("children %d, conns %v, middlewares %v", len(dyn.Children()), parentConns, childMW)
	}
	tc.send(`0/dyn-x,`)
	if got := tc.recvText(); got != `4/dyn-x,{"message":"Invalid namespace"}` {
		t.Fatalf("got %q", got)
	}
	tc.send(`0/team-a,{"ok":false}`)
	if got := tc.recvText(); got != `4/team-a,{"message":"Invalid namespace"}` {
		t.Fatalf("got %q", got)
	}
	tc.connect("/team-a", `{"ok":true}`)
	recvValue(t, joined)

	// The parent's operators reach every child.
	if err := dyn.Emit("all", 1); err != nil {
		t.Fatal(err)
	}
	got := []string{tc.recvText(), tc.recvText()}
	slices.Sort(got)
	if !slices.Equal(got, []string{`2/dyn-1,["all",1]`, `2/dyn-22,["all",1]`}) {
		t.Fatalf("got %q", got)
	}
	if n := len(srv.Of("dyn-1").Sockets()); n != 1 {
		t.Fatalf("Of(dyn-1) has %d sockets", n)
	}
}

func TestRoomsAndBroadcast(t *testing.T) {
	srv := newTestServer(t, nil)
	sockets := make(chan *Socket, 3)
	srv.OnConnection(func(s *Socket) { sockets <- s })
	var tcs []*testClient
	byID := map[string]*testClient{}
	var ss []*Socket
	for i := 0; i < 3; i++ {
		tc := dial(t, srv)
		tc.connect("/", "")
		s := recvValue(t, sockets)
		tcs = append(tcs, tc)
		ss = append(ss, s)
		byID[s.ID()] = tc
	}
	ss[0].Join("a")
	ss[1].Join("a", "b")
	ss[2].Join("b")
	if r := ss[1].Rooms(); !slices.Equal(r, sortedCopy([]string{ss[1].ID(), "a", "b"})) {
		t.Fatalf("rooms = %v", r)
	}

	if err := srv.To("a").Except("b").Emit("x", 1); err != nil {
		t.Fatal(err)
	}
	if got := tcs[0].recvText(); got != `2["x",1]` {
		t.Fatalf("got %q", got)
	}
	// Socket broadcast: everyone in a or b but the sender, each once.
	if err := ss[1].To("a", "b").Emit("y"); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 2} {
		if got := tcs[i].recvText(); got != `2["y"]` {
			t.Fatalf("client %d got %q", i, got)
		}
	}
	if err := srv.Emit("z"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tcs {
		if got := tc.recvText(); got != `2["z"]` {
			t.Fatalf("got %q", got)
		}
		tc.expectNothing()
	}

	ids, _ := srv.Sockets().AllSockets(context.Background())
	if len(ids) != 3 {
		t.Fatalf("AllSockets = %v", ids)
	}
	ids, _ = srv.In("b").AllSockets(context.Background())
	if !slices.Equal(ids, sortedCopy([]string{ss[1].ID(), ss[2].ID()})) {
		t.Fatalf("AllSockets(b) = %v", ids)
	}

	// Bulk operations.
	if err := srv.In("a").SocketsJoin("c"); err != nil {
		t.Fatal(err)
	}
	fetched, err := srv.In("c").FetchSockets(context.Background())
	if err != nil || len(fetched) != 2 {
		t.Fatalf("FetchSockets = %v, %v", fetched, err)
	}
	for _, f := range fetched {
		if f.Local() == nil || !slices.Contains(f.Rooms, "c") || f.Handshake == nil {
			t.Fatalf("fetched %+v", f)
		}
	}
	if err := fetched[0].Emit("direct", "hi"); err != nil {
		t.Fatal(err)
	}
	if got := byID[fetched[0].ID].recvText(); got != `2["direct","hi"]` {
		t.Fatalf("got %q", got)
	}
	if err := srv.In("c").SocketsLeave("a"); err != nil {
		t.Fatal(err)
	}
	if ids, _ := srv.In("a").AllSockets(context.Background()); len(ids) != 0 {
		t.Fatalf("room a = %v", ids)
	}
	disc := make(chan string, 3)
	for _, s := range ss {
		s.OnDisconnect(func(s *Socket, reason string) { disc <- reason })
	}
	if err := srv.In("b").Except(ss[1].ID()).DisconnectSockets(false); err != nil {
		t.Fatal(err)
	}
	if got := tcs[2].recvText(); got != `1` {
		t.Fatalf("got %q", got)
	}
	if r := recvValue(t, disc); r != ReasonServerNamespaceDisconnect {
		t.Fatalf("reason %q", r)
	}
	if err := srv.DisconnectSockets(true); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1} {
		if got := tcs[i].recvText(); got != `1` {
			t.Fatalf("got %q", got)
		}
		tcs[i].waitClosed()
	}
	recvValue(t, disc)
	recvValue(t, disc)
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestBroadcastWithAck(t *testing.T) {
	srv := newTestServer(t, nil)
	sockets := make(chan *Socket, 3)
	srv.OnConnection(func(s *Socket) { sockets <- s })
	a, b := dial(t, srv), dial(t, srv)
	a.connect("/", "")
	b.connect("/", "")
	recvValue(t, sockets)
	recvValue(t, sockets)

	type result struct {
		r   []json.RawMessage
		err error
	}
	res := make(chan result, 1)
	go func() {
		r, err := srv.Timeout(10*time.Second).EmitWithAck(context.Background(), "poll", "q")
		res <- result{r, err}
	}()
	qa, qb := a.recvText(), b.recvText()
	if qa != qb {
		t.Fatalf("different packets %q %q", qa, qb)
	}
	var id int
	fmt.Sscanf(qa, "2%d", &id)
	a.send(fmt.Sprintf(`3%d["A",2]`, id))
	b.send(fmt.Sprintf(`3%d[]`, id))
	r := recvValue(t, res)
	got := []string{string(r.r[0]), string(r.r[1])}
	slices.Sort(got)
	if r.err != nil || !slices.Equal(got, []string{`"A"`, `null`}) {
		t.Fatalf("result %q, %v", got, r.err)
	}

	// One client does not answer.
	go func() {
		r, err := srv.Timeout(time.Second).EmitWithAck(context.Background(), "poll2")
		res <- result{r, err}
	}()
	qa = a.recvText()
	b.recvText()
	fmt.Sscanf(qa, "2%d", &id)
	a.send(fmt.Sprintf(`3%d["late but in time"]`, id))
	r = recvValue(t, res)
	if !errors.Is(r.err, ErrAckTimeout) || len(r.r) != 1 || string(r.r[0]) != `"late but in time"` {
		t.Fatalf("result %q, %v", r.r, r.err)
	}
	// No socket: immediate success with no answer.
	r2, err := srv.To("nobody").EmitWithAck(context.Background(), "x")
	if err != nil || len(r2) != 0 {
		t.Fatalf("empty broadcast: %v %v", r2, err)
	}
}

func TestDisconnectReasons(t *testing.T) {
	srv := newTestServer(t, nil)
	type ev struct {
		kind, reason string
		rooms        []string
	}
	evs := make(chan ev, 10)
	sockets := make(chan *Socket, 10)
	srv.OnConnection(func(s *Socket) {
		s.Join("room")
		s.OnDisconnecting(func(s *Socket, reason string) { evs <- ev{"disconnecting", reason, s.Rooms()} })
		s.OnDisconnect(func(s *Socket, reason string) { evs <- ev{"disconnect", reason, s.Rooms()} })
		sockets <- s
	})
	check := func(reason string) {
		t.Helper()
		e := recvValue(t, evs)
		if e.kind != "disconnecting" || e.reason != reason || !slices.Contains(e.rooms, "room") {
			t.Fatalf("event %+v", e)
		}
		e = recvValue(t, evs)
		if e.kind != "disconnect" || e.reason != reason || len(e.rooms) != 0 {
			t.Fatalf("event %+v", e)
		}
	}

	tc := dial(t, srv)
	tc.connect("/", "")
	s := recvValue(t, sockets)
	tc.send(`1`)
	check(ReasonClientNamespaceDisconnect)
	if s.Connected() || srv.Sockets().Socket(s.ID()) != nil {
		t.Fatal("still connected")
	}
	if err := s.Emit("x"); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("Emit after disconnect: %v", err)
	}
	// The same connection can connect again, even at once.
	tc.connect("/", "")
	recvValue(t, sockets)
	tc.send(`1`)
	tc.connect("/", "")
	check(ReasonClientNamespaceDisconnect)
	s = recvValue(t, sockets)
	s.Disconnect(false)
	if got := tc.recvText(); got != "1" {
		t.Fatalf("got %q", got)
	}
	tc.connect("/", "")
	check(ReasonServerNamespaceDisconnect)
	s = recvValue(t, sockets)
	s.Disconnect(false)
	tc.recvText()
	check(ReasonServerNamespaceDisconnect)

	tc.connect("/", "")
	recvValue(t, sockets)
	tc.c.onEngineClose(ReasonPingTimeout, nil)
	check(ReasonPingTimeout)

	tc = dial(t, srv)
	tc.connect("/", "")
	recvValue(t, sockets)
	tc.send(`2["x"`) // invalid packet
	tc.waitClosed()
	check(ReasonForcedClose)

	tc = dial(t, srv)
	tc.connect("/", "")
	recvValue(t, sockets)
	tc.send(`2/other,["x"]`) // namespace not joined
	tc.waitClosed()
	check(ReasonForcedServerClose)

	tc = dial(t, srv)
	tc.connect("/", "")
	recvValue(t, sockets)
	tc.send(`0`) // second CONNECT
	tc.waitClosed()
	check(ReasonForcedServerClose)

	tc = dial(t, srv)
	tc.connect("/", "")
	recvValue(t, sockets)
	_ = srv.Close()
	check(ReasonServerShuttingDown)
}

func TestConnectTimeout(t *testing.T) {
	srv := newTestServer(t, &Options{ConnectTimeout: 20 * time.Millisecond})
	tc := dial(t, srv)
	tc.waitClosed()

	// A connection that joined a namespace stays when the timeout fires
	// (run by hand after the CONNECT: a short timer could fire before it
	// on a busy machine).
	srv = newTestServer(t, &Options{ConnectTimeout: time.Hour})
	tc = dial(t, srv)
	tc.connect("/", "")
	tc.c.onConnectTimeout()
	if tc.conn.closed.Load() {
		t.Fatal("connected client was closed")
	}
}

func TestVolatile(t *testing.T) {
	srv := newTestServer(t, nil)
	sockets := make(chan *Socket, 1)
	srv.OnConnection(func(s *Socket) { sockets <- s })
	tc := dial(t, srv)
	tc.connect("/", "")
	recvValue(t, sockets)
	tc.conn.writable.Store(false)
	_ = srv.Volatile().Emit("dropped")
	_ = srv.Emit("kept")
	tc.conn.writable.Store(true)
	_ = srv.Volatile().Emit("sent")
	if got := tc.recvText(); got != `2["kept"]` {
		t.Fatalf("got %q", got)
	}
	if got := tc.recvText(); got != `2["sent"]` {
		t.Fatalf("got %q", got)
	}
}

func TestSocketMiddlewareAndAny(t *testing.T) {
	srv := newTestServer(t, nil)
	seen := make(chan string, 10)
	srv.OnConnection(func(s *Socket) {
		s.Use(func(s *Socket, event string, args []json.RawMessage) error {
			if event == "forbidden" {
				return errors.New("unauthorized event")
			}
			return nil
		})
		s.OnAny(func(s *Socket, event string, args []json.RawMessage) { seen <- "any:" + event })
		s.OnError(func(s *Socket, err error) { seen <- "error:" + err.Error() })
		s.On("42", func(*Socket, []json.RawMessage, AckFunc) { seen <- "numeric" })
		OnTyped(s, "typed", func(s *Socket, v struct{ N int }, _ AckFunc) { seen <- fmt.Sprint("typed:", v.N) })
	})
	tc := dial(t, srv)
	tc.connect("/", "")
	tc.send(`2["forbidden"]`)
	tc.send(`2[42]`)
	tc.send(`2["typed",{"N":7}]`)
	tc.send(`2["typed","not an object"]`)
	want := []string{"error:unauthorized event", "any:42", "numeric", "any:typed", "typed:7", "any:typed"}
	for _, w := range want {
		if got := recvValue(t, seen); got != w {
			t.Fatalf("got %q, want %q", got, w)
		}
	}
	if got := recvValue(t, seen); !strings.HasPrefix(got, `error:event "typed": failed to decode argument 0`) {
		t.Fatalf("got %q", got)
	}
}

// logBuffer collects the JSON lines of a logger.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// logger returns a logger that writes JSON lines to b.
func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(b, nil)) }

// entries returns the lines logged so far.
func (b *logBuffer) entries(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

func TestHandlerPanicClosesConnection(t *testing.T) {
	var logs logBuffer
	srv := newTestServer(t, &Options{Logger: logs.logger()})
	srv.OnConnection(func(s *Socket) {
		s.On("boom", func(*Socket, []json.RawMessage, AckFunc) { panic("boom") })
	})
	tc := dial(t, srv)
	tc.connect("/", "")
	tc.send(`2["boom"]`)
	tc.waitClosed()
	// The panic goes to the configured logger, with its stack.
	e := logs.entries(t)
	if len(e) != 1 || e[0]["level"] != "ERROR" || e[0]["msg"] != "socketio: panic serving a client" ||
		e[0]["panic"] != "boom" || e[0]["client"] != tc.conn.ID() || !strings.Contains(e[0]["stack"].(string), "TestHandlerPanicClosesConnection") {
		t.Fatalf("logged %v", e)
	}
}

// A client whose events pile up behind a busy handler is disconnected
// instead of growing the server's memory without bound.
func TestQueueBound(t *testing.T) {
	var logs logBuffer
	srv := newTestServer(t, &Options{Logger: logs.logger()})
	release := make(chan struct{})
	srv.OnConnection(func(s *Socket) {
		s.On("slow", func(*Socket, []json.RawMessage, AckFunc) { <-release })
	})
	defer close(release)
	tc := dial(t, srv)
	tc.connect("/", "")
	for i := 0; i <= maxQueued+1 && !tc.conn.closed.Load(); i++ {
		tc.send(`2["slow"]`)
	}
	tc.waitClosed()
	// Said on the configured logger, not the log package.
	e := logs.entries(t)
	if len(e) != 1 || e[0]["level"] != "WARN" || e[0]["msg"] != "socketio: closing a client whose packets pile up before its handlers" ||
		e[0]["client"] != tc.conn.ID() || e[0]["packets"] != float64(maxQueued) {
		t.Fatalf("logged %v", e)
	}
}

// Socket.IO v2 clients (Engine.IO 3) as Node serves them with allowEIO3.
func TestProtocolV2Clients(t *testing.T) {
	srv := newTestServer(t, &Options{ConnectionStateRecovery: &RecoveryOptions{}})
	sockets := make(chan *Socket, 4)
	srv.OnConnection(func(s *Socket) { sockets <- s })
	admin := srv.Of("/admin")
	admin.Use(func(s *Socket) error {
		var auth struct {
			Token string `json:"token"`
		}
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		switch auth.Token {
		case "secret":
			return nil
		case "data":
			return NewConnectError("refused", map[string]int{"code": 1})
		}
		return errors.New("not authorized")
	})
	admin.OnConnection(func(s *Socket) { sockets <- s })

	tc := dialProtocol(t, srv, 3)
	if got := tc.recvText(); got != "0" {
		t.Fatalf("implicit CONNECT = %q", got)
	}
	s := recvValue(t, sockets)
	if s.ID() != tc.conn.ID() {
		t.Fatalf("id %q, engine id %q", s.ID(), tc.conn.ID())
	}
	tc.send(`0/admin?token=nope,`)
	if got := tc.recvText(); got != `4/admin,"not authorized"` {
		t.Fatalf("got %q", got)
	}
	tc.send(`0/admin?token=data,`)
	if got := tc.recvText(); got != `4/admin,{"code":1}` {
		t.Fatalf("got %q", got)
	}
	tc.send(`0/admin?token=secret&x=1,`)
	if got := tc.recvText(); got != `0/admin,` {
		t.Fatalf("got %q", got)
	}
	s = recvValue(t, sockets)
	if s.ID() != "/admin#"+tc.conn.ID() || string(s.Handshake().Auth) != `{"token":"secret","x":"1"}` {
		t.Fatalf("id %q auth %s", s.ID(), s.Handshake().Auth)
	}
	_ = s.Emit("e", 1)
	if got := tc.recvText(); !strings.HasPrefix(got, `2/admin,["e",1`) {
		t.Fatalf("got %q", got)
	}
}

// TestSocketsJoinLeaveHook checks Namespace.OnSocketsJoinLeave: it hears
// each room a socket really joined or left by SocketsJoin and
// SocketsLeave (once for a room listed twice, not for a room the socket
// was already in), and nothing of Socket.Join and Socket.Leave.
func TestSocketsJoinLeaveHook(t *testing.T) {
	srv := newTestServer(t, nil)
	sockets := make(chan *Socket, 2)
	srv.OnConnection(func(s *Socket) { sockets <- s })
	var ss []*Socket
	for range 2 {
		dial(t, srv).connect("/", "")
		ss = append(ss, recvValue(t, sockets))
	}
	var mu sync.Mutex
	var heard []string
	srv.Sockets().OnSocketsJoinLeave(func(s *Socket, room string, joined bool) {
		mu.Lock()
		defer mu.Unlock()
		op := "left"
		if joined {
			op = "joined"
		}
		heard = append(heard, fmt.Sprintf("%s %s %s", s.ID(), op, room))
	})
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		h := heard
		heard = nil
		slices.Sort(h)
		return h
	}
	ss[0].Join("a")
	ss[1].Join("b")
	ss[0].Leave("a")
	if h := take(); len(h) != 0 {
		t.Fatalf("Socket.Join and Leave were heard: %q", h)
	}
	ss[1].Join("a")
	if err := srv.SocketsJoin("a", "c", "c"); err != nil {
		t.Fatal(err)
	}
	want := sortedCopy([]string{ss[0].ID() + " joined a", ss[0].ID() + " joined c", ss[1].ID() + " joined c"})
	if h := take(); !slices.Equal(h, want) {
		t.Fatalf("after SocketsJoin(a, c, c) heard %q, want %q", h, want)
	}
	if err := srv.In("b").SocketsLeave("c", "d"); err != nil {
		t.Fatal(err)
	}
	if h, want := take(), []string{ss[1].ID() + " left c"}; !slices.Equal(h, want) {
		t.Fatalf("after SocketsLeave(c, d) in b heard %q, want %q", h, want)
	}
	if r := ss[1].Rooms(); !slices.Equal(r, sortedCopy([]string{ss[1].ID(), "a", "b"})) {
		t.Fatalf("rooms of socket 1 = %v", r)
	}
}
