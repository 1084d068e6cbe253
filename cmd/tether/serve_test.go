package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the tests run the command itself: the test binary acts as
// tether when TETHER_TEST_MAIN is set.
func TestMain(m *testing.M) {
	if os.Getenv("TETHER_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// tether returns the command "tether args..." with a clean TETHER_ environment.
func tether(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "TETHER_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(append(cmd.Env, "TETHER_TEST_MAIN=1"), env...)
	return cmd
}

func TestConfigCommand(t *testing.T) {
	file := t.TempDir() + "/tether.yaml"
	if err := os.WriteFile(file, []byte("addr: 127.0.0.1:7000\nlog: {level: debug}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := tether([]string{"TETHER_API_KEY=super-secret-key-0123", "TETHER_LOG_FORMAT=json"}, "config", "-config", file, "-addr", "127.0.0.1:7001")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tether config: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, w := range []string{"addr: 127.0.0.1:7001\n", "  level: debug\n", "  format: json\n", "    - <redacted>\n", "namespaces:\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "super-secret") {
		t.Errorf("the API key is in the output:\n%s", out)
	}

	// An invalid configuration: the errors, and exit status 1.
	cmd = tether([]string{"TETHER_LOG_LEVEL=loud"}, "config", "-config", file, "-origins", "https://[")
	stdout.Reset()
	stderr.Reset()
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("invalid configuration: %v, want exit status 1", err)
	}
	want := "tether: config: origins[0]: invalid origin pattern \"https://[\": syntax error in pattern\n" +
		"config: log.level: \"loud\" is not one of debug, info, warn, error\n"
	if stderr.String() != want || stdout.Len() != 0 {
		t.Fatalf("stderr:\n%s\nwant:\n%s\nstdout: %q", stderr.String(), want, stdout.String())
	}
}

// freeAddr returns a loopback address with a port that was free.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestServeIsTheDefault(t *testing.T) {
	for _, args := range [][]string{nil, {"serve"}, {"-log-format", "json"}} {
		addr := freeAddr(t)
		cmd := tether([]string{"TETHER_ADDR=" + addr}, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := false
		for i := 0; i < 200 && !ready; i++ {
			resp, err := http.Get("http://" + addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				ready = resp.StatusCode == 200
			}
			if !ready {
				time.Sleep(25 * time.Millisecond)
			}
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if !ready {
			t.Fatalf("tether %q never became ready:\n%s", args, stderr.String())
		}
		if err != nil {
			t.Fatalf("tether %q after SIGTERM: %v\n%s", args, err, stderr.String())
		}
		logs := stderr.String()
		// The first line says where to point a browser.
		if first, _, _ := strings.Cut(logs, "\n"); !strings.Contains(first, "tether listening") || !strings.Contains(first, "http://"+addr+"/") {
			t.Errorf("tether %q: first log line %q does not give the URL http://%s/", args, first, addr)
		}
		for _, w := range []string{"tether listening", "shutting down", "stopped"} {
			if !strings.Contains(logs, w) {
				t.Errorf("tether %q: logs lack %q:\n%s", args, w, logs)
			}
		}
		// Every line takes the configured format, through the shutdown.
		if slices.Contains(args, "json") {
			for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
				if !json.Valid([]byte(line)) {
					t.Errorf("tether %q: log line %q is not JSON", args, line)
				}
			}
		}
	}
}

func TestServeHelp(t *testing.T) {
	cmd := tether(nil, "serve", "-h")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("serve -h: %v", err)
	}
	for _, w := range []string{"-config", "-addr", "TETHER_ADDR", "Precedence: flags > environment > file > defaults"} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("help lacks %q:\n%s", w, stderr.String())
		}
	}
}

// TestServeDemos checks that serve puts the demo apps at "/" with their
// namespaces by default, and the built-in index page with -demos=false.
func TestServeDemos(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		page     string // in the body of "/"
		demoNsps bool
	}{
		{nil, "Tether demos", true},
		{[]string{"-demos=false"}, "/socket.io/", false},
	} {
		addr := freeAddr(t)
		cmd := tether([]string{"TETHER_ADDR=" + addr}, append([]string{"serve"}, tc.args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		func() {
			defer func() {
				cmd.Process.Signal(syscall.SIGTERM)
				cmd.Wait()
			}()
			var body string
			for i := 0; i < 200; i++ {
				resp, err := http.Get("http://" + addr + "/")
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					body = string(b)
					break
				}
				time.Sleep(25 * time.Millisecond)
			}
			if !strings.Contains(body, tc.page) {
				t.Fatalf("tether serve %q: / lacks %q:\n%.300s\n%s", tc.args, tc.page, body, stderr.String())
			}
			// Connect to the leaderboard namespace over polling: the
			// CONNECT is answered with a sid only when it exists.
			sid := pollingHandshake(t, addr)
			post(t, addr, sid, "40/leaderboard,")
			got := poll(t, addr, sid)
			ok := strings.HasPrefix(got, `40/leaderboard,{"sid"`)
			if ok != tc.demoNsps {
				t.Fatalf("tether serve %q: CONNECT to /leaderboard answered %q", tc.args, got)
			}
		}()
	}
}

// pollingHandshake opens an Engine.IO v4 polling session and returns its sid.
func pollingHandshake(t *testing.T, addr string) string {
	t.Helper()
	body := poll(t, addr, "")
	i := strings.Index(body, `"sid":"`)
	if !strings.HasPrefix(body, "0{") || i < 0 {
		t.Fatalf("handshake: %q", body)
	}
	rest := body[i+len(`"sid":"`):]
	return rest[:strings.IndexByte(rest, '"')]
}

// poll sends one polling GET (a handshake when sid is empty).
func poll(t *testing.T, addr, sid string) string {
	t.Helper()
	url := "http://" + addr + "/socket.io/?EIO=4&transport=polling"
	if sid != "" {
		url += "&sid=" + sid
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// post sends one polling POST with body.
func post(t *testing.T, addr, sid, body string) {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/socket.io/?EIO=4&transport=polling&sid="+sid, "text/plain;charset=UTF-8", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST %q: %s", body, resp.Status)
	}
}
