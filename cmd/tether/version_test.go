package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersionText checks the text of `tether version` for the three kinds
// of builds: installed at a tag, built from a clone, without information.
func TestVersionText(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"go install @tag", &debug.BuildInfo{
			GoVersion: "go1.26.0",
			Main:      debug.Module{Path: "github.com/tether-rt/tether", Version: "v1.2.3"},
			Settings:  []debug.BuildSetting{{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "arm64"}},
		}, "tether v1.2.3\ngo1.26.0 linux/arm64\n"},
		{"clone, modified", &debug.BuildInfo{
			GoVersion: "go1.26.1",
			Main:      debug.Module{Path: "github.com/tether-rt/tether", Version: "(devel)"},
			Settings: []debug.BuildSetting{
				{Key: "GOOS", Value: "darwin"}, {Key: "GOARCH", Value: "amd64"},
				{Key: "vcs", Value: "git"},
				{Key: "vcs.revision", Value: "bec2a820bcbeb9b99611c0e0f0eb0a3b5413fb23"},
				{Key: "vcs.time", Value: "2026-12-05T08:31:18Z"},
				{Key: "vcs.modified", Value: "true"},
			},
		}, "tether (devel)\ncommit bec2a820bcbeb9b99611c0e0f0eb0a3b5413fb23 2026-12-05T08:31:18Z (modified)\ngo1.26.1 darwin/amd64\n"},
		{"no build information", nil, "tether (unknown)\n" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"},
	} {
		if got := versionText(tc.bi); got != tc.want {
			t.Errorf("%s: got\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
}

// TestVersionCommand builds the binary and checks that `tether version`,
// `tether -version` and `tether --version` print what `go version -m`
// reads from it: the module's version and, when the build stamped it, the
// commit.
func TestVersionCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "tether")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	var version, revision string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "mod":
			version = f[2]
		case len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision="):
			revision = strings.TrimPrefix(f[1], "vcs.revision=")
		}
	}
	if version == "" {
		t.Fatalf("go version -m shows no module version:\n%s", out)
	}
	t.Logf("version %s, commit %q", version, revision)
	for _, arg := range []string{"version", "-version", "--version"} {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, arg)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("tether %s: %v\n%s", arg, err, stderr.String())
		}
		lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
		if lines[0] != "tether "+version {
			t.Errorf("tether %s: first line %q, want %q", arg, lines[0], "tether "+version)
		}
		hasCommit := len(lines) == 3 && strings.HasPrefix(lines[1], "commit "+revision+" ")
		if (revision != "") != hasCommit {
			t.Errorf("tether %s printed\n%s\nthe build's commit is %q", arg, stdout.String(), revision)
		}
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, "go1.") {
			t.Errorf("tether %s: last line %q does not name the Go version", arg, last)
		}
	}
	if err := exec.Command(bin, "version", "extra").Run(); err == nil {
		t.Errorf("tether version extra: no error")
	}
}
