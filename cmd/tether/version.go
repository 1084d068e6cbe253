package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// runVersion prints the version of the binary (see [versionText]).
func runVersion(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stderr, "Usage: tether version\n\nPrints the module version of the binary (vX.Y.Z when installed with go install at a tag),\n"+
			"the commit it was built from (when built from a clone) and the Go version. Also tether -version.\n")
		return errHelp
	}
	if len(args) > 0 {
		return fmt.Errorf("version takes no arguments, got %q", args[0])
	}
	bi, _ := debug.ReadBuildInfo() // nil without build information
	_, err := io.WriteString(stdout, versionText(bi))
	return err
}

// versionText describes the build bi (nil when the binary has no build
// information) in up to three lines:
//
//	tether v1.2.3
//	commit 0123abcd… 2026-12-05T08:00:14Z (modified)
//	go1.26.0 linux/amd64
//
// The first line is the main module's version: the tag's for a binary
// installed with "go install …@v1.2.3", a pseudo-version or "(devel)" for
// one built from a clone. The commit line comes from the version control
// information that "go build" stamps in a clone (absent from binaries
// built from the module cache, whose version says it all); "(modified)"
// means the working tree had uncommitted changes.
func versionText(bi *debug.BuildInfo) string {
	var b strings.Builder
	version, goVersion := "(unknown)", runtime.Version()
	if bi != nil {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
	}
	fmt.Fprintf(&b, "tether %s\n", version)
	var revision, time string
	var modified bool
	goos, goarch := runtime.GOOS, runtime.GOARCH
	if bi != nil {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				time = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			case "GOOS":
				goos = s.Value
			case "GOARCH":
				goarch = s.Value
			}
		}
	}
	if revision != "" {
		b.WriteString("commit " + revision)
		if time != "" {
			b.WriteString(" " + time)
		}
		if modified {
			b.WriteString(" (modified)")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%s %s/%s\n", goVersion, goos, goarch)
	return b.String()
}
