// Package fuzzseed keeps the seed corpora of the project's fuzz targets in
// testdata/fuzz/<FuzzName>/, in Go's corpus file format, so that plain
// `go test` runs every seed and `go test -fuzz` starts from them.
package fuzzseed

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Add adds a seed input to f, unless testdata/fuzz/<FuzzName>/ already
// holds it (go test runs it from there, so each seed runs once). With
// TETHER_WRITE_FUZZ_SEEDS=1 in the environment it writes the seed there:
// that is how the committed seed corpora are made.
func Add(f *testing.F, vals ...any) {
	f.Helper()
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range vals {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case byte:
			fmt.Fprintf(&b, "byte(%q)\n", v)
		default:
			fmt.Fprintf(&b, "%T(%v)\n", v, v)
		}
	}
	sum := sha256.Sum256([]byte(b.String()))
	file := filepath.Join("testdata", "fuzz", f.Name(), "seed-"+hex.EncodeToString(sum[:8]))
	if old, err := os.ReadFile(file); err == nil && string(old) == b.String() {
		return
	}
	f.Add(vals...)
	if os.Getenv("TETHER_WRITE_FUZZ_SEEDS") != "1" {
		return
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		f.Fatal(err)
	}
}
