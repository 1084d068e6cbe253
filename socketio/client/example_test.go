package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	"github.com/tether-rt/tether/socketio"
	"github.com/tether-rt/tether/socketio/client"
)

// A chat client: it joins a room, waits for the server's acknowledgement,
// and gets a message back, decoded into a struct.
func Example() {
	// A server to talk to (any Socket.IO v4 server would do).
	srv := socketio.NewServer(nil)
	srv.OnConnection(func(s *socketio.Socket) {
		s.On("join", func(s *socketio.Socket, args []json.RawMessage, ack socketio.AckFunc) {
			var room string
			json.Unmarshal(args[0], &room)
			s.Join(room)
			ack(map[string]any{"ok": true, "room": room})
			s.Emit("message", map[string]string{"from": "server", "text": "welcome to " + room})
		})
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := client.Connect(ctx, hs.URL, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Disconnect()

	type message struct {
		From string `json:"from"`
		Text string `json:"text"`
	}
	got := make(chan message, 1)
	s.On("message", func(e *client.Event) {
		var m message
		if err := e.Decode(&m); err == nil {
			got <- m
		}
	})

	answer, err := s.EmitWithAck(ctx, "join", "lobby")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ack:", string(answer[0]))
	m := <-got
	fmt.Printf("%s: %s\n", m.From, m.Text)
	// Output:
	// ack: {"ok":true,"room":"lobby"}
	// server: welcome to lobby
}
