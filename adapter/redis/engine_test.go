package redis

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/engineio/parser"
	"github.com/tether-rt/tether/internal/peertest"
)

// Messages as @socket.io/cluster-engine 0.1 writes them: @msgpack/msgpack
// 2.8's encode() of the objects its engine.ts makes (the hex printed by
// node with the package of test/cluster's lockfile).
var nodeEngineMessages = []struct {
	name string
	hex  string
	want engineio.ClusterMessage
	// same: Tether writes the same bytes for want (with Tether unset).
	same bool
}{
	{"lock", "85a972657175657374496401a873656e6465724964a6613162326333a47479706500a46461746183a3736964b44141414141414141414141414141414141414141ad7472616e73706f72744e616d65a7706f6c6c696e67a474797065a472656164a75f736f75726365a45f65696f",
		engineio.ClusterMessage{Type: engineio.ClusterMsgAcquireLock, RequestID: 1, Sender: "a1b2c3", SID: sid20, Transport: "polling", Read: true}, true},
	{"lockResponse", "86a972657175657374496401a873656e6465724964a6643465356636ab726563697069656e744964a6613162326333a47479706501a46461746181a773756363657373c3a75f736f75726365a45f65696f",
		engineio.ClusterMessage{Type: engineio.ClusterMsgLockResponse, RequestID: 1, Sender: "d4e5f6", Recipient: "a1b2c3", Success: true}, true},
	{"drain", "85a873656e6465724964a6643465356636ab726563697069656e744964a6613162326333a47479706502a46461746182a3736964b44141414141414141414141414141414141414141a77061636b6574739383a474797065a76d657373616765a76f7074696f6e7381a8636f6d7072657373c3a464617461a7325b226869225d82a474797065a470696e67a76f7074696f6e7381a8636f6d7072657373c383a474797065a76d657373616765a76f7074696f6e7381a8636f6d7072657373c2a464617461c403010203a75f736f75726365a45f65696f",
		engineio.ClusterMessage{Type: engineio.ClusterMsgDrain, Sender: "d4e5f6", Recipient: "a1b2c3", SID: sid20, Packets: []engineio.ClusterPacket{
			{Type: parser.Message, Data: []byte(`2["hi"]`)}, {Type: parser.Ping}, {Type: parser.Message, Data: []byte{1, 2, 3}, Binary: true, NoCompress: true}}}, true},
	// From a Node requester's parser: no options (compression is the
	// sender's business).
	{"packet", "85a873656e6465724964a6613162326333ab726563697069656e744964a6643465356636a47479706503a46461746182a3736964b44141414141414141414141414141414141414141a67061636b657482a474797065a76d657373616765a464617461a23430a75f736f75726365a45f65696f",
		engineio.ClusterMessage{Type: engineio.ClusterMsgPacket, Sender: "a1b2c3", Recipient: "d4e5f6", SID: sid20, Packets: []engineio.ClusterPacket{{Type: parser.Message, Data: []byte("40")}}}, false},
	{"upgrade", "86a972657175657374496402a873656e6465724964a6613162326333ab726563697069656e744964a6643465356636a47479706504a46461746182a3736964b44141414141414141414141414141414141414141a773756363657373c3a75f736f75726365a45f65696f",
		engineio.ClusterMessage{Type: engineio.ClusterMsgUpgrade, RequestID: 2, Sender: "a1b2c3", Recipient: "d4e5f6", SID: sid20, Success: true}, true},
	{"upgradeResponse", "86a972657175657374496402a873656e6465724964a6643465356636ab726563697069656e744964a6613162326333a47479706505a46461746182a874616b654f766572c3a77061636b6574739182a474797065a76d657373616765a464617461a23430a75f736f75726365a45f65696f",
		engineio.ClusterMessage{Type: engineio.ClusterMsgUpgradeResponse, RequestID: 2, Sender: "d4e5f6", Recipient: "a1b2c3", TakeOver: true,
			Packets: []engineio.ClusterPacket{{Type: parser.Message, Data: []byte("40")}}}, false},
	{"close", "85a873656e6465724964a6613162326333ab726563697069656e744964a6643465356636a47479706506a46461746182a3736964b44141414141414141414141414141414141414141a6726561736f6eaf7472616e73706f727420636c6f7365a75f736f75726365a45f65696f",
		engineio.ClusterMessage{Type: engineio.ClusterMsgClose, Sender: "a1b2c3", Recipient: "d4e5f6", SID: sid20, Reason: "transport close"}, true},
	// A packet Node's parser could not decode: the session closes.
	{"errorPacket", "85a873656e6465724964a6613162326333ab726563697069656e744964a6643465356636a47479706503a46461746182a3736964b44141414141414141414141414141414141414141a67061636b657482a474797065a56572726f72a464617461ac706172736572206572726f72a75f736f75726365a45f65696f",
		engineio.ClusterMessage{Type: engineio.ClusterMsgClose, Sender: "a1b2c3", Recipient: "d4e5f6", SID: sid20, Reason: engineio.ReasonParseError}, false},
}

const sid20 = "AAAAAAAAAAAAAAAAAAAA"

