package socketio

import (
	"slices"
	"sync"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/socketio/parser"
)

// Broadcasts delivered together (a group): each receiver gets the packets
// of a group that are for it in one send, which stays one direct write in
// engineio (up to 16 packets of one Send, 16 KiB): at most maxGroup
// broadcasts of at most maxGroupBytes together (their event arrays; a
// larger broadcast goes alone).
const (
	maxGroup      = 16
	maxGroupBytes = 12 << 10
)

// groupable reports whether a broadcast may be delivered together with
// others: an EVENT without acknowledgement, without attachments, not
// volatile (a volatile packet is dropped or sent on its own, depending on
// the connection's state when it is handed over).
func groupable(p *parser.Packet, opts *BroadcastOptions) bool {
	return p.Type == parser.Event && !p.HasID && len(p.Attachments) == 0 && !opts.Flags.Volatile
}

// sameSelection reports whether two broadcasts' packets may go out in one
// send to their receivers: they select from the same rooms with the same
// flags (volatile, compress). Their excepted rooms may differ: each
// receiver gets only the packets whose except it is not in.
func sameSelection(x, y *BroadcastOptions) bool {
	return slices.Equal(x.Rooms, y.Rooms) && x.Flags.Volatile == y.Flags.Volatile &&
		x.Flags.noCompress() == y.Flags.noCompress()
}

// combiner queues the broadcasts made on this server while another one is
// being delivered, so that they go out together (flat combining): the
// caller at the head of the queue takes the broadcasts that may go with
// its own (groupCut), delivers them in one step and, if more are queued,
// hands the head's role to the next caller. Every caller returns once its
// broadcast has been handed to its receivers, so a caller's next broadcast
// never overtakes it; the queue is the order of delivery and of the
// recovery log.
type combiner struct {
	mu    sync.Mutex
	busy  bool        // a caller is delivering; the others wait for their turn
	queue []*combined // waiting, oldest first
	group []*combined // the group being delivered; owned by the busy caller
	ps    []*parser.Packet
	opts  []*BroadcastOptions
}

// combined is a broadcast waiting in the combiner's queue.
type combined struct {
	p    *parser.Packet
	opts *BroadcastOptions
	// turn gets false once another caller delivered the broadcast, true
	// when this caller is the head of the queue and delivers.
	turn chan bool
}

var combinedPool = sync.Pool{New: func() any { return &combined{turn: make(chan bool, 1)} }}

// combine delivers p as Broadcast does, together with the broadcasts that
// other callers make meanwhile.
func (a *InMemoryAdapter) combine(p *parser.Packet, opts *BroadcastOptions) {
	c := &a.comb
	r := combinedPool.Get().(*combined)
	r.p, r.opts = p, opts
	c.mu.Lock()
	c.queue = append(c.queue, r)
	if c.busy {
		c.mu.Unlock()
		if !<-r.turn {
			r.p, r.opts = nil, nil
			combinedPool.Put(r)
			return
		}
		c.mu.Lock() // r is the head of the queue now
	} else {
		c.busy = true // the queue was empty: r is its head
	}
	q := c.queue
	n := groupCut(len(q), func(i int) (*parser.Packet, *BroadcastOptions) { return q[i].p, q[i].opts })
	group := append(c.group[:0], c.queue[:n]...)
	k := copy(c.queue, c.queue[n:])
	clear(c.queue[k:])
	c.queue = c.queue[:k]
	c.mu.Unlock()

	ps, optss := c.ps[:0], c.opts[:0]
	for _, g := range group {
		ps, optss = append(ps, g.p), append(optss, g.opts)
	}
	a.deliverGroup(ps, optss)
	clear(ps)
	clear(optss)
	c.ps, c.opts = ps[:0], optss[:0]
	for _, g := range group[1:] {
		g.turn <- false
	}
	clear(group)
	c.group = group[:0]

	c.mu.Lock()
	if len(c.queue) > 0 {
		next := c.queue[0]
		c.mu.Unlock()
		next.turn <- true
	} else {
		c.busy = false
		c.mu.Unlock()
	}
	r.p, r.opts = nil, nil
	combinedPool.Put(r)
}

// BroadcastEach delivers ps[i] with opts[i], for each i, as Broadcast
// would one after the other (the same offsets, the same log, the same
// order at every socket), except that consecutive broadcasts that select
// from the same rooms with the same flags (their excepted rooms may differ) go out together, up to 16 of them and 12 KiB:
// each receiver gets those of them that are for it in one send, one write
// on a WebSocket instead of one per packet. Volatile broadcasts, packets
// with an acknowledgement id and packets with attachments go one at a
// time, through Broadcast's own path. A cluster adapter calls it with the
// broadcasts that arrived together from other servers.
func (a *InMemoryAdapter) BroadcastEach(ps []*parser.Packet, opts []*BroadcastOptions) {
	for len(ps) > 0 {
		n := sliceCut(ps, opts)
		a.deliverGroup(ps[:n], opts[:n])
		ps, opts = ps[n:], opts[n:]
	}
}

// groupCut returns how many of the n broadcasts at(0), at(1)…, from the
// first, go together: 1 when the first is not groupable, else the
// groupable broadcasts that select as the first does, up to maxGroup and
// maxGroupBytes. (The combiner's queue holds groupable broadcasts only.)
func groupCut(n int, at func(i int) (*parser.Packet, *BroadcastOptions)) int {
	p0, o0 := at(0)
	if !groupable(p0, o0) {
		return 1
	}
	bytes := len(p0.Data)
	k := 1
	for ; k < n && k < maxGroup; k++ {
		p, o := at(k)
		if !groupable(p, o) || !sameSelection(o0, o) {
			break
		}
		if bytes += len(p.Data); bytes > maxGroupBytes {
			break
		}
	}
	return k
}

