#!/usr/bin/env bash
# Measures the memory of idle Socket.IO clients on `tether serve` as
# shipped (default settings) and on Node's socket.io 4.8
# (test/e2e/client/node_server.mjs), alternated, with `tether load`:
# CLIENTS official-protocol clients over WebSocket connect to "/" (no room)
# and stay quiet. Reported per client, from the server's /proc/<pid>:
#
#   - RSS per client as `tether load -pid` reports it: RSS 1 s after the
#     last client connected, minus RSS before the first;
#   - the same 30 s later, when every session has been through a heartbeat
#     (ping and pong; both servers ping every 25 s by default);
#   - tether serve only, at that time, after a forced GC: the Go heap
#     (HeapInuse) and goroutine stacks per client, goroutines per client,
#     and a heap profile ($OUT/serve-idle-heap-<run>[-before].pb.gz).
#
# tether serve runs with its defaults; only the admin address (pprof and
# /metrics on a second port) is added. The default per-IP limits (100
# connections, 10 handshakes/s with a burst of 20) hold because the clients
# come from 250 loopback addresses (tether load -sources 250: 20 clients and
# 2 handshakes/s per address at the default ramp).
#
# Usage (from anywhere): bench/load/serve-idle.sh
# Knobs: RUNS=3 CLIENTS=5000 RAMP=500 OUT=bench/results TETHER=<a built tether binary>
#        BEFORE=<another tether binary>: each round also runs it, first,
#        labelled "tether serve (before)" (to compare two builds, alternated)
#        TETHER_ONLY=1 (no Node runs), SERVE_ENV=GODEBUG=memprofilerate=1 (an
#        exact heap profile, to find what each session holds)
# Output: $OUT/serve-idle.jsonl (one JSON object per run) and a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-3}
CLIENTS=${CLIENTS:-5000}
RAMP=${RAMP:-500}
OUT=${OUT:-bench/results}
PORT=${PORT:-18080}
ADMIN=${ADMIN:-18081}
LATE=30 # seconds after the RSS sample of tether load

. bench/load/common.sh
npm_ci test/e2e/client

# rss PID prints the process's resident memory in bytes.
rss() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"; }

# metric NAME prints the value of a metric of tether serve's admin server.
metric() { curl -fsS "http://127.0.0.1:$ADMIN/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }

# gostats FILE prints heap_inuse stack_inuse goroutines after a forced GC
# (the heap profile's ?gc=1), saving the profile as FILE.
gostats() {
	curl -fsS -o "$1" "http://127.0.0.1:$ADMIN/debug/pprof/heap?gc=1"
	echo "$(metric go_memstats_heap_inuse_bytes) $(metric go_memstats_stack_inuse_bytes) $(metric go_goroutines)"
}

# measure URL PID LABEL runs tether load against a server (receive-only,
# no room), samples the server's RSS LATE seconds after tether load's own
# sample, and prints the JSON line of the run (without the Go columns).
measure() {
	local url=$1 pid=$2 label=$3
	local connect_s=$((CLIENTS / RAMP + 1))
	"$TETHER" load -url "$url" -pid "$pid" -label "$label" -clients "$CLIENTS" -ramp "$RAMP" -rooms 0 \
		-mode receive -warmup 1s -duration "$((LATE + 5))s" -drain 0s -out json >"$tmp/load.json" &
	local lpid=$!
	# tether load samples RSS 1 s after the last client connected, at
	# about connect_s + 1 s: sample again LATE seconds later.
	sleep "$((connect_s + 1 + LATE))"
	rss "$pid" >"$tmp/late"
	case $label in
	"tether serve") gostats "$OUT/serve-idle-heap-$run.pb.gz" >"$tmp/go" ;;
	"tether serve (before)") gostats "$OUT/serve-idle-heap-$run-before.pb.gz" >"$tmp/go" ;;
	esac
	wait "$lpid" || log "tether load exited $? ($label)"
	jq -c --argjson late "$(cat "$tmp/late")" --argjson run "$run" \
		'{server: .label, run: $run, clients: .clients, connected: .connected,
		  rss_before: .server.rss_before_bytes, rss_connected: .server.rss_connected_bytes,
		  rss_per_client: .server.rss_per_connection_bytes, rss_late: $late,
		  rss_late_per_client: (($late - .server.rss_before_bytes) / .connected)}' "$tmp/load.json"
}

# Node's server ends when its standard input does: give it a FIFO that
# stays open.
mkfifo "$tmp/stdin"
exec 3<>"$tmp/stdin"

results="$OUT/serve-idle.jsonl"
: >"$results"
# serve BINARY LABEL measures one tether serve binary.
serve() {
	local bin=$1 label=$2
	log "run $run of $RUNS: $label"
	env ${SERVE_ENV:-} "$bin" serve -addr "127.0.0.1:$PORT" -admin-addr "127.0.0.1:$ADMIN" -log-level warn >"$tmp/serve.log" 2>&1 &
	local spid=$!
	pids+=("$spid")
	for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$ADMIN/metrics" 2>/dev/null && break; sleep 0.1; done
	sleep 1
	read -r h0 s0 g0 < <(gostats "$tmp/heap-before.pb.gz")
	line=$(measure "http://127.0.0.1:$PORT" "$spid" "$label")
	read -r h1 s1 g1 <"$tmp/go"
	kill "$spid"
	wait "$spid" 2>/dev/null || true
	jq -c --argjson h0 "$h0" --argjson h1 "$h1" --argjson s0 "$s0" --argjson s1 "$s1" \
		--argjson g0 "$g0" --argjson g1 "$g1" \
		'. + {heap_per_client: (($h1 - $h0) / .connected), stack_per_client: (($s1 - $s0) / .connected),
		      goroutines_per_client: (($g1 - $g0) / .connected)}' <<<"$line" | tee -a "$results" >&2
}

for run in $(seq "$RUNS"); do
	[ -n "${BEFORE:-}" ] && serve "$BEFORE" "tether serve (before)"
	serve "$TETHER" "tether serve"

	[ -n "${TETHER_ONLY:-}" ] && continue
	log "run $run of $RUNS: Node socket.io"
	(cd test/e2e/client && exec node node_server.mjs <"$tmp/stdin" >"$tmp/node.log" 2>&1) &
	npid=$!
	pids+=("$npid")
	for _ in $(seq 100); do grep -q listening "$tmp/node.log" 2>/dev/null && break; sleep 0.1; done
	nport=$(jq -r 'select(.op == "listening") | .port' "$tmp/node.log")
	sleep 1
	measure "http://127.0.0.1:$nport" "$npid" "Node socket.io 4.8" | tee -a "$results" >&2
	kill "$npid"
	wait "$npid" 2>/dev/null || true
done

echo "| server | run | clients connected | RSS before → connected | RSS per client | 30 s later | Go heap per client | stacks per client | goroutines per client |"
echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|"
jq -r '"| \(.server) | \(.run) | \(.connected) | \(.rss_before / 1048576 * 10 | round / 10) → \(.rss_connected / 1048576 * 10 | round / 10) MiB | \(.rss_per_client / 102.4 | round / 10) KiB | \(.rss_late_per_client / 102.4 | round / 10) KiB | " +
	(if .heap_per_client then "\(.heap_per_client / 102.4 | round / 10) KiB | \(.stack_per_client / 102.4 | round / 10) KiB | \(.goroutines_per_client * 100 | round / 100) |" else "| | |" end)' "$results"
