package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/tether-rt/tether/adapter/internal/msgpack"
	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/engineio/parser"
)

// EngineOptions configures an [EngineTransport].
type EngineOptions struct {
	// ChannelPrefix prefixes the channels: "engine.io", as
	// @socket.io/cluster-engine's RedisEngine (channelPrefix).
	ChannelPrefix string
	// NodeID is this server's ID in the cluster; "" means a random one.
	NodeID string
	// Logger receives what goes wrong; nil means slog.Default().
	Logger *slog.Logger
}

// EngineTransport is an [engineio.ClusterTransport] over Redis pub/sub,
// wire-compatible with @socket.io/cluster-engine 0.1's RedisEngine, so that
// Tether and Node servers serve each other's Engine.IO sessions (polling
// without sticky sessions). Each server subscribes to two channels:
// prefix+"#" (messages for every server) and prefix+"#"+nodeID+"#" (its
// own); a message with a recipient goes to the recipient's channel. A
// message is a @msgpack/msgpack map {requestId, senderId, recipientId,
// type, data, _source: "_eio"}, with "_tether": 1 on Tether's. Whether a
// server is still in the cluster is the subscriber count of its own
// channel (PUBSUB NUMSUB).
type EngineTransport struct {
	c    rueidis.Client
	id   string
	all  string // prefix#
	own  string // prefix#id#
	pfx  string
	log  *slog.Logger
	stop context.CancelFunc
	done chan struct{}

	mu         sync.Mutex
	started    bool
	subscribed chan struct{}
}

// NewEngineTransport returns a transport on c; [engineio.Server] starts it.
func NewEngineTransport(c rueidis.Client, opts *EngineOptions) *EngineTransport {
	var o EngineOptions
	if opts != nil {
		o = *opts
	}
	if o.ChannelPrefix == "" {
		o.ChannelPrefix = "engine.io"
	}
	if o.NodeID == "" {
		var b [8]byte
		rand.Read(b[:])
		o.NodeID = hex.EncodeToString(b[:])
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &EngineTransport{c: c, id: o.NodeID, pfx: o.ChannelPrefix, all: o.ChannelPrefix + "#", own: o.ChannelPrefix + "#" + o.NodeID + "#",
		log: o.Logger, done: make(chan struct{}), subscribed: make(chan struct{})}
}

// NodeID implements engineio.ClusterTransport.
func (t *EngineTransport) NodeID() string { return t.id }

// Subscribed returns a channel closed once the transport receives.
func (t *EngineTransport) Subscribed() <-chan struct{} { return t.subscribed }

// Start implements engineio.ClusterTransport: it subscribes to the
// channels, and again after each lost connection, until Close.
func (t *EngineTransport) Start(handle func(*engineio.ClusterMessage)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.started {
		return
	}
	t.started = true
	ctx, cancel := context.WithCancel(context.Background())
	t.stop = cancel
	go t.receive(ctx, handle)
}

func (t *EngineTransport) receive(ctx context.Context, handle func(*engineio.ClusterMessage)) {
	defer close(t.done)
	var once sync.Once
	backoff := newBackoff()
	for ctx.Err() == nil {
		hooked := rueidis.WithOnSubscriptionHook(ctx, func(s rueidis.PubSubSubscription) {
			if s.Kind == "subscribe" && s.Count >= 2 {
				once.Do(func() { close(t.subscribed) })
				backoff.reset()
			}
		})
		// Leave the channels when closing: the others see this server
		// gone at once (Alive).
		hooked = rueidis.WithOnReceiveReturnHook(hooked, func(err error, c rueidis.CommandClient) error {
			if errors.Is(err, context.Canceled) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				return c.Do(ctx, c.B().Unsubscribe().Channel(t.all, t.own).Build()).Error()
			}
			return err
		})
		// On a master of a Redis Cluster, where Alive counts it.
		err := receive(hooked, t.c, t.pfx, t.c.B().Subscribe().Channel(t.all, t.own).Build(), func(msg rueidis.PubSubMessage) {
			m, err := decodeEngineMessage([]byte(msg.Message))
			if err != nil {
				if !errors.Is(err, errNotEngine) {
					t.log.Warn("redis engine: skipped a message", "channel", msg.Channel, "err", err)
				}
				return
			}
			if m.Sender == t.id {
				return
			}
			handle(m)
		})
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			t.log.Warn("redis engine: lost the cluster's channels; subscribing again", "err", err)
		}
		if !backoff.wait(ctx) {
			return
		}
	}
}

