package bench

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/klauspost/compress/flate"
	"github.com/tether-rt/tether/websocket/frame"
)

// Payload returns size bytes of JSON-like text, the kind of message a
// real-time application sends: it compresses well (about 4:1 to 6:1 at
// level 1) but is not a run of one byte. The same size always gives the
// same bytes.
func Payload(size int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	users := []string{"ada", "grace", "linus", "ken", "barbara", "donald"}
	events := []string{"position", "chat", "presence", "typing"}
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"user":"%s-%03d","event":"%s","x":%s,"y":%s,"room":"lobby-%d","ts":%d}`,
			i, users[i%len(users)], i%97, events[i%len(events)],
			strconv.FormatFloat(float64(i%1000)*0.25, 'f', 2, 64),
			strconv.FormatFloat(float64(i%313)*-0.5, 'f', 2, 64),
			i%7, 1700000000000+int64(i)*37)
	}
	p := b.Bytes()[:size]
	p[size-1] = ']'
	return p
}

// Deflate compresses p on its own at level 1, as a permessage-deflate
// message payload (the 00 00 ff ff tail removed). It is valid with and
// without context takeover: it refers to nothing before itself.
func Deflate(p []byte) []byte {
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, flate.BestSpeed)
	if err != nil {
		panic(err)
	}
	if _, err := w.Write(p); err != nil {
		panic(err)
	}
	if err := w.Flush(); err != nil {
		panic(err)
	}
	out := b.Bytes()
	return out[:len(out)-4]
}

// ClientFrame returns p as one masked binary frame, as a client sends it;
// compressed marks it as a permessage-deflate message (RSV1), so p must
// then come from [Deflate].
func ClientFrame(p []byte, compressed bool, key [4]byte) []byte {
	h := frame.Header{Fin: true, Rsv1: compressed, OpCode: frame.OpBinary, Length: int64(len(p)), Masked: true, Mask: key}
	b := frame.AppendHeader(make([]byte, 0, frame.HeaderSize(h)+len(p)), h)
	n := len(b)
	b = append(b, p...)
	frame.Mask(key, 0, b[n:])
	return b
}
