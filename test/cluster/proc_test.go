package cluster_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitTimeout bounds every wait for a peer: a bound for hangs on a loaded
// machine, not a performance expectation.
const waitTimeout = 20 * time.Second

// line is one JSON line a Node script printed; fields are set as the line
// has them.
type line struct {
	Op        string            `json:"op"`
	Seq       int               `json:"seq"`
	OK        bool              `json:"ok"`
	Value     json.RawMessage   `json:"value"`
	Error     string            `json:"error"`
	Port      int               `json:"port"`
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Event     string            `json:"event"`
	Args      []json.RawMessage `json:"args"`
	Reason    string            `json:"reason"`
	Recovered bool              `json:"recovered"`
	Engine    string            `json:"engine"`
	Transport string            `json:"transport"`
	raw       string
}

// proc is a Node script running for a test: its lines, and commands sent
// on its standard input.
type proc struct {
	t     *testing.T
	name  string
	stdin io.WriteCloser

	mu      sync.Mutex
	lines   []line
	changed chan struct{}
	seq     int
	exited  bool
	stderr  strings.Builder
}

// startProc starts node with script and args; it is stopped (standard
// input closed, then killed) when the test ends, and what it printed is
// logged if the test failed.
func startProc(t *testing.T, node, name, script string, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	p := &proc{t: t, name: name, changed: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &lockedWriter{p: p}
	if err := cmd.Start(); err != nil {
		t.Fatalf("failed to start %s: %v", script, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l line
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				l = line{Op: "unparsed"}
			}
			l.raw = sc.Text()
			p.mu.Lock()
			p.lines = append(p.lines, l)
			p.notifyLocked()
			p.mu.Unlock()
		}
		_ = cmd.Wait()
		p.mu.Lock()
		p.exited = true
		p.notifyLocked()
		p.mu.Unlock()
	}()
	t.Cleanup(func() {
		_ = p.stdin.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		cancel()
		<-done
		if t.Failed() {
			p.mu.Lock()
			var b strings.Builder
			for _, l := range p.lines {
				b.WriteString("  " + l.raw + "\n")
			}
			t.Logf("%s printed:\n%sstderr:\n%s", p.name, b.String(), p.stderr.String())
			p.mu.Unlock()
		}
	})
	return p
}

type lockedWriter struct{ p *proc }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.stderr.Write(b)
}

func (p *proc) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// wait returns the first line from index from on that match accepts,
// failing the test after waitTimeout.
func (p *proc) wait(what string, match func(l line) bool) line {
	p.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		p.mu.Lock()
		for _, l := range p.lines {
			if match(l) {
				p.mu.Unlock()
				return l
			}
		}
		exited, ch := p.exited, p.changed
		p.mu.Unlock()
		if exited {
			p.t.Fatalf("%s exited while waiting for %s", p.name, what)
		}
		select {
		case <-ch:
		case <-deadline:
			p.t.Fatalf("%s: timed out waiting for %s", p.name, what)
		}
	}
}

// snapshot returns the lines so far.
func (p *proc) snapshot() []line {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]line(nil), p.lines...)
}

// call sends a command and returns its result's value, failing the test
// when the command fails.
func (p *proc) call(cmd string, fields map[string]any) json.RawMessage {
	p.t.Helper()
	v, err := p.try(cmd, fields)
	if err != nil {
		p.t.Fatalf("%s %s: %v", p.name, cmd, err)
	}
	return v
}

// try sends a command and returns its result.
func (p *proc) try(cmd string, fields map[string]any) (json.RawMessage, error) {
	p.t.Helper()
	p.mu.Lock()
	p.seq++
	seq := p.seq
	p.mu.Unlock()
	c := map[string]any{"seq": seq, "cmd": cmd}
	for k, v := range fields {
		c[k] = v
	}
	b, err := json.Marshal(c)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		p.t.Fatalf("%s: failed to send %s: %v", p.name, cmd, err)
	}
	r := p.wait(fmt.Sprintf("the result of %s", cmd), func(l line) bool { return l.Op == "result" && l.Seq == seq })
	if !r.OK {
		return nil, fmt.Errorf("%s", r.Error)
	}
	return r.Value, nil
}

// send writes v as a JSON line on the script's standard input, without
// waiting for an answer (node_client.mjs's emit lines).
func (p *proc) send(v any) {
	p.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		p.t.Fatalf("%s: failed to send %s: %v", p.name, b, err)
	}
}