// Publish implements engineio.ClusterTransport.
func (t *EngineTransport) Publish(ctx context.Context, m *engineio.ClusterMessage) error {
	b := appendEngineMessage(nil, m)
	// The same node as PublishBatch's on Redis Cluster (see publish): a
	// session's messages arrive in order.
	if err := publish(ctx, t.c, t.c.B().Publish().Channel(t.channel(m)).Message(rueidis.BinaryString(b)).Build()); err != nil {
		return fmt.Errorf("redis engine: failed to publish: %w", err)
	}
	return nil
}

// PublishBatch implements engineio.ClusterBatchPublisher: the messages go
// in one round trip, in order.
func (t *EngineTransport) PublishBatch(ctx context.Context, ms []*engineio.ClusterMessage) error {
	cmds := make(rueidis.Commands, len(ms))
	for i, m := range ms {
		cmds[i] = t.c.B().Publish().Channel(t.channel(m)).Message(rueidis.BinaryString(appendEngineMessage(nil, m))).Build()
	}
	if err := publish(ctx, t.c, cmds...); err != nil {
		return fmt.Errorf("redis engine: failed to publish: %w", err)
	}
	return nil
}

// channel returns the channel of m's recipient.
func (t *EngineTransport) channel(m *engineio.ClusterMessage) string {
	if m.Recipient != "" {
		return t.pfx + "#" + m.Recipient + "#"
	}
	return t.all
}

// Alive implements engineio.ClusterTransport: a server is there while it
// is subscribed to its channel.
func (t *EngineTransport) Alive(ctx context.Context, nodes []string) ([]bool, error) {
	channels := make([]string, len(nodes))
	for i, n := range nodes {
		channels[i] = t.pfx + "#" + n + "#"
	}
	clients := map[string]rueidis.Client{"": t.c}
	if t.c.Mode() == rueidis.ClientModeCluster {
		clients = t.c.Nodes() // NUMSUB counts the node's own subscribers
	}
	alive := make([]bool, len(nodes))
	for _, c := range clients {
		counts, err := c.Do(ctx, c.B().PubsubNumsub().Channel(channels...).Build()).AsIntMap()
		if err != nil {
			return nil, fmt.Errorf("redis engine: failed to count subscribers: %w", err)
		}
		for i, ch := range channels {
			alive[i] = alive[i] || counts[ch] > 0
		}
	}
	return alive, nil
}

// Close implements engineio.ClusterTransport.
func (t *EngineTransport) Close() error {
	t.mu.Lock()
	stop := t.stop
	t.stop = nil
	t.mu.Unlock()
	if stop != nil {
		stop()
		<-t.done
	}
	return nil
}

// The wire format.

// engineSource is the _source of cluster-engine's messages.
const engineSource = "_eio"

var errNotEngine = errors.New("not a cluster-engine message")

// packetTypeNames are engine.io-parser's packet type names, by type.
var packetTypeNames = [...]string{
	parser.Open: "open", parser.Close: "close", parser.Ping: "ping", parser.Pong: "pong",
	parser.Message: "message", parser.Upgrade: "upgrade", parser.Noop: "noop",
}

