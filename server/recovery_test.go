package server

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/socketio"
)

func TestRecoveryLogConfig(t *testing.T) {
	d := DefaultConfig().Recovery
	if d.MaxLogBytes != socketio.DefaultMaxLogBytes || d.MaxLogPackets != socketio.DefaultMaxLogPackets {
		t.Fatalf("defaults %+v", d)
	}
	file := writeFile(t, "tether.yaml", "recovery:\n  max_log_bytes: 7000\n  max_log_packets: 4\n")
	c, err := LoadConfig("serve", []string{"-config", file}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Recovery.MaxLogBytes != 7000 || c.Recovery.MaxLogPackets != 4 {
		t.Fatalf("file: %+v", c.Recovery)
	}
	c, err = LoadConfig("serve", []string{"-config", file}, env(map[string]string{
		"TETHER_RECOVERY_MAX_LOG_BYTES":   "5000",
		"TETHER_RECOVERY_MAX_LOG_PACKETS": "3",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Recovery.MaxLogBytes != 5000 || c.Recovery.MaxLogPackets != 3 {
		t.Fatalf("env: %+v", c.Recovery)
	}
	_, err = LoadConfig("serve", nil, env(map[string]string{"TETHER_RECOVERY_MAX_LOG_BYTES": "0", "TETHER_RECOVERY_MAX_LOG_PACKETS": "-1"}), io.Discard)
	for _, want := range []string{"recovery.max_log_bytes: must be positive", "recovery.max_log_packets: must be positive"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
	// With recovery off the bounds are not checked.
	if _, err = LoadConfig("serve", nil, env(map[string]string{"TETHER_RECOVERY": "false", "TETHER_RECOVERY_MAX_LOG_BYTES": "0"}), io.Discard); err != nil {
		t.Errorf("recovery off: %v", err)
	}
}

// TestRecoveryLogMetrics checks that the bounds reach the namespaces' logs
// and that what they drop is counted.
func TestRecoveryLogMetrics(t *testing.T) {
	cfg := testConfig()
	cfg.Recovery.Enabled = true
	cfg.Recovery.MaxLogPackets = 2
	cfg.Recovery.MaxLogBytes = 5000
	// presence:diff events would enter the log on their own timer.
	cfg.Namespaces[0].PresenceDiffInterval = 0
	srv, ts := startServer(t, cfg)
	pub := mustDial(t, ts.URL, dialOpts{})
	wantOK(t, "subscribe", pub.call("subscribe", map[string]any{"room": "r"}))
	// A subscriber whose connection drops: its session is kept, and what is
	// published to r is logged for it.
	sub := mustDial(t, ts.URL, dialOpts{})
	wantOK(t, "subscribe", sub.call("subscribe", map[string]any{"room": "r"}))
	sub.close()
	deadline := time.Now().Add(10 * time.Second)
	for pub.call("publish", map[string]any{"room": "r", "event": "e", "data": "probe"})["receivers"] != 0.0 {
		if time.Now().After(deadline) {
			t.Fatal("the dropped subscriber is still a receiver")
		}
		time.Sleep(10 * time.Millisecond)
	}
	adapter := srv.IO().Of("/").Adapter().(*socketio.InMemoryAdapter)
	before, _ := adapter.RecoveryLogSize()
	var dropped0 int
	if _, err := fmt.Sscanf(grep(scrape(t, ts), `tether_recovery_log_dropped_total{reason="packets"}`), `tether_recovery_log_dropped_total{reason="packets"} %d`, &dropped0); err != nil {
		t.Fatal(err)
	}

	for i := range 5 {
		wantOK(t, "publish", pub.call("publish", map[string]any{"room": "r", "event": "e", "data": i}))
	}
	packets, bytes := adapter.RecoveryLogSize()
	dropped := dropped0 + before + 5 - 2
	m := scrape(t, ts)
	for _, want := range []string{
		fmt.Sprintf(`tether_recovery_log_dropped_total{reason="packets"} %d`, dropped),
		`tether_recovery_log_dropped_total{reason="bytes"} 0`,
		fmt.Sprintf(`tether_recovery_log_packets{namespace="/"} %d`, packets),
		fmt.Sprintf(`tether_recovery_log_bytes{namespace="/"} %d`, bytes),
	} {
		if !strings.Contains(m, want) {
			t.Fatalf("metrics lack %s:\n%s", want, grep(m, "recovery"))
		}
	}
	if packets != 2 || bytes <= 0 {
		t.Fatalf("log holds %d packets, %d bytes", packets, bytes)
	}

	// A message over max_log_bytes: the log is emptied.
	wantOK(t, "publish", pub.call("publish", map[string]any{"room": "r", "event": "e", "data": strings.Repeat("x", 6000)}))
	m = scrape(t, ts)
	for _, want := range []string{
		fmt.Sprintf(`tether_recovery_log_dropped_total{reason="packets"} %d`, dropped+1),
		`tether_recovery_log_dropped_total{reason="bytes"} 2`,
		`tether_recovery_log_packets{namespace="/"} 0`,
		`tether_recovery_log_bytes{namespace="/"} 0`,
	} {
		if !strings.Contains(m, want) {
			t.Fatalf("metrics lack %s:\n%s", want, grep(m, "recovery"))
		}
	}
	if !strings.Contains(m, `tether_recovery_log_dropped_bytes_total{reason="bytes"}`) {
		t.Fatalf("metrics lack the dropped bytes:\n%s", grep(m, "recovery"))
	}
}
