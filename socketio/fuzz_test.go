package socketio

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/tether-rt/tether/engineio"
)

// FuzzClient feeds arbitrary Engine.IO messages to a client connection: the
// server must neither panic nor hang, whatever the packets and their order.
// Messages are separated by newlines; a message starting with 0xff is
// binary (without that byte).
func FuzzClient(f *testing.F) {
	for _, s := range []string{
		"0\n2[\"echo\",1]\n21[\"echo\",\"x\"]\n1",
		"0/admin,{\"token\":1}\n2/admin,[\"echo\"]\n0\n30[]",
		"0\n51-[\"echo\",{\"_placeholder\":true,\"num\":0}]\n\xff\x01\x02\n61-3[{\"_placeholder\":true,\"num\":0}]\n\xffab",
		"0{\"pid\":\"x\",\"offset\":\"y\"}\n2[\"echo\"]\n1\n0\n2[\"echo\"]",
		"2[\"echo\"]",
		"0/dyn-1,\n2/dyn-1,[\"echo\",{\"a\":[1,2,3]}]\n1/dyn-1,\n0/dyn-1,",
	} {
		f.Add([]byte(s))
	}
	srv := NewServer(&Options{ConnectionStateRecovery: &RecoveryOptions{}})
	defer srv.Close()
	echo := func(s *Socket) {
		s.On("echo", func(s *Socket, args []json.RawMessage, ack AckFunc) {
			_ = s.Emit("echo", args)
			if ack != nil {
				_ = ack(args)
			}
		})
	}
	srv.OnConnection(echo)
	srv.Of("/admin").OnConnection(echo)
	srv.OfFunc(func(name string, _ json.RawMessage) bool { return len(name) < 8 }).OnConnection(echo)
	f.Fuzz(func(t *testing.T, data []byte) {
		conn := &discardConn{req: newFakeConn().req}
		c := srv.newConnection(conn)
		for _, m := range bytes.Split(data, []byte("\n")) {
			// Like the engine, hand over memory that is the client's to
			// keep (data is the fuzzer's).
			m = bytes.Clone(m)
			if len(m) > 0 && m[0] == 0xff {
				c.onMessage(engineio.Packet{Data: m[1:], Binary: true})
			} else {
				c.onMessage(engineio.Packet{Data: m})
			}
		}
		c.onEngineClose(ReasonTransportClose, nil)
		// Everything queued for the client runs to its end.
		done := make(chan struct{})
		c.enqueue(func() { close(done) })
		<-done
	})
}
