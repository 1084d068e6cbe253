package cluster

import (
	"context"
	"errors"
	"sync"
)

// Bus is an in-process transport: the servers of a cluster that share a
// Bus exchange their messages through it. It serves tests (a cluster of
// several servers in one process) and programs that run several
// socketio.Servers in one process.
//
// Messages are encoded as they would be on a broker (JSON, as Node's
// transports encode messages without binary data, MessagePack for the
// others) and each server receives them in the
// order they were published, on a goroutine of its own, as from a broker:
// what was queued while it handled the previous ones comes as one batch
// ([BatchHandler]).
// The zero value is not usable: use [NewBus].
type Bus struct {
	// Uncounted makes the transports report no server count, as a broker
	// that cannot count subscribers does: adapters then count servers by
	// heartbeats. Set it before the first Dial.
	Uncounted bool

	mu   sync.Mutex
	subs map[string]map[string]*busSub // namespace -> uid -> subscriber
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: map[string]map[string]*busSub{}} }

// busSub is a server subscribed to a namespace: a queue served by one
// goroutine.
type busSub struct {
	h      Handler
	mu     sync.Mutex
	queue  []busItem
	wake   chan struct{}
	closed bool
	done   chan struct{}
}

type busItem struct {
	m        *Message
	response bool
}

// Dialer returns the bus's [Dialer].
func (b *Bus) Dialer() Dialer {
	return func(nsp, uid string, h Handler) (Transport, error) {
		s := &busSub{h: h, wake: make(chan struct{}, 1), done: make(chan struct{})}
		b.mu.Lock()
		if b.subs[nsp] == nil {
			b.subs[nsp] = map[string]*busSub{}
		}
		b.subs[nsp][uid] = s
		b.mu.Unlock()
		go s.run()
		return &busTransport{b: b, nsp: nsp, uid: uid, sub: s}, nil
	}
}

func (s *busSub) run() {
	defer close(s.done)
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.closed {
			s.mu.Unlock()
			<-s.wake
			s.mu.Lock()
		}
		if s.closed {
			s.mu.Unlock()
			return
		}
		batch := s.queue
		s.queue = nil
		s.mu.Unlock()
		s.handle(batch)
	}
}

// handle hands the items that were queued together to the handler, in
// order: the messages between two responses at once when it is a
// BatchHandler, as from a broker read in batches.
func (s *busSub) handle(batch []busItem) {
	var ms []*Message
	flush := func() {
		if len(ms) == 0 {
			return
		}
		if bh, ok := s.h.(BatchHandler); ok {
			bh.HandleMessages(ms, make([]string, len(ms)))
		} else {
			for _, m := range ms {
				s.h.HandleMessage(m, "")
			}
		}
		ms = ms[:0]
	}
	for _, it := range batch {
		if it.response {
			flush()
			s.h.HandleResponse(it.m)
			continue
		}
		ms = append(ms, it.m)
	}
	flush()
}

func (s *busSub) push(it busItem) {
	s.mu.Lock()
	if !s.closed {
		s.queue = append(s.queue, it)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *busSub) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	<-s.done
}

type busTransport struct {
	b   *Bus
	nsp string
	uid string
	sub *busSub
}

var errBusClosed = errors.New("cluster: bus transport closed")

// copyMessage returns what a receiver decodes of m: its JSON round trip,
// or, for a message with binary data, its MessagePack one.
func copyMessage(m *Message) (*Message, error) {
	if m.HasBinary() {
		b, err := m.AppendMsgpack(nil, Notepack)
		if err != nil {
			return nil, err
		}
		return DecodeMsgpack(b, Notepack)
	}
	b, err := m.AppendJSON(nil)
	if err != nil {
		return nil, err
	}
	return DecodeJSON(b)
}

func (t *busTransport) Publish(_ context.Context, m *Message) (string, error) {
	c, err := copyMessage(m)
	if err != nil {
		return "", err
	}
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	if t.b.subs[t.nsp][t.uid] != t.sub {
		return "", errBusClosed
	}
	for uid, s := range t.b.subs[t.nsp] {
		if uid != t.uid {
			s.push(busItem{m: c})
		}
	}
	return "", nil
}

func (t *busTransport) PublishResponse(_ context.Context, uid string, m *Message) error {
	c, err := copyMessage(m)
	if err != nil {
		return err
	}
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	if s := t.b.subs[t.nsp][uid]; s != nil {
		s.push(busItem{m: c, response: true})
	}
	return nil
}

func (t *busTransport) ServerCount(context.Context) (int, error) {
	if t.b.Uncounted {
		return 0, nil
	}
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	return len(t.b.subs[t.nsp]), nil
}

func (t *busTransport) Close() error {
	t.b.mu.Lock()
	if t.b.subs[t.nsp][t.uid] == t.sub {
		delete(t.b.subs[t.nsp], t.uid)
	}
	t.b.mu.Unlock()
	t.sub.close()
	return nil
}
