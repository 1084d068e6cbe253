package attack

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/siotest"
	"github.com/tether-rt/tether/server"
	"github.com/tether-rt/tether/websocket"
)

// TestAttack6ShutdownUnderLoad: the server is shut down while a WebSocket
// client keeps sending and never reads (nobody answers the close frame)
// and polling clients keep polling, each poll on a new connection. The
// shutdown used to overrun shutdown_timeout by up to 5 s and exit with an
// error, and polling clients' last requests were refused because the
// listener closed first. Now the shutdown ends within its timeout, cleanly,
// and every polling client gets its close packet.
func TestAttack6ShutdownUnderLoad(t *testing.T) {
	pollers := scale(20, 200)
	const timeout = 2 * time.Second
	_, base, stop := tetherServe(t, func(c *server.Config) {
		noIPLimits(c)
		c.Limits.EventRate = 0
		c.ShutdownTimeout = timeout
	})

	sender := siotest.DialRaw(t, base, 4096)
	sending := make(chan struct{})
	go func() {
		defer close(sending)
		for {
			if err := sender.WriteMessage(websocket.MessageText, event(-1, "noise", strings.Repeat("n", 1000))); err != nil {
				return
			}
		}
	}()

	var closedCleanly, failed atomic.Int32
	var failures sync.Map
	var wg sync.WaitGroup
	for range pollers {
		p := pollSocketIO(t, base)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
			for {
				resp, err := fresh.Get(p.url())
				if err != nil {
					failed.Add(1)
					failures.Store(p.sid, err.Error())
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
					failures.Store(p.sid, fmt.Sprintf("%d %s", resp.StatusCode, b))
					return
				}
				for _, pkt := range strings.Split(string(b), "\x1e") {
					switch pkt {
					case "1":
						closedCleanly.Add(1)
						return
					case "2":
						if resp, err := fresh.Post(p.url(), "text/plain;charset=UTF-8", strings.NewReader("3")); err == nil {
							resp.Body.Close()
						}
					}
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond) // all polling, the sender sending
	start := time.Now()
	err := stop()
	took := time.Since(start)
	wg.Wait()
	sender.CloseNow()
	<-sending
	var why []string
	failures.Range(func(k, v any) bool { why = append(why, v.(string)); return len(why) < 3 })
	ok := err == nil && took <= timeout+time.Second && failed.Load() == 0 && closedCleanly.Load() == int32(pollers)
	report(t, "6", fmt.Sprintf("shutdown (timeout %v) with a WebSocket client that sends and never reads, and %d polling clients polling on new connections", timeout, pollers),
		fmt.Sprintf("ends within %v + 1 s, clean; every polling client gets the close packet", timeout),
		fmt.Sprintf("took %v, error %v; %d got the close packet, %d failed %q", took.Round(10*time.Millisecond), err, closedCleanly.Load(), failed.Load(), why), ok)
}
