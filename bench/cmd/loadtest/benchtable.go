package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/tether-rt/tether/bench"
)

// benchLine matches a BenchmarkServerEcho result line of go test -bench.
var benchLine = regexp.MustCompile(`^BenchmarkServerEcho/compress=(\S+)/size=(\d+)/lib=(\S+?)(-\d+)?\s+\d+\s+(.*)$`)

// printBenchTable reads go test -bench output and prints, for each
// compression and size, each library's median CPU time, bytes and
// allocations per echoed message as a Markdown table.
func printBenchTable(r io.Reader, w io.Writer) error {
	type key struct {
		compress string
		size     int
		lib      string
	}
	metrics := map[key]map[string][]float64{}
	var rows []key
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		size, _ := strconv.Atoi(m[2])
		k := key{m[1], size, m[3]}
		if metrics[k] == nil {
			metrics[k] = map[string][]float64{}
			if !slices.ContainsFunc(rows, func(r key) bool { return r.compress == k.compress && r.size == k.size }) {
				rows = append(rows, key{compress: k.compress, size: k.size})
			}
		}
		f := strings.Fields(m[5])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err == nil {
				metrics[k][f[i+1]] = append(metrics[k][f[i+1]], v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	median := func(vs []float64) float64 {
		if len(vs) == 0 {
			return 0
		}
		vs = slices.Clone(vs)
		slices.Sort(vs)
		if n := len(vs); n%2 == 0 {
			return (vs[n/2-1] + vs[n/2]) / 2
		}
		return vs[len(vs)/2]
	}
	fmt.Fprintln(w, "| compression | size | "+strings.Join(bench.Libraries, " | ")+" |")
	fmt.Fprintln(w, "|---|--:|"+strings.Repeat("--:|", len(bench.Libraries)))
	for _, row := range rows {
		fmt.Fprintf(w, "| %s | %s |", row.compress, sizeName(row.size))
		for _, lib := range bench.Libraries {
			m := metrics[key{row.compress, row.size, lib}]
			if m == nil {
				fmt.Fprint(w, " – |")
				continue
			}
			fmt.Fprintf(w, " %s · %.0f allocs · %.0f B |", duration(median(m["cpu-ns/op"])), median(m["allocs/op"]), median(m["B/op"]))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	return nil
}

// duration formats nanoseconds for a table cell.
func duration(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}
