package load

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Quantiles are a histogram's summary, in milliseconds.
type Quantiles struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

func quantiles(h *Histogram) Quantiles {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return Quantiles{h.Count(), ms(h.Quantile(0.5)), ms(h.Quantile(0.9)), ms(h.Quantile(0.99)), ms(h.Quantile(0.999)), ms(h.Max()), ms(h.Mean())}
}

// ServerStats are a local server's measures (-pid).
type ServerStats struct {
	PID              int     `json:"pid"`
	PIDs             []int   `json:"pids,omitempty"` // several servers (-pid a,b,c): the figures are their sums
	RSSBefore        int64   `json:"rss_before_bytes"`
	RSSConnected     int64   `json:"rss_connected_bytes"`
	RSSPerConnection float64 `json:"rss_per_connection_bytes"`
	CPUSeconds       float64 `json:"cpu_seconds"`
	CPUPercent       float64 `json:"cpu_percent"`
	CPUPerMessageUS  float64 `json:"cpu_per_delivered_message_us"`
}

// CPUStats are processes' CPU time in the measured time.
type CPUStats struct {
	Seconds float64 `json:"cpu_seconds"`
	Percent float64 `json:"cpu_percent"` // of one core
}

// Report is a run's result, as -out prints it.
type Report struct {
	Label           string           `json:"label"`
	URL             string           `json:"url"`
	Command         string           `json:"command"`
	Mode            string           `json:"mode"`
	Clients         int              `json:"clients"`
	Procs           int              `json:"procs"`
	Transports      string           `json:"transports"`
	Rooms           int              `json:"rooms"`
	PublishRate     float64          `json:"publish_rate"`
	PublishMax      bool             `json:"publish_max,omitempty"` // -publish-rate max
	Window          int              `json:"window,omitempty"`      // -publish-rate max: messages in flight per worker
	MaxInFlight     int64            `json:"max_in_flight,omitempty"`
	WindowLost      int64            `json:"window_lost,omitempty"` // messages given up after 10 s in the window
	Size            int              `json:"size"`
	DurationS       float64          `json:"duration_s"`
	WarmupS         float64          `json:"warmup_s"`
	ElapsedS        float64          `json:"elapsed_s"`
	Connected       int64            `json:"connected"`
	ConnectErrors   map[string]int64 `json:"connect_errors"`
	SubscribeErrors map[string]int64 `json:"subscribe_errors"`
	ConnectTime     Quantiles        `json:"connect_ms"`
	Published       int64            `json:"published"`
	SentAll         int64            `json:"sent_all"` // every message sent, warm-up included
	NotSent         int64            `json:"not_sent"`
	PublishErrors   map[string]int64 `json:"publish_errors"`
	AckRTT          Quantiles        `json:"ack_ms"`
	Expected        int64            `json:"expected"`
	Delivered       int64            `json:"delivered"`
	DeliveredAll    int64            `json:"delivered_all"` // every delivery, warm-up included
	DeliveredPerS   float64          `json:"delivered_per_s"`
	Latency         Quantiles        `json:"latency_ms"`
	Disconnects     int64            `json:"disconnects"`
	Reconnects      int64            `json:"reconnects"`
	Server          *ServerStats     `json:"server,omitempty"`
	Generator       *CPUStats        `json:"generator,omitempty"` // tether load's own processes
	Failures        []string         `json:"failures"`
	OK              bool             `json:"ok"`
}

