package demo

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildWebTree copies scripts/build-web.sh and demo/web's npm files into a
// temporary tree laid out as the repository, and returns its root and a
// directory for a PATH with only the commands the script needs (npm left
// out, for the test to add).
func buildWebTree(t *testing.T) (root, bin string) {
	t.Helper()
	root = t.TempDir()
	for _, f := range []string{"scripts/build-web.sh", "demo/web/package.json", "demo/web/package-lock.json"} {
		b, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, f), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "demo/assets/vendor"), 0o755); err != nil {
		t.Fatal(err)
	}
	bin = t.TempDir()
	for _, c := range []string{"bash", "cmp", "cp", "dirname"} {
		p, err := exec.LookPath(c)
		if err != nil {
			t.Skipf("%s not found: %v", c, err)
		}
		if err := os.Symlink(p, filepath.Join(bin, c)); err != nil {
			t.Fatal(err)
		}
	}
	return root, bin
}

// runBuildWeb runs build-web.sh in root with PATH=bin and returns its exit
// status and standard error.
func runBuildWeb(t *testing.T, root, bin string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "bash"), append([]string{filepath.Join(root, "scripts/build-web.sh")}, args...)...)
	cmd.Env = []string{"PATH=" + bin}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stderr.String()
	}
	t.Fatalf("build-web.sh: %v", err)
	return 0, ""
}

// TestBuildWebWithoutNpm checks what scripts/build-web.sh does when it
// cannot get the client from npm: it says what to install and fails, or,
// with -optional (make run), goes on so that the pages are served with
// their banner; and that make run passes -optional.
func TestBuildWebWithoutNpm(t *testing.T) {
	root, bin := buildWebTree(t)

	status, stderr := runBuildWeb(t, root, bin)
	if status != 1 || !strings.Contains(stderr, "build-web.sh: npm not found in PATH.") || !strings.Contains(stderr, "Install Node.js 18+ with npm") {
		t.Errorf("without npm: status %d, stderr:\n%s", status, stderr)
	}
	status, stderr = runBuildWeb(t, root, bin, "-optional")
	if status != 0 || !strings.Contains(stderr, "npm not found in PATH.") || !strings.Contains(stderr, "Going on without it: the demo pages show a banner") {
		t.Errorf("without npm, -optional: status %d, stderr:\n%s", status, stderr)
	}

	// An npm whose ci fails (no registry).
	npm := filepath.Join(bin, "npm")
	if err := os.WriteFile(npm, []byte("#!"+filepath.Join(bin, "bash")+"\necho 'npm ERR! network' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	status, stderr = runBuildWeb(t, root, bin, "-optional")
	if status != 0 || !strings.Contains(stderr, "npm ci failed in demo/web (above)") || !strings.Contains(stderr, "Going on without it") {
		t.Errorf("npm ci failing, -optional: status %d, stderr:\n%s", status, stderr)
	}
	if status, stderr = runBuildWeb(t, root, bin); status != 1 {
		t.Errorf("npm ci failing: status %d, stderr:\n%s", status, stderr)
	}

	// An npm that installs: the client is copied into the vendor folder.
	script := "#!" + filepath.Join(bin, "bash") + `
d=node_modules/socket.io-client/dist
/bin/mkdir -p $d && echo '/* client */' > $d/socket.io.min.js && echo '{}' > $d/socket.io.min.js.map && echo '{}' > node_modules/.package-lock.json
`
	if err := os.WriteFile(npm, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if status, stderr = runBuildWeb(t, root, bin); status != 0 {
		t.Fatalf("with npm: status %d, stderr:\n%s", status, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(root, "demo/assets/vendor/socket.io.min.js")); err != nil || string(b) != "/* client */\n" {
		t.Fatalf("vendor/socket.io.min.js: %q, %v", b, err)
	}

	if make, err := exec.LookPath("make"); err == nil {
		out, err := exec.Command(make, "-n", "-C", "..", "run").Output()
		if err != nil || !strings.Contains(string(out), "./scripts/build-web.sh -optional\n") {
			t.Errorf("make -n run: %v\n%s", err, out)
		}
	}
}
