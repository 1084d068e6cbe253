package cluster_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/rueidis"

	"github.com/tether-rt/tether/internal/load"
	"github.com/tether-rt/tether/internal/peertest"
)

// publishCalls returns the PUBLISH calls Redis has counted (INFO
// commandstats).
func publishCalls(t *testing.T, addr string) int64 {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	info, err := c.Do(context.Background(), c.B().Info().Section("commandstats").Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "cmdstat_publish:calls="); ok {
			n, err := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
			if err != nil {
				t.Fatalf("INFO commandstats: %q", l)
			}
			return n
		}
	}
	return 0
}

// TestLoadOnePublishPerBroadcast runs tether load against clusters of two
// real servers on a real redis-server, two `tether serve` processes and
// two Node socket.io 4.8 servers with @socket.io/redis-adapter, and checks
// what BENCHMARKS.md's cluster section claims: every message reaches every
// other member of the room across the nodes exactly once, with one PUBLISH
// in Redis per message, whatever node it came from. tether serve runs
// without presence and join/leave events (bench/load/tether-serve.yaml),
// whose own broadcasts would be PUBLISHes too, and without demos.
func TestLoadOnePublishPerBroadcast(t *testing.T) {
	serveConfig, err := filepath.Abs("../../bench/load/tether-serve.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, server := range []string{"tether", "node"} {
		t.Run(server, func(t *testing.T) {
			r := peertest.StartRedis(t)
			var urls []string
			switch server {
			case "tether":
				bin := buildTether(t)
				for i := range 2 {
					n := startServeAdapter(t, bin, r.URL(), fmt.Sprintf("tether%d", i), "pubsub", "-config", serveConfig)
					urls = append(urls, n.url)
				}
			case "node":
				nodeBin := needNode(t)
				for i := range 2 {
					p := startProc(t, nodeBin, fmt.Sprintf("node%d", i), "node_server.mjs", "classic", r.URL())
					port := p.wait("the node server to listen", func(l line) bool { return l.Op == "listening" }).Port
					urls = append(urls, fmt.Sprintf("http://127.0.0.1:%d", port))
				}
			}
			cfg := &load.Config{}
			args := []string{"-url", strings.Join(urls, ","), "-clients", "20", "-rooms", "1", "-publish-rate", "20", "-size", "10",
				"-duration", "1s", "-warmup", "200ms"}
			if err := cfg.FlagSet(io.Discard).Parse(args); err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			cfg.Args = args
			before := publishCalls(t, r.Addr)
			rep, err := load.Run(context.Background(), cfg, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			publishes := publishCalls(t, r.Addr) - before
			if !rep.OK {
				t.Fatalf("tether load failed: %v", rep.Failures)
			}
			if rep.SentAll < 10 || rep.DeliveredAll != rep.SentAll*19 || rep.Delivered != rep.Expected {
				t.Fatalf("sent %d, delivered %d in all (want 19 each); measured %d of %d", rep.SentAll, rep.DeliveredAll, rep.Delivered, rep.Expected)
			}
			if publishes != rep.SentAll {
				t.Fatalf("Redis counted %d PUBLISH for %d messages, want one each", publishes, rep.SentAll)
			}
		})
	}
}
