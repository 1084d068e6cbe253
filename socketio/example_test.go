package socketio_test

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"regexp"
	"time"

	"github.com/tether-rt/tether/socketio"
)

func Example() {
	srv := socketio.NewServer(&socketio.Options{
		ConnectionStateRecovery: &socketio.RecoveryOptions{SkipMiddlewares: true},
	})
	srv.OnConnection(func(s *socketio.Socket) {
		s.Join("lobby")
		s.On("chat message", func(s *socketio.Socket, args []json.RawMessage, ack socketio.AckFunc) {
			text, err := socketio.Decode[string](args, 0)
			if err != nil {
				return
			}
			_ = srv.To("lobby").Emit("chat message", s.ID(), text)
			if ack != nil {
				_ = ack("delivered")
			}
		})
		s.OnDisconnect(func(s *socketio.Socket, reason string) {
			log.Printf("%s left: %s", s.ID(), reason)
		})
	})
	http.Handle("/socket.io/", srv)
	// log.Fatal(http.ListenAndServe(":3000", nil))
}

func ExampleNamespace_Use() {
	srv := socketio.NewServer(nil)
	admin := srv.Of("/admin")
	admin.Use(func(s *socketio.Socket) error {
		var auth struct {
			Token string `json:"token"`
		}
		if json.Unmarshal(s.Handshake().Auth, &auth) != nil || auth.Token != "secret" {
			// The client's connect_error has err.message "not authorized"
			// and err.data {"code": 401}.
			return socketio.NewConnectError("not authorized", map[string]int{"code": 401})
		}
		s.Data().Set("role", "admin")
		return nil
	})
}

func ExampleOnTyped() {
	type Upload struct {
		Name string `json:"name"`
		Data []byte `json:"data"` // a Buffer on the client side
	}
	srv := socketio.NewServer(nil)
	srv.OnConnection(func(s *socketio.Socket) {
		socketio.OnTyped(s, "upload", func(s *socketio.Socket, u Upload, ack socketio.AckFunc) {
			if ack != nil {
				_ = ack(len(u.Data))
			}
			// Send it back as binary.
			_ = s.Emit("uploaded", Upload{Name: u.Name, Data: u.Data})
		})
	})
}

func ExampleBroadcastOperator_EmitWithAck() {
	srv := socketio.NewServer(nil)
	// Ask every client in "voters" and wait up to 5 seconds.
	answers, err := srv.To("voters").Timeout(5*time.Second).EmitWithAck(context.Background(), "vote?")
	if errors.Is(err, socketio.ErrAckTimeout) {
		log.Printf("only %d clients answered", len(answers))
	}
}

func ExampleServer_OfRegexp() {
	srv := socketio.NewServer(nil)
	// Clients may connect to "/workspace-1", "/workspace-42"...
	workspaces := srv.OfRegexp(regexp.MustCompile(`^/workspace-\d+$`))
	workspaces.OnConnection(func(s *socketio.Socket) {
		_ = s.Namespace().Emit("joined", s.ID()) // to that workspace only
	})
}
