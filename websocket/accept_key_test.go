package websocket

import (
	"crypto/sha1"
	"encoding/base64"
	"testing"
)

// TestAcceptKey checks Sec-WebSocket-Accept against RFC 6455's example
// and, for keys of other lengths (which the fast path does not take),
// against the hash computed the plain way.
func TestAcceptKey(t *testing.T) {
	if got, want := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Fatalf("acceptKey(RFC example) = %q, want %q", got, want)
	}
	for _, key := range []string{"", "x", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ==="} {
		sum := sha1.Sum([]byte(key + keyGUID))
		if got, want := acceptKey(key), base64.StdEncoding.EncodeToString(sum[:]); got != want {
			t.Errorf("acceptKey(%q) = %q, want %q", key, got, want)
		}
	}
	if got := string(appendAcceptKey([]byte("Accept: "), "dGhlIHNhbXBsZSBub25jZQ==")); got != "Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("appendAcceptKey did not append: %q", got)
	}
}
