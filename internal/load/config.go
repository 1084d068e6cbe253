package load

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// The modes of a run.
const (
	ModePublish = "publish" // clients publish to their room; the others receive
	ModeAck     = "ack"     // clients emit an event and wait for its acknowledgement
	ModeReceive = "receive" // clients only receive (the server or a backend publishes)
)

// Config is a load run's scenario.
type Config struct {
	URL            string   // as -url gives it: one URL, or several separated by commas
	URLs           []string // the URLs of -url (Validate fills it in)
	Clients        int
	Ramp           float64 // connections per second; 0: all at once
	Transports     []TransportShare
	Namespace      string
	Tokens         []string // auth tokens, taken in turn by the clients; none: no auth
	Rooms          int      // clients spread over this many rooms; 0: none
	PublishRate    float64  // messages per second, all clients together
	PublishMax     bool     // -publish-rate max: as fast as the server keeps up, Window messages in flight per worker
	Window         int      // messages in flight per worker with PublishMax
	Size           int      // bytes of a message's data
	Event          string   // the event clients emit instead of publish (publish, ack modes) or listen to
	Mode           string
	Duration       time.Duration
	Warmup         time.Duration
	PID            int    // a local server's process id, for its CPU and memory (the first of PIDs)
	PIDs           []int  // local servers' process ids (-pid a,b,c): their CPU and memory summed
	Procs          int    // worker processes
	Out            string // text, json or markdown
	Label          string // the run's name in the Markdown row
	ConnectTimeout time.Duration
	Drain          time.Duration
	Sources        int // source addresses on loopback (127.0.0.2…)

	// Set in a worker process.
	worker int
	// Args are the command-line arguments, given again to the workers.
	Args []string
}

// TransportShare is a share of the clients (in percent) on a transport
// setting: "websocket", "polling", or "polling,websocket" (polling first,
// then the upgrade).
type TransportShare struct {
	Transports []string
	Percent    float64
}

// Name returns the setting as the flag spells it.
func (t TransportShare) Name() string { return strings.Join(t.Transports, ",") }

// FlagSet returns the flags of tether load, bound to c.
func (c *Config) FlagSet(output io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "`URL` of the Socket.IO server (http, https, ws, wss; the path is not used: see -namespace), or the URLs of a cluster's servers separated by commas: client i connects to the (i mod n)th, and a message is expected by every other member of its room in the cluster (not by the publish acknowledgement's receivers, which count one server's)")
	fs.IntVar(&c.Clients, "clients", 100, "number of clients")
	fs.Float64Var(&c.Ramp, "ramp", 500, "new connections per `second`, all processes together (0: all at once)")
	fs.Func("transports", "`setting` of every client: websocket, polling, polling,websocket (polling, then the upgrade), or a mix in percent such as websocket=80,polling=20 (default websocket)", func(s string) error {
		ts, err := parseTransports(s)
		c.Transports = ts
		return err
	})
	fs.StringVar(&c.Namespace, "namespace", "/", "namespace to connect to")
	fs.Func("auth", "a `token` sent as auth {token}, or a file of tokens (one per line, @file or a path), which the clients take in turn", func(s string) error {
		ts, err := parseAuth(s)
		c.Tokens = ts
		return err
	})
	fs.IntVar(&c.Rooms, "rooms", 1, "spread the clients over this many rooms, joined with tether serve's subscribe event (0: none)")
	c.PublishRate = 10
	fs.Var(rateFlag{&c.PublishRate, &c.PublishMax}, "publish-rate", "messages per `second`, all clients together (publish and ack modes), or max: as fast as the server keeps up, each worker process keeping at most -window messages in flight")
	fs.IntVar(&c.Window, "window", 16, "with -publish-rate max, the `messages` each worker process keeps in flight: a message is complete when its acknowledgement came (publish event, ack mode) and every client of this worker expected to receive it has (-event: every other member of its room in this worker), and only then is another sent")
	fs.IntVar(&c.Size, "size", 100, "`bytes` of each message's data (JSON with the send time and padding)")
	fs.StringVar(&c.Event, "event", "", "`name` of the event to emit instead of publish (the server relays it to the room's other clients), of the event to acknowledge (-mode ack, default echo), or to receive (-mode receive: default any)")
	fs.StringVar(&c.Mode, "mode", ModePublish, "publish (clients publish, the others receive), ack (emit and wait for the acknowledgement), receive (only receive)")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measured time")
	fs.DurationVar(&c.Warmup, "warmup", 2*time.Second, "time of traffic before the measured time, not measured")
	fs.Var(pidFlag{&c.PID, &c.PIDs}, "pid", "`process id` of a local server: its CPU per delivered message and memory per connection are reported; several separated by commas (a cluster's servers): their CPU and memory summed")
	fs.IntVar(&c.Procs, "procs", 1, "worker processes, each with its share of the clients (each within its own file limit)")
	fs.StringVar(&c.Out, "out", "text", "report `format`: text, json or markdown")
	fs.StringVar(&c.Label, "label", "", "the run's name in the report (default: the URL)")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", 20*time.Second, "bound of one client's connection")
	fs.DurationVar(&c.Drain, "drain", 5*time.Second, "after the measured time, how long to wait for the messages still on their way")
	fs.IntVar(&c.Sources, "sources", 250, "source addresses the clients use on loopback, from 127.0.0.2 (the ephemeral ports of one address run out near 28,000 connections); 0: the system's choice")
	fs.IntVar(&c.worker, "worker", -1, "internal: the index of a worker process")
	return fs
}