func newReport(cfg *Config, results []*workerResult, connected int64, srv *serverSampler) *Report {
	var ts []string
	for _, t := range cfg.Transports {
		if len(cfg.Transports) == 1 {
			ts = append(ts, t.Name())
		} else {
			ts = append(ts, fmt.Sprintf("%s=%g%%", strings.ReplaceAll(t.Name(), ",", "+"), t.Percent))
		}
	}
	r := &Report{
		Label: cfg.Label, URL: cfg.URL, Command: shellCommand(append([]string{"tether", "load"}, cfg.Args...)),
		Mode: cfg.Mode, Clients: cfg.Clients, Procs: cfg.Procs, Transports: strings.Join(ts, ","),
		Rooms: cfg.Rooms, PublishRate: cfg.PublishRate, PublishMax: cfg.PublishMax, Size: cfg.Size,
		DurationS: cfg.Duration.Seconds(), WarmupS: cfg.Warmup.Seconds(), Connected: connected,
		ConnectErrors: map[string]int64{}, SubscribeErrors: map[string]int64{}, PublishErrors: map[string]int64{},
	}
	var connTime, ack, lat Histogram
	for _, w := range results {
		addAll(r.ConnectErrors, w.ConnectErrors)
		addAll(r.SubscribeErrors, w.SubscribeErrors)
		addAll(r.PublishErrors, w.PublishErrors)
		r.Published += w.Published
		r.SentAll += w.SentAll
		r.DeliveredAll += w.DeliveredAll
		r.NotSent += w.NotSent
		r.Expected += w.Expected
		r.Delivered += w.Delivered
		r.Disconnects += w.Disconnects
		r.Reconnects += w.Reconnects
		connTime.Merge(w.ConnectTime)
		ack.Merge(w.AckRTT)
		lat.Merge(w.Latency)
		r.MaxInFlight = max(r.MaxInFlight, w.MaxInFlight)
		r.WindowLost += w.WindowLost
	}
	if cfg.PublishMax {
		r.Window = cfg.Window
	}
	r.ConnectTime, r.AckRTT, r.Latency = quantiles(&connTime), quantiles(&ack), quantiles(&lat)
	r.DeliveredPerS = float64(r.Delivered) / cfg.Duration.Seconds()
	if srv != nil {
		r.Server = srv.stats(cfg.Duration, r.Delivered)
	}
	sum := func(m map[string]int64) (n int64) {
		for _, v := range m {
			n += v
		}
		return n
	}
	fail := func(format string, args ...any) { r.Failures = append(r.Failures, fmt.Sprintf(format, args...)) }
	if n := sum(r.ConnectErrors); n > 0 {
		fail("%d of %d clients failed to connect", n, cfg.Clients)
	}
	if n := sum(r.SubscribeErrors); n > 0 {
		fail("%d clients failed to join their room", n)
	}
	if n := sum(r.PublishErrors); n > 0 {
		fail("%d messages failed", n)
	}
	if r.NotSent > 0 {
		fail("%d messages not sent (no client ready, or too many waiting for their acknowledgement)", r.NotSent)
	}
	if r.Disconnects > 0 {
		fail("%d disconnections", r.Disconnects)
	}
	if cfg.Mode == ModePublish && r.Delivered < r.Expected {
		fail("%d messages delivered, %d expected", r.Delivered, r.Expected)
	}
	if r.WindowLost > 0 {
		fail("%d messages incomplete after %v in the window", r.WindowLost, windowTimeout)
	}
	if cfg.Mode != ModeReceive && (cfg.PublishRate > 0 || cfg.PublishMax) && r.Published == 0 {
		fail("no message was sent")
	}
	r.OK = len(r.Failures) == 0
	return r
}

// shellCommand quotes the arguments that need it for a POSIX shell.
func shellCommand(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.,:/+%@") == "" {
			out[i] = a
		} else {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}

func addAll(dst, src map[string]int64) {
	for k, v := range src {
		dst[k] += v
	}
}

// Write prints the report as text, json or markdown.
func (r *Report) Write(w io.Writer, format string) error {
	var b bytes.Buffer
	switch format {
	case "json":
		e := json.NewEncoder(&b)
		e.SetIndent("", "  ")
		if err := e.Encode(r); err != nil {
			return err
		}
	case "markdown", "md":
		r.markdown(&b)
	default:
		r.text(&b)
	}
	_, err := w.Write(b.Bytes())
	return err
}

func errList(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}

func (q Quantiles) String() string {
	if q.Count == 0 {
		return "none"
	}
	return fmt.Sprintf("p50 %.3f ms, p90 %.3f, p99 %.3f, p99.9 %.3f, max %.3f (%d)", q.P50, q.P90, q.P99, q.P999, q.Max, q.Count)
}

func (r *Report) text(b *bytes.Buffer) {
	fmt.Fprintf(b, "%s\n", r.Command)
	fmt.Fprintf(b, "target        %s (%s)\n", r.URL, r.Label)
	rate := fmt.Sprintf("%g msg/s", r.PublishRate)
	if r.PublishMax {
		rate = fmt.Sprintf("max msg/s (window %d per proc)", r.Window)
	}
	fmt.Fprintf(b, "scenario      %s mode, %d clients (%s) in %d procs, %d rooms, %s of %d B, %gs warm-up, %gs measured\n",
		r.Mode, r.Clients, r.Transports, r.Procs, r.Rooms, rate, r.Size, r.WarmupS, r.DurationS)
	fmt.Fprintf(b, "connected     %d of %d; errors: %s\n", r.Connected, r.Clients, errList(r.ConnectErrors))
	if len(r.SubscribeErrors) > 0 {
		fmt.Fprintf(b, "room errors   %s\n", errList(r.SubscribeErrors))
	}
	fmt.Fprintf(b, "connect time  %s\n", r.ConnectTime)
	fmt.Fprintf(b, "sent          %d (not sent %d); errors: %s\n", r.Published, r.NotSent, errList(r.PublishErrors))
	if r.PublishMax {
		fmt.Fprintf(b, "window        %d per proc, at most %d in flight, %d given up after %v; %.1f msg/s sent\n", r.Window, r.MaxInFlight, r.WindowLost, windowTimeout, float64(r.Published)/r.DurationS)
	}
	fmt.Fprintf(b, "ack rtt       %s\n", r.AckRTT)
	if r.Mode != ModeAck {
		fmt.Fprintf(b, "delivered     %d of %d expected (%.0f/s)\n", r.Delivered, r.Expected, r.DeliveredPerS)
		fmt.Fprintf(b, "latency       %s\n", r.Latency)
	}
	fmt.Fprintf(b, "disconnects   %d, reconnects %d\n", r.Disconnects, r.Reconnects)
	if s := r.Server; s != nil {
		pid := fmt.Sprint(s.PID)
		if len(s.PIDs) > 1 {
			pid = fmt.Sprintf("%v (sums)", s.PIDs)
		}
		fmt.Fprintf(b, "server        pid %s: RSS %.1f MiB before, %.1f MiB connected, %.1f KiB per connection; CPU %.2f s (%.0f %% of a core), %.2f µs per delivered message\n",
			pid, float64(s.RSSBefore)/(1<<20), float64(s.RSSConnected)/(1<<20), s.RSSPerConnection/1024, s.CPUSeconds, s.CPUPercent, s.CPUPerMessageUS)
	}
	if g := r.Generator; g != nil {
		fmt.Fprintf(b, "generator     CPU %.2f s (%.0f %% of a core) in %d procs\n", g.Seconds, g.Percent, r.Procs)
	}
	if r.OK {
		fmt.Fprintf(b, "result        ok\n")
	} else {
		fmt.Fprintf(b, "result        FAILED: %s\n", strings.Join(r.Failures, "; "))
	}
}

