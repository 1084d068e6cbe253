package demo

import (
	"cmp"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tether-rt/tether/socketio"
)

// botNames are the names of the leaderboard's bots (Options.Bots of them).
var botNames = []string{
	"bot Ada", "bot Grace", "bot Linus", "bot Ken", "bot Barbara", "bot Dennis",
	"bot Margaret", "bot Alan", "bot Frances", "bot Edsger", "bot Radia", "bot Rob",
}

// maxNameLen is the longest player or chat name, in runes.
const maxNameLen = 24

// cleanName trims name and checks it: 1 to maxNameLen printable runes.
func cleanName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", errors.New("a name is required")
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxNameLen {
		return "", errors.New("names have at most 24 characters")
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return "", errors.New("names may only have printable characters")
		}
	}
	return name, nil
}

// player is one entry of the leaderboard.
type player struct {
	Rank  int    `json:"rank"`
	Name  string `json:"name"`
	Score int64  `json:"score"`
	Bot   bool   `json:"bot,omitempty"`
}

// ranking is the state every viewer of the leaderboard gets ("ranking"
// event).
type ranking struct {
	Seq     int64    `json:"seq"`     // increases with every ranking sent
	Time    int64    `json:"t"`       // server time, Unix milliseconds
	Top     []player `json:"top"`     // the best Options.LeaderboardSize players
	Players int      `json:"players"` // players in all, bots included
	Viewers int64    `json:"viewers"` // sockets connected to this server's namespace
	Points  int64    `json:"points"`  // points scored since the start, by everyone
	Bots    bool     `json:"bots"`    // whether the bot mode is on
	BotRate int      `json:"botRate"` // points per second of the bots together
}

// leaderboard is the server side of the leaderboard demo.
type leaderboard struct {
	ns      *socketio.Namespace
	opts    Options
	update  *coalescer
	viewers atomic.Int64

	mu       sync.Mutex
	players  map[string]*player // by lower-case name
	points   int64
	seq      int64
	botsOn   bool
	botsStop chan struct{} // closed to stop the bots' goroutine; nil when off
	botsDone chan struct{} // closed when the bots' goroutine has ended
	stopped  bool
}

func newLeaderboard(ns *socketio.Namespace, opts Options) *leaderboard {
	l := &leaderboard{ns: ns, opts: opts, players: map[string]*player{}}
	for _, name := range botNames[:opts.Bots] {
		l.players[strings.ToLower(name)] = &player{Name: name, Bot: true}
	}
	l.update = newCoalescer(opts.LeaderboardInterval, l.broadcast)
	if opts.BotsOn {
		l.setBots(true)
	}
	ns.OnConnection(l.onConnection)
	return l
}

func (l *leaderboard) stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	l.setBots(false)
	l.update.stop()
}

func (l *leaderboard) broadcast() {
	_ = l.ns.Emit("ranking", l.snapshot())
}