// appendEngineMessage appends m as @msgpack/msgpack writes the object
// cluster-engine makes for its type, with its keys in the same order.
func appendEngineMessage(dst []byte, m *engineio.ClusterMessage) []byte {
	e := msgpack.Encoder{Buf: dst, Flavor: msgpack.MsgpackJS}
	n := 4 // senderId, type, data, _source
	hasID := m.RequestID != 0
	if hasID {
		n++
	}
	if m.Recipient != "" {
		n++
	}
	if m.Tether {
		n++
	}
	e.MapHeader(n)
	if hasID {
		e.Str("requestId")
		e.Int(m.RequestID)
	}
	e.Str("senderId")
	e.Str(m.Sender)
	if m.Recipient != "" {
		e.Str("recipientId")
		e.Str(m.Recipient)
	}
	e.Str("type")
	e.Int(int64(m.Type))
	e.Str("data")
	switch m.Type {
	case engineio.ClusterMsgAcquireLock:
		e.MapHeader(3)
		e.Str("sid")
		e.Str(m.SID)
		e.Str("transportName")
		e.Str(m.Transport)
		e.Str("type")
		if m.Read {
			e.Str("read")
		} else {
			e.Str("write")
		}
	case engineio.ClusterMsgLockResponse:
		e.MapHeader(1)
		e.Str("success")
		e.Bool(m.Success)
	case engineio.ClusterMsgDrain, engineio.ClusterMsgPackets:
		e.MapHeader(2)
		e.Str("sid")
		e.Str(m.SID)
		e.Str("packets")
		appendPackets(&e, m.Packets)
	case engineio.ClusterMsgPacket:
		e.MapHeader(2)
		e.Str("sid")
		e.Str(m.SID)
		e.Str("packet")
		var p engineio.ClusterPacket
		if len(m.Packets) > 0 {
			p = m.Packets[0]
		}
		appendPacket(&e, p)
	case engineio.ClusterMsgUpgrade:
		e.MapHeader(2)
		e.Str("sid")
		e.Str(m.SID)
		e.Str("success")
		e.Bool(m.Success)
	case engineio.ClusterMsgUpgradeResponse:
		e.MapHeader(2)
		e.Str("takeOver")
		e.Bool(m.TakeOver)
		e.Str("packets")
		appendPackets(&e, m.Packets)
	case engineio.ClusterMsgClose:
		e.MapHeader(2)
		e.Str("sid")
		e.Str(m.SID)
		e.Str("reason")
		e.Str(m.Reason)
	default: // ClusterMsgRelease, ClusterMsgDrained, and types to come
		e.MapHeader(1)
		e.Str("sid")
		e.Str(m.SID)
	}
	e.Str("_source")
	e.Str(engineSource)
	if m.Tether {
		e.Str("_tether")
		e.Int(1)
	}
	return e.Buf
}

func appendPackets(e *msgpack.Encoder, pkts []engineio.ClusterPacket) {
	e.ArrayHeader(len(pkts))
	for _, p := range pkts {
		appendPacket(e, p)
	}
}

// appendPacket appends p as engine.io's Socket.sendPacket makes it: {type,
// options: {compress}, data} (no data when there is none).
func appendPacket(e *msgpack.Encoder, p engineio.ClusterPacket) {
	n := 2
	if p.Data != nil {
		n++
	}
	e.MapHeader(n)
	e.Str("type")
	if int(p.Type) < len(packetTypeNames) {
		e.Str(packetTypeNames[p.Type])
	} else {
		e.Str("error")
	}
	e.Str("options")
	e.MapHeader(1)
	e.Str("compress")
	e.Bool(!p.NoCompress)
	if p.Data != nil {
		e.Str("data")
		if p.Binary {
			e.Bin(p.Data)
		} else {
			e.StrBytes(p.Data)
		}
	}
}

// decodeEngineMessage reads a message of cluster-engine (or Tether). Its
// packets' data alias b.
func decodeEngineMessage(b []byte) (*engineio.ClusterMessage, error) {
	d := msgpack.Decoder{Flavor: msgpack.MsgpackJS}
	d.Reset(b)
	n, err := d.ReadMapHeader()
	if err != nil {
		return nil, errNotEngine
	}
	m := &engineio.ClusterMessage{}
	var data []byte
	source := false
	typ := int64(-1)
	for range n {
		key, err := d.ReadStrBytes()
		if err != nil {
			return nil, fmt.Errorf("failed to read a key: %w", err)
		}
		switch string(key) {
		case "requestId":
			m.RequestID, err = readNumber(&d)
		case "senderId":
			m.Sender, err = d.ReadStr()
		case "recipientId":
			m.Recipient, err = readOptStr(&d)
		case "type":
			typ, err = readNumber(&d)
		case "data":
			data, err = d.ReadRaw()
		case "_source":
			var s string
			s, err = readOptStr(&d)
			source = s == engineSource
		case "_tether":
			var v int64
			v, err = readNumber(&d)
			m.Tether = v >= 1
		default:
			err = d.Skip()
		}
		if err != nil {
			return nil, fmt.Errorf("failed to read %s: %w", key, err)
		}
	}
	if !source {
		return nil, errNotEngine
	}
	if typ < 0 || data == nil {
		return nil, errors.New("a message without type or data")
	}
	m.Type = engineio.ClusterMessageType(typ)
	d.Reset(data)
	if err := decodeEngineData(&d, m); err != nil {
		return nil, fmt.Errorf("failed to read the data of a message of type %d: %w", typ, err)
	}
	return m, nil
}