// Validate checks the configuration and fills in defaults.
func (c *Config) Validate() error {
	var errs []error
	c.URLs = nil
	for _, raw := range strings.Split(c.URL, ",") {
		raw = strings.TrimSpace(raw)
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			errs = append(errs, fmt.Errorf("-url %q is not a URL with a host", raw))
			continue
		}
		switch u.Scheme {
		case "http", "https", "ws", "wss":
		default:
			errs = append(errs, fmt.Errorf("-url %q: the scheme must be http, https, ws or wss", raw))
		}
		c.URLs = append(c.URLs, raw)
	}
	if c.PublishMax {
		if c.Mode == ModeReceive {
			errs = append(errs, errors.New("-publish-rate max: the clients do not publish in -mode receive"))
		}
		if c.Window < 1 {
			errs = append(errs, errors.New("-window must be at least 1"))
		}
		// With -event there is no acknowledgement: a message is complete
		// when the other members of its room in the worker have it, so
		// each room needs two members in every worker, or nothing would
		// bound the rate.
		if c.Mode == ModePublish && c.Event != "" && c.Procs >= 1 && c.Clients >= c.Procs {
			per := c.Clients / c.Procs // the smallest worker's clients
			if c.Rooms > 0 {
				per /= c.Rooms
			}
			if per < 2 {
				errs = append(errs, fmt.Errorf("-publish-rate max with -event: each room needs at least 2 clients in each of the %d worker processes", c.Procs))
			}
		}
	}
	if c.Clients < 1 {
		errs = append(errs, errors.New("-clients must be at least 1"))
	}
	if c.Ramp < 0 || c.PublishRate < 0 || c.Size < 0 || c.Rooms < 0 || c.Sources < 0 {
		errs = append(errs, errors.New("-ramp, -publish-rate, -size, -rooms and -sources must not be negative"))
	}
	if c.Rooms > c.Clients {
		errs = append(errs, fmt.Errorf("-rooms %d is more than -clients %d", c.Rooms, c.Clients))
	}
	switch c.Mode {
	case ModePublish, ModeAck, ModeReceive:
	default:
		errs = append(errs, fmt.Errorf("-mode %q: publish, ack or receive", c.Mode))
	}
	if c.Duration <= 0 {
		errs = append(errs, errors.New("-duration must be positive"))
	}
	if c.Warmup < 0 || c.ConnectTimeout <= 0 || c.Drain < 0 {
		errs = append(errs, errors.New("-warmup and -drain must not be negative, -connect-timeout must be positive"))
	}
	if c.Procs < 1 || c.Procs > c.Clients {
		errs = append(errs, fmt.Errorf("-procs %d: between 1 and -clients", c.Procs))
	}
	switch c.Out {
	case "text", "json", "markdown", "md":
	default:
		errs = append(errs, fmt.Errorf("-out %q: text, json or markdown", c.Out))
	}
	if !strings.HasPrefix(c.Namespace, "/") {
		c.Namespace = "/" + c.Namespace
	}
	if len(c.Transports) == 0 {
		c.Transports = []TransportShare{{Transports: []string{"websocket"}, Percent: 100}}
	}
	if c.Label == "" {
		c.Label = c.URL
	}
	return errors.Join(errs...)
}

// rateFlag is -publish-rate: messages per second, or max.
type rateFlag struct {
	rate *float64
	max  *bool
}

