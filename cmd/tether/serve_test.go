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
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-rt/tether/server"
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

// TestHelp checks that every command's -h (and -help, --help) exits 0
// and shows each flag with the kind of its value (no "value"
// placeholder) and its default; serve and config show every setting's
// flag, environment variable and YAML key.
func TestHelp(t *testing.T) {
	placeholder := regexp.MustCompile(`(?m)^  -\S+ value$`)
	settings := []string{"Precedence: flags > environment > file > defaults", "-config file", "env TETHER_CONFIG",
		"  -addr string\n    \taddress to listen on\n    \tdefault \"localhost:8080\"; env TETHER_ADDR, YAML addr\n",
		"  -shutdown-timeout duration\n", "default 10s; env TETHER_SHUTDOWN_TIMEOUT",
		"  -handshake-rate number\n", "default 10; env TETHER_HANDSHAKE_RATE",
		"  -max-payload int\n    \tlargest message a client may send, in bytes\n    \tdefault 1000000;",
		"  -recovery\n", "default true; env TETHER_RECOVERY, YAML recovery.enabled",
		"default polling,websocket; env TETHER_TRANSPORTS",
		"Settings without a flag (environment or file):\n  TETHER_API_KEY list\n",
		"  TETHER_RECOVERY_MAX_DISCONNECTION duration\n", "default 2m; YAML recovery.max_disconnection"}
	for _, s := range server.Settings {
		if s.Flag != "" {
			settings = append(settings, "  -"+s.Flag, "env "+s.Env+", YAML "+s.Key+"\n")
		} else {
			settings = append(settings, "  "+s.Env+" ", "YAML "+s.Key+"\n")
		}
	}
	for _, tc := range []struct {
		cmd  string
		want []string
	}{
		{"serve", settings},
		{"config", settings},
		{"echo", []string{"  -addr host:port\n", `(default "127.0.0.1:9001")`, "  -idle-timeout duration\n", "(0: never) (default 1m0s)"}},
		{"conformance", []string{"  -addr host:port\n", `(default "127.0.0.1:3000")`, "  -eio3\n"}},
		{"version", []string{"Prints the module version"}},
		{"hash-password", []string{"  -cost int\n", "(default 10)"}},
	} {
		for _, h := range []string{"-h", "-help", "--help"} {
			cmd := tether(nil, tc.cmd, h)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Errorf("tether %s %s: %v, want exit status 0\n%s", tc.cmd, h, err, stderr.String())
				continue
			}
			out := stderr.String()
			if !strings.HasPrefix(out, "Usage: tether "+tc.cmd) || strings.Contains(out, "help requested") || stdout.Len() != 0 {
				t.Errorf("tether %s %s: stdout %q, stderr:\n%s", tc.cmd, h, stdout.String(), out)
			}
			if m := placeholder.FindString(out); m != "" {
				t.Errorf("tether %s %s: %q has no kind of value", tc.cmd, h, m)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("tether %s %s: help lacks %q", tc.cmd, h, w)
				}
			}
		}
	}
	// The command list.
	for _, h := range []string{"-h", "help", "--help"} {
		var stdout bytes.Buffer
		cmd := tether(nil, h)
		cmd.Stdout = &stdout
		if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), "Commands:") {
			t.Errorf("tether %s: %v\n%s", h, err, stdout.String())
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