func (r *Report) markdown(b *bytes.Buffer) {
	b.WriteString("| server | clients | transports | rooms | msg/s sent | size | delivered / expected | delivered msg/s | p50 | p90 | p99 | p99.9 | max | ack p99 | connect p99 | errors | server RSS per conn | server CPU per msg |\n")
	b.WriteString("|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	ratio := "n/a"
	if r.Expected > 0 {
		ratio = fmt.Sprintf("%d / %d (%.1f %%)", r.Delivered, r.Expected, 100*float64(r.Delivered)/float64(r.Expected))
	}
	rss, cpu := "—", "—"
	if s := r.Server; s != nil {
		rss = fmt.Sprintf("%.1f KiB", s.RSSPerConnection/1024)
		cpu = fmt.Sprintf("%.2f µs", s.CPUPerMessageUS)
	}
	errs := int64(len(r.Failures))
	for _, m := range []map[string]int64{r.ConnectErrors, r.SubscribeErrors, r.PublishErrors} {
		for _, v := range m {
			errs += v
		}
	}
	if r.OK {
		errs = 0
	}
	fmt.Fprintf(b, "| %s | %d | %s | %d | %.1f | %d B | %s | %.0f | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %d | %s | %s |\n",
		r.Label, r.Clients, r.Transports, r.Rooms, float64(r.Published)/r.DurationS, r.Size, ratio, r.DeliveredPerS,
		r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.P999, r.Latency.Max, r.AckRTT.P99, r.ConnectTime.P99, errs, rss, cpu)
	fmt.Fprintf(b, "\n`%s`\n", r.Command)
	if !r.OK {
		fmt.Fprintf(b, "\nFailures: %s\n", strings.Join(r.Failures, "; "))
	}
}

// progress shows the run's progress: one line kept up to date on a
// terminal, a line a second otherwise.
type progress struct {
	w       io.Writer
	tty     bool
	clients int
	start   time.Time

	mu       sync.Mutex
	last     []progressMsg
	recent   []Histogram
	prevAll  int64
	prevAt   time.Time
	phaseStr string
	done     chan struct{}
	stopped  bool
	wg       sync.WaitGroup
}

func newProgress(w io.Writer, clients, procs int) *progress {
	p := &progress{w: w, clients: clients, start: time.Now(), last: make([]progressMsg, procs), recent: make([]Histogram, procs), prevAt: time.Now(), phaseStr: "connecting", done: make(chan struct{})}
	if f, ok := w.(*os.File); ok {
		p.tty = term.IsTerminal(int(f.Fd()))
	}
	p.wg.Add(1)
	go p.loop()
	return p
}

func (p *progress) update(i int, m progressMsg) {
	p.mu.Lock()
	p.last[i] = m
	p.recent[i].Merge(m.Recent)
	p.mu.Unlock()
}

func (p *progress) phase(s string) {
	p.mu.Lock()
	p.phaseStr = s
	p.mu.Unlock()
}

func (p *progress) loop() {
	defer p.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.print()
		case <-p.done:
			if p.tty {
				fmt.Fprint(p.w, "\n")
			}
			return
		}
	}
}

func (p *progress) print() {
	p.mu.Lock()
	var connected, errs, all int64
	var rec Histogram
	for i, m := range p.last {
		connected += m.Connected
		errs += m.Errors
		all += m.DeliveredAll
		rec.Merge(p.recent[i].Snapshot())
		p.recent[i].Reset()
	}
	now := time.Now()
	rate := float64(all-p.prevAll) / now.Sub(p.prevAt).Seconds()
	p.prevAll, p.prevAt = all, now
	phase := p.phaseStr
	p.mu.Unlock()
	msg := fmt.Sprintf("%5.0fs %-10s connected %d/%d  msgs/s %.0f  p99 %.2f ms  errors %d",
		now.Sub(p.start).Seconds(), phase, connected, p.clients, rate, float64(rec.Quantile(0.99).Microseconds())/1000, errs)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", msg)
	} else {
		fmt.Fprintln(p.w, msg)
	}
}

func (p *progress) stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.mu.Unlock()
	close(p.done)
	p.wg.Wait()
}