// String returns the flag's value as given.
func (f rateFlag) String() string {
	switch {
	case f.rate == nil:
		return ""
	case *f.max:
		return "max"
	}
	return strconv.FormatFloat(*f.rate, 'g', -1, 64)
}

// Set parses a rate or max.
func (f rateFlag) Set(s string) error {
	if strings.TrimSpace(s) == "max" {
		*f.rate, *f.max = 0, true
		return nil
	}
	r, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("messages per second or max: %w", err)
	}
	*f.rate, *f.max = r, false
	return nil
}

// pidFlag is -pid: a process id, or several separated by commas.
type pidFlag struct {
	pid  *int
	pids *[]int
}

// String returns the process ids separated by commas.
func (f pidFlag) String() string {
	if f.pids == nil {
		return ""
	}
	s := make([]string, len(*f.pids))
	for i, p := range *f.pids {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
}

// Set parses the process ids; 0 alone means none.
func (f pidFlag) Set(s string) error {
	var pids []int
	for _, part := range strings.Split(s, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || p < 0 {
			return fmt.Errorf("%q is not a process id", part)
		}
		if p > 0 {
			pids = append(pids, p)
		}
	}
	*f.pids = pids
	*f.pid = 0
	if len(pids) > 0 {
		*f.pid = pids[0]
	}
	return nil
}

// parseTransports parses -transports.
func parseTransports(s string) ([]TransportShare, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "=") {
		ts, err := transportList(s)
		if err != nil {
			return nil, err
		}
		return []TransportShare{{Transports: ts, Percent: 100}}, nil
	}
	var out []TransportShare
	total := 0.0
	for _, part := range strings.Split(s, ",") {
		name, pct, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("-transports %q: every part of a mix is name=percent", s)
		}
		p, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(pct), "%"), 64)
		if err != nil || p < 0 {
			return nil, fmt.Errorf("-transports %q: bad percent %q", s, pct)
		}
		ts, err := transportList(strings.ReplaceAll(name, "+", ","))
		if err != nil {
			return nil, err
		}
		out = append(out, TransportShare{Transports: ts, Percent: p})
		total += p
	}
	if total < 99.999 || total > 100.001 {
		return nil, fmt.Errorf("-transports %q: the percents add up to %v, not 100", s, total)
	}
	return out, nil
}

func transportList(s string) ([]string, error) {
	switch strings.TrimSpace(s) {
	case "websocket":
		return []string{"websocket"}, nil
	case "polling":
		return []string{"polling"}, nil
	case "polling,websocket", "upgrade":
		return []string{"polling", "websocket"}, nil
	}
	return nil, fmt.Errorf("-transports: unknown setting %q (websocket, polling, polling,websocket; in a mix, polling+websocket)", s)
}

// parseAuth reads -auth: a file of tokens (@file, or the path of an
// existing file) or a token.
func parseAuth(s string) ([]string, error) {
	path, isFile := strings.CutPrefix(s, "@")
	if !isFile {
		if st, err := os.Stat(s); err == nil && st.Mode().IsRegular() {
			isFile = true
		}
	}
	if !isFile {
		return []string{s}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-auth: %w", err)
	}
	var ts []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			ts = append(ts, line)
		}
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("-auth: no token in %s", path)
	}
	return ts, nil
}

// transportFor returns the transport setting of client i: the shares
// are spread evenly over the clients.
func (c *Config) transportFor(i int) []string {
	if len(c.Transports) == 1 {
		return c.Transports[0].Transports
	}
	// Client i's position in [0, 100) in a low-discrepancy order, so
	// that any run of clients gets about the shares.
	pos := float64((i*61)%100) + 0.5
	acc := 0.0
	for _, t := range c.Transports {
		acc += t.Percent
		if pos < acc {
			return t.Transports
		}
	}
	return c.Transports[len(c.Transports)-1].Transports
}

// urlFor returns the URL of client i: the URLs of -url in turn.
func (c *Config) urlFor(i int) string {
	if len(c.URLs) == 0 {
		return c.URL
	}
	return c.URLs[i%len(c.URLs)]
}

// loopbackHost reports whether the URL's host is an IPv4 loopback
// address: only then are the source addresses spread.
func loopbackHost(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	ip := net.ParseIP(u.Hostname()) // not localhost: it may be ::1

	return ip != nil && ip.IsLoopback() && ip.To4() != nil
}