// sliceCut is groupCut over parallel slices.
func sliceCut(ps []*parser.Packet, opts []*BroadcastOptions) int {
	return groupCut(len(ps), func(i int) (*parser.Packet, *BroadcastOptions) { return ps[i], opts[i] })
}

// deliverGroup delivers ps[i] with opts[i], groupable broadcasts that
// select alike (sameSelection), at most maxGroup of them: logged with
// their offsets in order as Broadcast would, then each receiver of any of
// them gets those whose except it is not in, in one send.
func (a *InMemoryAdapter) deliverGroup(ps []*parser.Packet, opts []*BroadcastOptions) {
	if len(ps) == 1 {
		a.broadcastOne(ps[0], opts[0])
		return
	}
	noCompress := opts[0].Flags.noCompress()
	var d drops
	l := a.local
	l.order.Lock()
	a.mu.Lock()
	l.mu.Lock()
	pkts := l.many[:0]
	for i, p := range ps {
		p.Namespace = a.name
		if a.recovery && !a.closed && a.recoverableLocked(opts[i]) {
			pkts = append(pkts, a.logLocked(p, opts[i], &d).pkts...)
			continue
		}
		pkts = append(pkts, newOutPacket(p, noCompress).pkts...)
	}
	rs := l.groupReceiversLocked(opts)
	l.mu.Unlock()
	a.mu.Unlock()
	rs.deliverGroup(pkts)
	clear(pkts)
	l.many = pkts[:0]
	l.order.Unlock()
	a.report(d)
}

// groupReceiversLocked lists, in l.rcv, the sockets of opts[0]'s rooms
// (every group member selects from them) and, in rs.excl, the sockets that
// some of the group except: bit i set when opts[i] excepts the socket. The
// caller holds mu and order.
func (l *LocalSockets) groupReceiversLocked(opts []*BroadcastOptions) *receivers {
	rs := &l.rcv
	l.applyLocked(&BroadcastOptions{Rooms: opts[0].Rooms}, func(s *Socket) { rs.socks = append(rs.socks, s) })
	for i, o := range opts {
		for _, r := range o.Except {
			set := l.rooms[r]
			if set.one == nil && len(set.many) == 0 {
				continue
			}
			if rs.excl == nil {
				rs.excl = map[*Socket]uint32{}
			}
			if set.one != nil {
				rs.excl[set.one] |= 1 << i
			}
			for _, s := range set.many {
				rs.excl[s] |= 1 << i
			}
		}
	}
	rs.all = uint32(1)<<len(opts) - 1
	return rs
}

// deliverGroup hands each socket of the list the packets of pkts (one per
// broadcast of a group) that are for it, in one send, and empties the
// list. The caller holds order, not mu.
func (rs *receivers) deliverGroup(pkts []engineio.Packet) {
	rs.sort()
	g := &rs.group
	for _, s := range rs.socks {
		if g.Full() {
			g.Flush()
		}
		var ex uint32
		if len(rs.excl) > 0 {
			ex = rs.excl[s]
		}
		switch {
		case ex == 0:
			s.deliverPackets(g, pkts, false)
		case ex&rs.all == rs.all:
		default:
			sub := rs.sub[:0]
			for i, p := range pkts {
				if ex&(1<<i) == 0 {
					sub = append(sub, p)
				}
			}
			s.deliverPackets(g, sub, false)
			clear(sub)
			rs.sub = sub[:0]
		}
	}
	g.Flush()
	if len(rs.excl) > 1<<12 {
		rs.excl = nil // a map does not shrink
	} else {
		clear(rs.excl)
	}
	rs.reset()
}

// DeliverEach delivers ps[i] with opts[i] and offsets[i], for each i, as
// Deliver would one after the other, except that consecutive broadcasts
// go out together as with [InMemoryAdapter.BroadcastEach]: each receiver
// gets those of a group meant for it in one send. A cluster adapter whose
// broadcasts carry the offsets of a shared log (Redis Streams) calls it
// with the broadcasts that arrived together.
func (l *LocalSockets) DeliverEach(ps []*parser.Packet, opts []*BroadcastOptions, offsets []string) {
	for len(ps) > 0 {
		n := sliceCut(ps, opts)
		if n == 1 {
			l.Deliver(ps[0], opts[0], offsets[0])
		} else {
			l.deliverGroup(ps[:n], opts[:n], offsets[:n])
		}
		ps, opts, offsets = ps[n:], opts[n:], offsets[n:]
	}
}

// deliverGroup delivers a group (see DeliverEach), without logging it.
func (l *LocalSockets) deliverGroup(ps []*parser.Packet, opts []*BroadcastOptions, offsets []string) {
	noCompress := opts[0].Flags.noCompress()
	l.order.Lock()
	pkts := l.many[:0]
	for i, p := range ps {
		p.Namespace = l.nsp.name
		if offsets[i] != "" {
			p.Data = parser.AppendOffset(p.Data, offsets[i])
		}
		pkts = append(pkts, newOutPacket(p, noCompress).pkts...)
	}
	l.mu.Lock()
	rs := l.groupReceiversLocked(opts)
	l.mu.Unlock()
	rs.deliverGroup(pkts)
	clear(pkts)
	l.many = pkts[:0]
	l.order.Unlock()
}
