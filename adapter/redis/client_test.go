package redis

import (
	"context"
	"strings"
	"testing"

	"github.com/tether-rt/tether/internal/peertest"
)

func TestConnect(t *testing.T) {
	r := peertest.StartRedis(t)
	c, err := Connect(context.Background(), r.URL())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	r.Kill()
	_, err = Connect(context.Background(), "redis://user:secret@"+r.Addr)
	if err == nil || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), r.Addr) {
		t.Fatalf("Connect to a dead server = %v; want an error naming the address, not the password", err)
	}
	if _, err := Connect(context.Background(), "http://nope"); err == nil {
		t.Fatal("Connect accepted an http URL")
	}
}
