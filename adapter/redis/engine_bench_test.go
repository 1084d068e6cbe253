package redis

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/internal/peertest"
)

// BenchmarkEnginePoll measures what routing costs a polling client: two
// Engine.IO servers on one Redis (EngineTransport), a session on the first
// that echoes each message, and one op = a POST of a message and the GET
// that takes the echo, both to the session's server (sticky) or both to
// the other one (forwarded: a POST delivered through the owner, a poll
// locked and drained through it). It reports the latency of an op
// (ns/op), the CPU time this process spent per op (cpu-ns/op: both
// servers and the client) and Redis's (redis-cpu-ns/op).
//
//	go test -run '^$' -bench BenchmarkEnginePoll -benchtime 5000x -count 5 ./adapter/redis
func BenchmarkEnginePoll(b *testing.B) {
	r := peertest.StartRedis(b)
	ctx := context.Background()
	var urls [2]string
	var client rueidis.Client
	socks := make(chan *engineio.Socket, 1)
	for i := range urls {
		c, err := Connect(ctx, r.URL())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.Close)
		client = c
		tr := NewEngineTransport(c, nil)
		srv := engineio.NewServer(&engineio.Options{Cluster: &engineio.ClusterOptions{Transport: tr, ConnectionDelay: -1}, DisableHTTPCompression: true})
		srv.OnConnection(func(s *engineio.Socket) {
			s.OnMessage(func(p engineio.Packet) { _ = s.Send(p) })
			socks <- s
		})
		hs := httptest.NewServer(srv)
		b.Cleanup(hs.Close)
		b.Cleanup(func() { srv.Close() })
		urls[i] = hs.URL + "/"
		<-tr.Subscribed()
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	do := func(url, method, query, body string) string {
		req, _ := http.NewRequest(method, url+"?EIO=4&transport=polling"+query, strings.NewReader(body))
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %d %s", method, resp.StatusCode, out)
		}
		return string(out)
	}
	open := do(urls[0], "GET", "", "")
	sid := open[strings.Index(open, `"sid":"`)+7:][:20]
	<-socks
	redisCPU := func() time.Duration {
		info, err := client.Do(ctx, client.B().Info().Section("cpu").Build()).ToString()
		if err != nil {
			b.Fatal(err)
		}
		var total float64
		for _, l := range strings.Split(info, "\r\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
				f, _ := strconv.ParseFloat(v, 64)
				total += f
			}
		}
		return time.Duration(total * float64(time.Second))
	}
	selfCPU := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	for _, bc := range []struct {
		name string
		url  string
	}{{"sticky", urls[0]}, {"forwarded", urls[1]}} {
		b.Run(bc.name, func(b *testing.B) {
			q := "&sid=" + sid
			do(bc.url, "POST", q, "4warm")
			do(bc.url, "GET", q, "")
			r0, c0 := redisCPU(), selfCPU()
			b.ResetTimer()
			for range b.N {
				do(bc.url, "POST", q, "4hello")
				if got := do(bc.url, "GET", q, ""); got != "4hello" {
					b.Fatalf("echo: %q", got)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(selfCPU()-c0)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(redisCPU()-r0)/float64(b.N), "redis-cpu-ns/op")
		})
	}
}