// snapshot returns the current ranking and counts it as sent.
func (l *leaderboard) snapshot() ranking {
	l.mu.Lock()
	defer l.mu.Unlock()
	all := make([]player, 0, len(l.players))
	for _, p := range l.players {
		all = append(all, *p)
	}
	slices.SortFunc(all, func(a, b player) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	top := all[:min(len(all), l.opts.LeaderboardSize)]
	for i := range top {
		top[i].Rank = i + 1
		if i > 0 && top[i].Score == top[i-1].Score {
			top[i].Rank = top[i-1].Rank
		}
	}
	l.seq++
	return ranking{
		Seq:     l.seq,
		Time:    time.Now().UnixMilli(),
		Top:     top,
		Players: len(l.players),
		Viewers: l.viewers.Load(),
		Points:  l.points,
		Bots:    l.botsOn,
		BotRate: l.opts.BotRate,
	}
}

// rankLocked returns the rank of p: 1 + the number of players with more
// points.
func (l *leaderboard) rankLocked(p *player) int {
	rank := 1
	for _, o := range l.players {
		if o.Score > p.Score {
			rank++
		}
	}
	return rank
}

// join registers a player, or finds the one of the same name.
func (l *leaderboard) join(name string) (player, error) {
	name, err := cleanName(name)
	if err != nil {
		return player{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	key := strings.ToLower(name)
	p := l.players[key]
	switch {
	case p != nil && p.Bot:
		return player{}, errors.New("that name belongs to a bot")
	case p == nil && len(l.players) >= l.opts.MaxPlayers+l.opts.Bots:
		return player{}, errors.New("the leaderboard is full")
	case p == nil:
		p = &player{Name: name}
		l.players[key] = p
	}
	r := *p
	r.Rank = l.rankLocked(p)
	return r, nil
}

// score gives a point to the player name.
func (l *leaderboard) score(name string) (player, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.players[strings.ToLower(name)]
	if p == nil || p.Bot {
		return player{}, errors.New("join first")
	}
	p.Score++
	l.points++
	r := *p
	r.Rank = l.rankLocked(p)
	return r, nil
}

// setBots turns the bot mode on or off.
func (l *leaderboard) setBots(on bool) {
	l.mu.Lock()
	if l.stopped {
		on = false
	}
	if on == l.botsOn {
		l.mu.Unlock()
		return
	}
	l.botsOn = on
	var done chan struct{}
	if on {
		l.botsStop, l.botsDone = make(chan struct{}), make(chan struct{})
		go l.runBots(l.botsStop, l.botsDone)
	} else {
		close(l.botsStop)
		done = l.botsDone
		l.botsStop, l.botsDone = nil, nil
	}
	l.mu.Unlock()
	if done != nil {
		<-done
	}
	l.update.kick()
}

// runBots has the bots score Options.BotRate points per second in all, in
// batches every 10 ms at most, each point to a bot picked at random.
func (l *leaderboard) runBots(stop, done chan struct{}) {
	defer close(done)
	period := max(time.Second/time.Duration(l.opts.BotRate), 10*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	bots := make([]*player, 0, l.opts.Bots)
	l.mu.Lock()
	for _, name := range botNames[:l.opts.Bots] {
		bots = append(bots, l.players[strings.ToLower(name)])
	}
	l.mu.Unlock()
	last := time.Now()
	owed := 0.0
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			owed += now.Sub(last).Seconds() * float64(l.opts.BotRate)
			last = now
			n := int64(owed)
			if n == 0 {
				continue
			}
			owed -= float64(n)
			l.mu.Lock()
			for range n {
				bots[rand.IntN(len(bots))].Score++
			}
			l.points += n
			l.mu.Unlock()
			l.update.kick()
		}
	}
}

func (l *leaderboard) onConnection(s *socketio.Socket) {
	l.viewers.Add(1)
	s.OnDisconnect(func(*socketio.Socket, string) {
		l.viewers.Add(-1)
		l.update.kick()
	})
	_ = s.Emit("ranking", l.snapshot())
	l.update.kick() // the viewer count changed

	// join {name} -> {ok, player} or {ok: false, error}; the name is kept
	// in the socket's data (and across a recovered reconnection).
	s.On("join", func(s *socketio.Socket, args []json.RawMessage, ack socketio.AckFunc) {
		req, err := socketio.Decode[struct {
			Name string `json:"name"`
		}](args, 0)
		var p player
		if err == nil {
			p, err = l.join(req.Name)
		}
		if err != nil {
			reply(ack, err, nil)
			return
		}
		s.Data().Set("name", p.Name)
		reply(ack, nil, map[string]any{"player": p})
		l.update.kick()
	})
	// score -> {ok, player}: one point for the socket's player.
	s.On("score", func(s *socketio.Socket, _ []json.RawMessage, ack socketio.AckFunc) {
		name, _ := s.Data().Get("name")
		n, _ := name.(string)
		p, err := l.score(n)
		if err != nil {
			reply(ack, err, nil)
			return
		}
		reply(ack, nil, map[string]any{"player": p})
		l.update.kick()
	})
	// bots {on} -> {ok, on}: toggles the bot mode for everyone.
	s.On("bots", func(s *socketio.Socket, args []json.RawMessage, ack socketio.AckFunc) {
		req, err := socketio.Decode[struct {
			On bool `json:"on"`
		}](args, 0)
		if err != nil {
			reply(ack, err, nil)
			return
		}
		l.setBots(req.On)
		l.mu.Lock()
		on := l.botsOn
		l.mu.Unlock()
		reply(ack, nil, map[string]any{"on": on})
	})
}

// reply acknowledges an event, if the client asked for it, with
// {ok: true, ...fields} or {ok: false, error}.
func reply(ack socketio.AckFunc, err error, fields map[string]any) {
	if ack == nil {
		return
	}
	if err != nil {
		_ = ack(map[string]any{"ok": false, "error": err.Error()})
		return
	}
	if fields == nil {
		fields = map[string]any{}
	}
	fields["ok"] = true
	_ = ack(fields)
}
