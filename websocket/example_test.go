package websocket_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/tether-rt/tether/websocket"
)

// An echo server in the handler form: the handler's goroutine reads until
// the connection ends.
func ExampleAccept() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return // Accept has answered with the right HTTP status
		}
		defer c.CloseNow()
		c.ReadLoop(func(typ websocket.MessageType, msg []byte) error {
			return c.WriteMessage(typ, msg)
		})
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()
	c.WriteMessage(websocket.MessageText, []byte("hello"))
	_, msg, err := c.Read(ctx)
	fmt.Println(string(msg), err)
	c.Close(websocket.StatusNormalClosure, "")
	// Output: hello <nil>
}

// A server for many mostly quiet connections: the handler returns right
// after Accept, and an idle connection holds no goroutine and no buffer.
func ExampleConn_ReadLoopAsync() {
	ended := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.ReadLoopAsync(func(typ websocket.MessageType, msg []byte) error {
			return c.WriteMessage(typ, append([]byte("echo: "), msg...))
		}, func(err error) {
			c.CloseNow()
			ended <- err
		})
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()
	c.WriteMessage(websocket.MessageText, []byte("hi"))
	_, msg, _ := c.Read(ctx)
	fmt.Println(string(msg))
	c.Close(websocket.StatusNormalClosure, "bye")
	fmt.Println(websocket.CloseStatus(<-ended))
	// Output:
	// echo: hi
	// 1000
}

// A batch sends queued messages with one write to the network.
func ExampleConn_Batch() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		b := c.Batch()
		for _, s := range []string{"one", "two", "three"} {
			b.WriteMessage(websocket.MessageText, []byte(s))
		}
		if err := b.Flush(); err != nil {
			return
		}
		c.Close(websocket.StatusNormalClosure, "")
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			fmt.Println(websocket.CloseStatus(err))
			return
		}
		fmt.Println(string(msg))
	}
	// Output:
	// one
	// two
	// three
	// 1000
}
