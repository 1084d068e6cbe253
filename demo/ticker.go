package demo

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-rt/tether/socketio"
)

// symbol is one instrument of the ticker.
type symbol struct {
	Symbol string  `json:"s"`
	Name   string  `json:"name"`
	Open   float64 `json:"open"` // price at the start
	price  float64
	vol    float64 // standard deviation of a tick's log return, per √second
}

// symbols are the ticker's instruments (made up).
var symbols = []symbol{
	{Symbol: "TTHR", Name: "Tether Realtime", Open: 128.40, vol: 0.004},
	{Symbol: "GOPH", Name: "Gopher Industries", Open: 64.12, vol: 0.006},
	{Symbol: "SOCK", Name: "Socket Systems", Open: 12.85, vol: 0.010},
	{Symbol: "POLL", Name: "Long Polling Ltd", Open: 3.07, vol: 0.015},
	{Symbol: "DFLT", Name: "Deflate Capital", Open: 742.00, vol: 0.003},
	{Symbol: "FRAM", Name: "Frame & Mask", Open: 41.63, vol: 0.007},
}

// tick is one update of the ticker ("tick" event).
type tick struct {
	Seq    uint64    `json:"seq"`
	Time   float64   `json:"t"` // server send time, Unix milliseconds (µs precision)
	Prices []float64 `json:"p"` // in the order of the symbols of the "init" event
}

// ticker is the server side of the ticker demo: a random walk of each
// symbol, broadcast as volatile "tick" events at Options.TickerRate per
// second while there is a viewer.
type ticker struct {
	ns      *socketio.Namespace
	rate    int
	viewers atomic.Int64
	done    chan struct{}
	wg      sync.WaitGroup

	mu   sync.Mutex
	syms []symbol
	seq  uint64
}

func newTicker(ns *socketio.Namespace, opts Options) *ticker {
	t := &ticker{ns: ns, rate: opts.TickerRate, done: make(chan struct{}), syms: make([]symbol, len(symbols))}
	copy(t.syms, symbols)
	for i := range t.syms {
		t.syms[i].price = t.syms[i].Open
	}
	ns.OnConnection(t.onConnection)
	t.wg.Add(1)
	go t.run()
	return t
}

func (t *ticker) stop() {
	close(t.done)
	t.wg.Wait()
}

// nowMillis returns the time as Unix milliseconds with microseconds.
func nowMillis() float64 {
	return float64(time.Now().UnixMicro()) / 1000
}

func (t *ticker) run() {
	defer t.wg.Done()
	tk := time.NewTicker(time.Second / time.Duration(t.rate))
	defer tk.Stop()
	for {
		select {
		case <-t.done:
			return
		case <-tk.C:
		}
		if t.viewers.Load() == 0 {
			continue
		}
		_ = t.ns.Volatile().Emit("tick", t.next())
	}
}

// next moves every price one step and returns the tick.
func (t *ticker) next() tick {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	step := math.Sqrt(1 / float64(t.rate))
	prices := make([]float64, len(t.syms))
	for i := range t.syms {
		s := &t.syms[i]
		// A geometric random walk, pulled back gently toward the opening
		// price so that it wanders but never runs away.
		drift := 0.02 * math.Log(s.Open/s.price) * step * step
		s.price *= math.Exp(drift + s.vol*step*rand.NormFloat64())
		prices[i] = math.Round(s.price*100) / 100
	}
	return tick{Seq: t.seq, Time: nowMillis(), Prices: prices}
}

// info returns the symbols and the last tick's sequence number.
func (t *ticker) info() map[string]any {
	t.mu.Lock()
	defer t.mu.Unlock()
	prices := make([]float64, len(t.syms))
	for i, s := range t.syms {
		prices[i] = math.Round(s.price*100) / 100
	}
	return map[string]any{"symbols": t.syms, "prices": prices, "seq": t.seq, "rate": t.rate}
}

func (t *ticker) onConnection(s *socketio.Socket) {
	t.viewers.Add(1)
	s.OnDisconnect(func(*socketio.Socket, string) { t.viewers.Add(-1) })
	// init: the symbols, their last prices and the rate.
	_ = s.Emit("init", t.info())
	// ping [client time] -> server time (Unix ms), for the page's estimate
	// of the clock offset.
	s.On("ping", func(s *socketio.Socket, _ []json.RawMessage, ack socketio.AckFunc) {
		if ack != nil {
			_ = ack(nowMillis())
		}
	})
}