// TestEngineWireNode: Node's messages decode to what they mean, and Tether
// writes the same bytes as Node for the same message.
func TestEngineWireNode(t *testing.T) {
	for _, tc := range nodeEngineMessages {
		b, err := hex.DecodeString(tc.hex)
		if err != nil {
			t.Fatal(err)
		}
		m, err := decodeEngineMessage(b)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(*m, tc.want) {
			t.Errorf("%s: decoded %+v, want %+v", tc.name, *m, tc.want)
		}
		if tc.same {
			if got := hex.EncodeToString(appendEngineMessage(nil, &tc.want)); got != tc.hex {
				t.Errorf("%s: wrote\n%s\nwant\n%s", tc.name, got, tc.hex)
			}
		}
	}
}

// TestEngineWireTether: Tether's messages carry _tether and read back as
// they were; messages of other sources are not taken.
func TestEngineWireTether(t *testing.T) {
	ms := []engineio.ClusterMessage{
		{Type: engineio.ClusterMsgPackets, RequestID: 7, Sender: "x", Recipient: "y", Tether: true, SID: sid20,
			Packets: []engineio.ClusterPacket{{Type: parser.Message, Data: []byte("4a")}, {Type: parser.Pong}}},
		{Type: engineio.ClusterMsgRelease, RequestID: 8, Sender: "x", Recipient: "y", Tether: true, SID: sid20},
		{Type: engineio.ClusterMsgAcquireLock, RequestID: 1 << 40, Sender: "x", Tether: true, SID: sid20, Transport: "websocket", Read: true},
	}
	for _, want := range ms {
		b := appendEngineMessage(nil, &want)
		if !strings.Contains(string(b), "\xa7_tether\x01") {
			t.Errorf("no _tether in %q", b)
		}
		got, err := decodeEngineMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("read back %+v, want %+v", *got, want)
		}
	}
	// A classic adapter's broadcast, and a map of another source.
	for _, b := range [][]byte{{0x93, 0xa1, 'x'}, {0x81, 0xa7, '_', 's', 'o', 'u', 'r', 'c', 'e', 0xa1, 'x'}} {
		if _, err := decodeEngineMessage(b); err != errNotEngine {
			t.Errorf("%x: %v", b, err)
		}
	}
}

// TestEngineTransport: two Engine.IO servers on one Redis serve a polling
// session between them; a server whose transport closes is seen as gone.
func TestEngineTransport(t *testing.T) {
	testEngineTransport(t, peertest.StartRedis(t))
}

func testEngineTransport(t *testing.T, r redisServer) {
	ctx := context.Background()
	var servers [2]*engineio.Server
	var urls [2]string
	var transports [2]*EngineTransport
	conns := make(chan *engineio.Socket, 1)
	msgs := make(chan string, 10)
	for i := range servers {
		c, err := Connect(ctx, r.URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		transports[i] = NewEngineTransport(c, nil)
		servers[i] = engineio.NewServer(&engineio.Options{Cluster: &engineio.ClusterOptions{Transport: transports[i], ConnectionDelay: -1, ResponseTimeout: 3 * time.Second}})
		servers[i].OnConnection(func(s *engineio.Socket) {
			s.OnMessage(func(p engineio.Packet) { msgs <- string(p.Data) })
			conns <- s
		})
		hs := httptest.NewServer(servers[i])
		t.Cleanup(hs.Close)
		t.Cleanup(func() { servers[i].Close() })
		urls[i] = hs.URL + "/"
		select {
		case <-transports[i].Subscribed():
		case <-time.After(10 * time.Second):
			t.Fatal("not subscribed")
		}
	}
	do := func(i int, method, query, body string) string {
		t.Helper()
		req, _ := http.NewRequest(method, urls[i]+"?"+query, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s on %d: %d %s", method, query, i, resp.StatusCode, b)
		}
		return string(b)
	}
	open := do(0, "GET", "EIO=4&transport=polling", "")
	sid := open[strings.Index(open, `"sid":"`)+7:][:20]
	sock := <-conns
	do(1, "POST", "EIO=4&transport=polling&sid="+sid, "4hello\x1e4binary?")
	for _, want := range []string{"hello", "binary?"} {
		select {
		case got := <-msgs:
			if got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no message")
		}
	}
	_ = sock.Send(engineio.Packet{Data: []byte("hi")}, engineio.Packet{Data: []byte{0xff}, Binary: true})
	if got := do(1, "GET", "EIO=4&transport=polling&sid="+sid, ""); got != "4hi\x1eb/w==" {
		t.Fatalf("poll: %q", got)
	}

	alive, err := transports[0].Alive(ctx, []string{transports[1].NodeID(), "nobody"})
	if err != nil || !reflect.DeepEqual(alive, []bool{true, false}) {
		t.Fatalf("alive: %v %v", alive, err)
	}
	transports[1].Close()
	alive, err = transports[0].Alive(ctx, []string{transports[1].NodeID()})
	if err != nil || alive[0] {
		t.Fatalf("alive after close: %v %v", alive, err)
	}
}
