package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/tether-rt/tether/bench"
)

// printTables reads JSON results, one a line, and prints Markdown tables:
// the servers compared (all driven by Tether's client), the clients
// compared (all against Tether's server), and memory per idle connection.
func printTables(r io.Reader, w io.Writer) error {
	var echoes []EchoResult
	var idles []IdleResult
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Bytes()
		var kind struct{ Mode string }
		if json.Unmarshal(line, &kind) != nil {
			continue // not a result: a log line
		}
		switch kind.Mode {
		case "echo":
			var e EchoResult
			if err := json.Unmarshal(line, &e); err != nil {
				return err
			}
			echoes = append(echoes, e)
		case "idle":
			var i IdleResult
			if err := json.Unmarshal(line, &i); err != nil {
				return err
			}
			idles = append(idles, i)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	all := echoes
	wins := fasterRuns(echoes)
	echoes, runs := medianEchoes(echoes)
	idles = medianIdles(idles)
	if runs > 1 {
		fmt.Fprintf(w, "Each row is the run with the median messages/s (median heap for idle memory) of %d runs.\n\n", runs)
	}
	if len(echoes) > 0 {
		conns := echoes[0].Conns
		fmt.Fprintf(w, "### Echo servers (%d connections, Tether's client)\n\n", conns)
		server := func(e EchoResult) string { return e.Server }
		echoTable(w, echoes, wins, bench.Libraries, "tether", server, func(e EchoResult) bool { return e.Client == "tether" })
		fmt.Fprintf(w, "### Echo clients (%d connections, Tether's server)\n\n", conns)
		echoTable(w, echoes, wins, bench.Libraries, "tether", func(e EchoResult) string { return e.Client }, func(e EchoResult) bool { return e.Server == "tether" })
		// The product as users run it, `tether echo`, against gws's echo
		// server, both driven by a client that is neither's.
		for _, e := range echoes {
			if e.Server != "tether-echo" {
				continue
			}
			client := e.Client
			fmt.Fprintf(w, "### `tether echo` as shipped against gws (%d connections, %s's client)\n\n", conns, client)
			echoTable(w, echoes, productWins(all, client), []string{"tether-echo", "gws"}, "tether-echo", server, func(e EchoResult) bool {
				return e.Client == client && (e.Server == "tether-echo" || e.Server == "gws")
			})
			break
		}
	}
	if len(idles) > 0 {
		fmt.Fprintf(w, "### Memory per idle connection (%d connections)\n\n", idles[0].Conns)
		fmt.Fprintln(w, "| compression | library | heap+stacks KiB/conn | RSS KiB/conn | goroutines/conn |")
		fmt.Fprintln(w, "|---|---|--:|--:|--:|")
		for _, c := range compressions(idles, func(i IdleResult) string { return i.Compress }) {
			for _, lib := range []string{"tether", "tether-go", "tether-async", "tether-echoserver", "tether-echo", "gorilla", "gws", "coder"} {
				for _, i := range idles {
					if i.Compress != c || i.Server != lib {
						continue
					}
					if i.HeapKiB < 0 { // the product: RSS only
						fmt.Fprintf(w, "| %s | %s | – | %.1f | – |\n", c, lib, i.RSSKiB)
						continue
					}
					fmt.Fprintf(w, "| %s | %s | %.1f | %.1f | %.2f |\n", c, lib, i.HeapKiB, i.RSSKiB, i.GoroutinesPC)
				}
			}
		}
		fmt.Fprintln(w)
	}
	return nil
}

// echoTable prints the results keep selects, one row per size and library
// (the one lib returns), grouped by compression. With more than one run,
// a column says in how many runs the row beat Tether's own.
func echoTable(w io.Writer, all []EchoResult, wins map[echoKey]string, libs []string, baseLib string, lib func(EchoResult) string, keep func(EchoResult) bool) {
	var rs []EchoResult
	for _, e := range all {
		if keep(e) {
			rs = append(rs, e)
		}
	}
	for _, c := range compressions(rs, func(e EchoResult) string { return e.Compress }) {
		fmt.Fprintf(w, "Compression: %s\n\n", c)
		fmt.Fprintf(w, "| size | library | msgs/s | vs %[1]s | runs faster than %[1]s | MB/s | p50 µs | p99 µs | server CPU µs/msg | client CPU µs/msg |\n", baseLib)
		fmt.Fprintln(w, "|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|")
		var sizes []int
		for _, e := range rs {
			if e.Compress == c && !slices.Contains(sizes, e.Size) {
				sizes = append(sizes, e.Size)
			}
		}
		slices.Sort(sizes)
		for _, size := range sizes {
			var base float64
			for _, e := range rs {
				if e.Compress == c && e.Size == size && lib(e) == baseLib {
					base = e.MsgsPerSec
				}
			}
			for _, l := range libs {
				for _, e := range rs {
					if e.Compress != c || e.Size != size || lib(e) != l {
						continue
					}
					ratio := "–"
					if base > 0 {
						ratio = fmt.Sprintf("%.2f×", e.MsgsPerSec/base)
					}
					won := wins[keyOf(e)]
					if won == "" {
						won = "–"
					}
					fmt.Fprintf(w, "| %s | %s | %.0f | %s | %s | %.1f | %.0f | %.0f | %.1f | %.1f |\n",
						sizeName(size), l, e.MsgsPerSec, ratio, won, e.MBPerSec, e.P50Micros, e.P99Micros, e.ServerCPUMsg, e.ClientCPUMsg)
				}
			}
		}
		fmt.Fprintln(w)
	}
}

func compressions[T any](rs []T, of func(T) string) []string {
	var cs []string
	for _, want := range []bench.Compression{bench.CompressOff, bench.CompressDeflate, bench.CompressDeflateCtx} {
		for _, r := range rs {
			if of(r) == string(want) && !slices.Contains(cs, string(want)) {
				cs = append(cs, string(want))
			}
		}
	}
	return cs
}

func sizeName(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

// medianEchoes keeps, of the results of several runs of the same test, the
// one with the median messages per second, and returns how many runs there
// were at most.
func medianEchoes(rs []EchoResult) ([]EchoResult, int) {
	groups := map[echoKey][]EchoResult{}
	var order []echoKey
	for _, r := range rs {
		k := keyOf(r)
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var out []EchoResult
	runs := 0
	for _, k := range order {
		g := groups[k]
		runs = max(runs, len(g))
		slices.SortFunc(g, func(a, b EchoResult) int { return cmpFloat(a.MsgsPerSec, b.MsgsPerSec) })
		out = append(out, g[(len(g)-1)/2])
	}
	return out, runs
}

// echoKey names one echo test: the same test in several runs has one key.
type echoKey struct {
	server, client, compress string
	size                     int
}

func keyOf(e EchoResult) echoKey { return echoKey{e.Server, e.Client, e.Compress, e.Size} }

// fasterRuns pairs each test's runs with the runs of Tether's server and
// client at the same size and compression, in the order they ran (bench/
// run.sh runs them a minute apart), and says for each test in how many of
// the pairs it completed more messages than Tether, as "k of n". Pairing
// cancels the machine's slow drift that a comparison of medians keeps.
func fasterRuns(rs []EchoResult) map[echoKey]string {
	runs := map[echoKey][]float64{}
	for _, r := range rs {
		runs[keyOf(r)] = append(runs[keyOf(r)], r.MsgsPerSec)
	}
	out := map[echoKey]string{}
	for k, v := range runs {
		base := runs[echoKey{"tether", "tether", k.compress, k.size}]
		if k.server == "tether" && k.client == "tether" || len(base) < 2 {
			continue
		}
		n := min(len(v), len(base))
		faster := 0
		for i := range n {
			if v[i] > base[i] {
				faster++
			}
		}
		out[k] = fmt.Sprintf("%d of %d", faster, n)
	}
	return out
}

// productWins is fasterRuns for the table of `tether echo` against gws,
// both with client's client: in how many of the paired runs gws completed
// more messages than `tether echo`.
func productWins(rs []EchoResult, client string) map[echoKey]string {
	runs := map[echoKey][]float64{}
	for _, r := range rs {
		if r.Client == client {
			runs[keyOf(r)] = append(runs[keyOf(r)], r.MsgsPerSec)
		}
	}
	out := map[echoKey]string{}
	for k, v := range runs {
		base := runs[echoKey{"tether-echo", client, k.compress, k.size}]
		if k.server != "gws" || len(base) < 2 {
			continue
		}
		n := min(len(v), len(base))
		faster := 0
		for i := range n {
			if v[i] > base[i] {
				faster++
			}
		}
		out[k] = fmt.Sprintf("%d of %d", faster, n)
	}
	return out
}

// medianIdles keeps the median run, by heap per connection, of each test.
func medianIdles(rs []IdleResult) []IdleResult {
	type key struct{ server, compress string }
	groups := map[key][]IdleResult{}
	var order []key
	for _, r := range rs {
		k := key{r.Server, r.Compress}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var out []IdleResult
	for _, k := range order {
		g := groups[k]
		slices.SortFunc(g, func(a, b IdleResult) int { return cmpFloat(idleKey(a), idleKey(b)) })
		out = append(out, g[(len(g)-1)/2])
	}
	return out
}

// idleKey is what medianIdles sorts by: heap per connection, or RSS for
// the product, which reports RSS only (HeapKiB -1).
func idleKey(i IdleResult) float64 {
	if i.HeapKiB < 0 {
		return i.RSSKiB
	}
	return i.HeapKiB
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
