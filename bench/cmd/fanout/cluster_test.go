package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/peertest"
)

// TestClusterOnePublishPerBroadcast runs small clusters of two real
// servers on a real redis-server, tether serve and Node's socket.io with
// @socket.io/redis-adapter, and checks what the benchmark's Redis column
// claims: every broadcast reaches every other client of the cluster
// exactly once, with one PUBLISH in Redis per broadcast.
func TestClusterOnePublishPerBroadcast(t *testing.T) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	nodeDir := filepath.Join(root, "test", "cluster")
	for _, server := range []string{"tether", "node"} {
		t.Run(server, func(t *testing.T) {
			cfg := config{
				Server: server, Nodes: 2, Clients: 20, Rate: 20, Size: 10,
				Duration: time.Second, Warmup: 200 * time.Millisecond, Dialers: 10,
				NodeDir: nodeDir, RedisURL: peertest.StartRedis(t).URL(),
				ServeConfig: filepath.Join(root, "bench", "load", "tether-serve.yaml"),
			}
			switch server {
			case "tether":
				cfg.Tether = filepath.Join(t.TempDir(), "tether")
				build := exec.Command("go", "build", "-o", cfg.Tether, "./cmd/tether")
				build.Dir = root
				if out, err := build.CombinedOutput(); err != nil {
					t.Fatalf("failed to build tether: %v\n%s", err, out)
				}
			case "node":
				if _, err := exec.LookPath("node"); err != nil {
					peertest.Missing(t, "node not found in PATH")
				}
				if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "@socket.io", "redis-adapter", "package.json")); err != nil {
					peertest.Missing(t, "npm packages not installed (run npm ci in test/cluster)")
				}
			}
			res, err := runCluster(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.AllBroadcasts == 0 {
				t.Fatal("no broadcast was published")
			}
			if want := res.AllBroadcasts * int64(cfg.Clients-1); res.AllReceived != want {
				t.Errorf("clients received %d messages, want %d (%d broadcasts to %d other clients)",
					res.AllReceived, want, res.AllBroadcasts, cfg.Clients-1)
			}
			if res.RedisPublishes != res.AllBroadcasts {
				t.Errorf("Redis counted %d PUBLISH for %d broadcasts, want one each", res.RedisPublishes, res.AllBroadcasts)
			}
			if res.Disconnects != 0 {
				t.Errorf("%d clients lost their connection", res.Disconnects)
			}
		})
	}
}
