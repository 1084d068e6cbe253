package main

import (
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSampleKernel checks that sampleKernel finds the server side of a
// real established loopback connection in ss's output and reads
// /proc/net/sockstat.
func TestSampleKernel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if sc := <-accepted; sc != nil {
		defer sc.Close()
	}
	k := sampleKernel(ln.Addr().(*net.TCPAddr).Port)
	if k.sockets != 1 {
		t.Errorf("sockets = %d, want 1 (the accepted connection)", k.sockets)
	}
	if k.tcpInuse < 2 {
		t.Errorf("sockstat TCP inuse = %d, want at least the 2 ends of the connection", k.tcpInuse)
	}
	if k.slab <= 0 {
		t.Errorf("slab = %d KiB, want the Slab line of /proc/meminfo", k.slab)
	}
}

// TestFit checks the least-squares line on points of a known line and on
// one point (no line).
func TestFit(t *testing.T) {
	a, b := fit([]float64{1000, 5000, 10000}, []float64{16e6 + 12e6, 16e6 + 60e6, 16e6 + 120e6})
	if math.Abs(a-16e6) > 1 || math.Abs(b-12000) > 1e-6 {
		t.Errorf("fit = %g + %g x, want 16e6 + 12000 x", a, b)
	}
	if a, b := fit([]float64{1}, []float64{2}); !math.IsNaN(a) || !math.IsNaN(b) {
		t.Errorf("fit of one point = %g, %g, want NaN", a, b)
	}
}

// TestTable checks that the table has a row per point and a line per
// series, from JSON lines with other lines (tether load's progress) mixed
// in.
func TestTable(t *testing.T) {
	in := `progress line
{"server":"tether","scenario":"idle","clients":1000,"connected":1000,"rss_before_bytes":16000000,"rss_end_bytes":28000000,"ok":true}
{"server":"tether","scenario":"idle","clients":5000,"connected":5000,"rss_before_bytes":16000000,"rss_end_bytes":76000000,"ok":true}
{"server":"node","scenario":"active","clients":1000,"connected":990,"ok":false,"failures":["10 of 1000 clients failed to connect"]}
`
	var out strings.Builder
	if err := table(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if n := strings.Count(s, "\n| tether serve | idle |"); n != 2 {
		t.Errorf("%d tether idle rows, want 2:\n%s", n, s)
	}
	if !strings.Contains(s, "10 of 1000 clients failed to connect") {
		t.Errorf("the failure is not in the table:\n%s", s)
	}
	if !strings.Contains(s, "tether serve, idle: RSS ≈ 15.3 MiB + 11.72 KiB × clients") {
		t.Errorf("no fitted line for tether idle:\n%s", s)
	}
}

// TestFailedPointsMarked checks that the points of failed runs, and only
// those, are picked out to be crossed in the charts, and that the charts
// draw from points with a failure among them.
func TestFailedPointsMarked(t *testing.T) {
	s := []Point{
		{Server: "node", Scenario: "active", Connected: 1000, CPUPercent: 10, OK: true},
		{Server: "node", Scenario: "active", Connected: 18050, CPUPercent: 90, Failures: []string{"950 disconnections"}},
	}
	got := failedXYs(s, func(p Point) float64 { return p.CPUPercent })
	if len(got) != 1 || got[0].X != 18050 || got[0].Y != 90 {
		t.Fatalf("failed points = %v, want the one at 18050, 90", got)
	}
	in := `{"server":"node","scenario":"active","clients":1000,"connected":1000,"rss_end_bytes":28000000,"cpu_percent":10,"ok":true}
{"server":"node","scenario":"active","clients":19000,"connected":18050,"rss_end_bytes":380000000,"cpu_percent":90,"ok":false,"failures":["950 disconnections"]}
`
	dir := t.TempDir()
	if err := drawPlots(strings.NewReader(in), dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"growth-rss.png", "growth-cpu.png"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}
