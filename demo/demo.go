package demo

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/tether-rt/tether/socketio"
)

// Namespaces of the demos.
const (
	LeaderboardNamespace = "/leaderboard"
	ChatNamespace        = "/chat"
	TickerNamespace      = "/ticker"
)

// Options configures the demos. The zero value gives the defaults; a zero
// or negative number means its default.
type Options struct {
	// TickerRate is how many ticks per second the ticker sends; 0 means
	// 10. It is capped at 1000.
	TickerRate int

	// LeaderboardInterval is the shortest time between two ranking
	// broadcasts (changes in between are coalesced); 0 means 50 ms.
	LeaderboardInterval time.Duration
	// LeaderboardSize is how many players the ranking lists; 0 means 10.
	LeaderboardSize int
	// MaxPlayers bounds the players the leaderboard keeps; 0 means 1000.
	MaxPlayers int
	// Bots is the number of bot players; 0 means 5.
	Bots int
	// BotRate is how many points per second the bots score together while
	// the bot mode is on; 0 means 20. It is capped at 10000.
	BotRate int
	// BotsOn starts with the bot mode on (pages can toggle it).
	BotsOn bool

	// ChatRooms are the chat's rooms at start; nil means "general",
	// "random" and "golang".
	ChatRooms []string
	// ChatMaxRooms bounds the rooms clients may create, in all; 0 means 20.
	ChatMaxRooms int
	// ChatHistory is how many messages the chat keeps per room, for
	// clients that join (again); 0 means 50.
	ChatHistory int
}

func (o Options) withDefaults() Options {
	if o.TickerRate <= 0 {
		o.TickerRate = 10
	}
	o.TickerRate = min(o.TickerRate, 1000)
	if o.LeaderboardInterval <= 0 {
		o.LeaderboardInterval = 50 * time.Millisecond
	}
	if o.LeaderboardSize <= 0 {
		o.LeaderboardSize = 10
	}
	if o.MaxPlayers <= 0 {
		o.MaxPlayers = 1000
	}
	if o.Bots <= 0 {
		o.Bots = 5
	}
	o.Bots = min(o.Bots, len(botNames))
	if o.BotRate <= 0 {
		o.BotRate = 20
	}
	o.BotRate = min(o.BotRate, 10000)
	if o.ChatRooms == nil {
		o.ChatRooms = []string{"general", "random", "golang"}
	}
	if o.ChatMaxRooms <= 0 {
		o.ChatMaxRooms = 20
	}
	o.ChatMaxRooms = max(o.ChatMaxRooms, len(o.ChatRooms))
	if o.ChatHistory <= 0 {
		o.ChatHistory = 50
	}
	return o
}

// Register registers the server side of the demos on io's namespaces
// [LeaderboardNamespace], [ChatNamespace] and [TickerNamespace], and starts
// their background goroutines (the ticker's feed, the bots, the coalesced
// broadcasts). stop ends them; it may be called more than once. The event
// handlers stay registered: after stop, the demos still answer but the feed
// and the bots stand still.
//
// The chat recovers missed messages through connection state recovery,
// which must be enabled on io (socketio.Options.ConnectionStateRecovery);
// without it, a client that reconnects gets the last messages of its rooms
// only.
func Register(io *socketio.Server, opts Options) (stop func()) {
	opts = opts.withDefaults()
	lb := newLeaderboard(io.Of(LeaderboardNamespace), opts)
	ch := newChat(io.Of(ChatNamespace), opts)
	tk := newTicker(io.Of(TickerNamespace), opts)
	var once sync.Once
	return func() {
		once.Do(func() {
			tk.stop()
			ch.stop()
			lb.stop()
		})
	}
}

//go:embed assets
var assets embed.FS

// clientFiles are the files of the socket.io-client browser build the pages
// load, under vendor/.
var clientFiles = map[string]bool{
	"vendor/socket.io.min.js":     true,
	"vendor/socket.io.min.js.map": true,
}

// Assets returns the static files of the demo pages, to serve at "/": the
// index page, leaderboard.html, chat.html, ticker.html, their scripts and
// styles, config.js (the pages connect at its path, "/socket.io/"; see
// [AssetsWithPath] for another), and vendor/socket.io.min.js when scripts/build-web.sh has copied
// it before the build. When the embedded copy is missing, the client files
// are read from demo/web/node_modules/socket.io-client/dist of the source
// tree (or of the working directory), if npm has installed them there.
func Assets() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // "assets" is a valid path
	}
	var dirs []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dirs = append(dirs, filepath.Join(filepath.Dir(file), "web", "node_modules", "socket.io-client", "dist"))
	}
	dirs = append(dirs, filepath.Join("demo", "web", "node_modules", "socket.io-client", "dist"))
	return &assetFS{embedded: sub, clientDirs: dirs}
}

// AssetsWithPath returns [Assets] for a server whose Socket.IO endpoint is
// at path (such as "/socket.io/", the default, or "/realtime/"): the pages
// read it from config.js, which Assets has with the default.
func AssetsWithPath(path string) fs.FS {
	a := Assets().(*assetFS)
	cfg, err := json.Marshal(map[string]string{"path": path})
	if err != nil {
		panic(err) // a map of strings always encodes
	}
	a.config = fmt.Appendf(nil, "// config.js: the server settings the pages need, from tether serve.\n'use strict';\nvar DemoConfig = %s;\n", cfg)
	a.modTime = time.Now()
	return a
}

// assetFS is the embedded assets, with the client files read from
// node_modules when they were not embedded, and config.js replaced when
// config is set.
type assetFS struct {
	embedded   fs.FS
	clientDirs []string
	config     []byte
	modTime    time.Time
}

// configFile is the file of the pages' settings.
const configFile = "config.js"

// Open implements fs.FS.
func (a *assetFS) Open(name string) (fs.File, error) {
	if name == configFile && a.config != nil {
		return &memFile{Reader: bytes.NewReader(a.config), name: name, size: int64(len(a.config)), modTime: a.modTime}, nil
	}
	f, err := a.embedded.Open(name)
	if err == nil || !clientFiles[name] || !errors.Is(err, fs.ErrNotExist) {
		return f, err
	}
	for _, dir := range a.clientDirs {
		if f, ferr := os.Open(filepath.Join(dir, path.Base(name))); ferr == nil {
			return f, nil
		}
	}
	return nil, err
}

// memFile is a file held in memory.
type memFile struct {
	*bytes.Reader
	name    string
	size    int64
	modTime time.Time
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f, nil }
func (f *memFile) Close() error               { return nil }

// The fs.FileInfo methods.

func (f *memFile) Name() string       { return f.name }
func (f *memFile) Size() int64        { return f.size }
func (f *memFile) Mode() fs.FileMode  { return 0o444 }
func (f *memFile) ModTime() time.Time { return f.modTime }
func (f *memFile) IsDir() bool        { return false }
func (f *memFile) Sys() any           { return nil }