// decodeEngineData reads a message's data into m.
func decodeEngineData(d *msgpack.Decoder, m *engineio.ClusterMessage) error {
	if t, _ := d.Peek(); t == msgpack.NilType {
		return d.Skip()
	}
	n, err := d.ReadMapHeader()
	if err != nil {
		return err
	}
	for range n {
		key, err := d.ReadStrBytes()
		if err != nil {
			return err
		}
		switch string(key) {
		case "sid":
			m.SID, err = readOptStr(d)
		case "transportName":
			m.Transport, err = readOptStr(d)
		case "type":
			var s string
			s, err = readOptStr(d)
			m.Read = s == "read"
		case "success":
			m.Success, err = readOptBool(d)
		case "takeOver":
			m.TakeOver, err = readOptBool(d)
		case "reason":
			m.Reason, err = readOptStr(d)
		case "packets":
			if t, _ := d.Peek(); t == msgpack.NilType {
				err = d.Skip()
				break
			}
			var k int
			if k, err = d.ReadArrayHeader(); err != nil {
				break
			}
			m.Packets = make([]engineio.ClusterPacket, 0, k)
			for range k {
				var p engineio.ClusterPacket
				if p, err = decodePacket(d); err != nil {
					break
				}
				m.Packets = append(m.Packets, p)
			}
		case "packet":
			var p engineio.ClusterPacket
			p, err = decodePacket(d)
			if errors.Is(err, errErrorPacket) && m.Type == engineio.ClusterMsgPacket {
				// What Node's parser makes of a packet it cannot decode:
				// the session closes, as cluster-engine's owner does.
				m.Type, m.Reason, err = engineio.ClusterMsgClose, engineio.ReasonParseError, nil
			} else if err == nil {
				m.Packets = []engineio.ClusterPacket{p}
			}
		default:
			err = d.Skip()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}

// decodePacket reads an engine.io-parser packet object: {type, data?,
// options?}; data is a string or binary (a Buffer or Uint8Array).
func decodePacket(d *msgpack.Decoder) (engineio.ClusterPacket, error) {
	var p engineio.ClusterPacket
	n, err := d.ReadMapHeader()
	if err != nil {
		return p, err
	}
	known, isError := false, false
	for range n {
		key, err := d.ReadStrBytes()
		if err != nil {
			return p, err
		}
		switch string(key) {
		case "type":
			var name []byte
			if name, err = d.ReadStrBytes(); err != nil {
				return p, err
			}
			for i, tn := range packetTypeNames {
				if tn == string(name) {
					p.Type, known = parser.Type(i), true
				}
			}
			isError = string(name) == "error"
		case "data":
			switch t, _ := d.Peek(); t {
			case msgpack.StrType:
				p.Data, err = d.ReadStrBytes()
			case msgpack.BinType:
				p.Data, err = d.ReadBin()
				p.Binary = true
			default:
				err = d.Skip() // undefined, or what engine.io would not send
			}
		case "options":
			if t, _ := d.Peek(); t != msgpack.MapType {
				err = d.Skip()
				break
			}
			var k int
			if k, err = d.ReadMapHeader(); err != nil {
				return p, err
			}
			for range k {
				var ok []byte
				if ok, err = d.ReadStrBytes(); err != nil {
					return p, err
				}
				if string(ok) == "compress" {
					var c bool
					c, err = readOptBool(d)
					p.NoCompress = !c
				} else {
					err = d.Skip()
				}
				if err != nil {
					return p, err
				}
			}
		default:
			err = d.Skip()
		}
		if err != nil {
			return p, err
		}
	}
	switch {
	case isError:
		return p, errErrorPacket
	case !known:
		return p, errors.New("a packet of unknown type")
	}
	return p, nil
}

// errErrorPacket reports an engine.io-parser "error" packet.
var errErrorPacket = errors.New("an error packet")

// readNumber reads an integer, or a float with an integral value (as a
// JavaScript number may be written).
func readNumber(d *msgpack.Decoder) (int64, error) {
	switch t, _ := d.Peek(); t {
	case msgpack.FloatType:
		f, err := d.ReadFloat()
		return int64(f), err
	case msgpack.NilType:
		return 0, d.Skip()
	}
	return d.ReadInt()
}

// readOptStr reads a string, or nil (undefined) as "".
func readOptStr(d *msgpack.Decoder) (string, error) {
	if t, _ := d.Peek(); t == msgpack.NilType {
		return "", d.Skip()
	}
	return d.ReadStr()
}

// readOptBool reads a boolean, or nil as false.
func readOptBool(d *msgpack.Decoder) (bool, error) {
	if t, _ := d.Peek(); t == msgpack.NilType {
		return false, d.Skip()
	}
	return d.ReadBool()
}
