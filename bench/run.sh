#!/usr/bin/env bash
# Runs the whole comparison of Tether's WebSocket engine with
# gorilla/websocket, lxzan/gws and coder/websocket on this machine, in one
# go, and prints Markdown tables (also kept in $OUT, default ./results):
#
#  1. echo throughput and latency, 1,000 connections, 512 B / 4 KiB / 64 KiB
#     messages, compression off and on (permessage-deflate without context
#     takeover, the one mode all four support), server and client in
#     separate processes: every library's server against Tether's client,
#     then every library's client against Tether's server; and the product,
#     `tether echo` as shipped (default flags), against gws's echo server,
#     both with gorilla's client (-lib tether-echo);
#  2. allocations (and time) per message echoed by a server, testing.B
#     with -benchmem, -count 6, summarised by benchstat;
#  3. memory per idle connection with 10,000 connections (`tether echo`:
#     RSS only; its handler in the bench's server process, tether-echoserver,
#     for heap and goroutines);
#  4. Socket.IO fan-out of the product, measured with `tether load`
#     (bench/load/product.sh single): `tether serve` with its default
#     settings against Node's socket.io 4.8 (test/e2e/client/node_server.mjs),
#     1,000 clients in one room publishing with tether serve's events, at
#     5/s, 20/s and as fast as each server keeps up (-publish-rate max),
#     rounds alternated, a fresh server per run; and, as extra rows, the
#     library form, with `tether load` too (bench/load/product.sh library,
#     `fanout`): Tether's socketio server (bench/cmd/sioserver) against
#     Node's (bench/fanout/node/server.mjs), both WebSocket only with
#     nothing but tether serve's events, 5,000 clients, 5/s and max (20/s,
#     100,000 deliveries a second, is more than tether load receives on
#     two cores);
#  5. the same in a cluster on one redis-server, with `tether load`
#     (bench/load/product.sh cluster): 3 × tether serve -redis-url (defaults)
#     against 3 × Node socket.io 4.8 with @socket.io/redis-adapter
#     (test/cluster/node_server.mjs), 1,000 clients spread over the nodes,
#     rounds alternated, as fast as each cluster keeps up and at a fixed
#     rate (and Redis PUBLISH calls per message).
#  6. memory per idle Socket.IO client of the product: `tether serve` with
#     its defaults against Node's socket.io 4.8, 5,000 clients over
#     WebSocket from `tether load` (bench/load/serve-idle.sh).
#  7. growth curves of the product (not part of the full run: `growth`
#     only): `tether serve` with its defaults at 1,000, 5,000, 10,000 and
#     19,000 clients, idle and active (bench/cmd/growth), a fresh server per
#     point, each point under flock /tmp/bench.lock; writes
#     $OUT/growth.jsonl, a Markdown table, and docs/growth-rss.png and
#     docs/growth-cpu.png.
#
# Usage: bench/run.sh            (about 30 minutes on 2 cores)
#        bench/run.sh load       (part 4, the product rows, about 6 minutes)
#        bench/run.sh fanout     (part 4, the library rows, about 7 minutes)
#        bench/run.sh cluster    (part 5 only, about 5 minutes)
# Parts 4 and 5 take the exclusive flock /tmp/bench.lock for each run
# themselves: do not run them under that lock.
#        bench/run.sh serve-idle (part 6 only, about 3 minutes per round)
#        bench/run.sh growth     (part 7 only, about 8 minutes; 12 with node on 2026-12-06)
# Knobs: DURATION=3s WARMUP=1s CONNS=1000 IDLE_CONNS=10000 COUNT=6
#        BENCHTIME=300ms OUT=results
#        LOAD_RUNS=3 LOAD_CLIENTS=1000 LOAD_RATES="5 20 max" LOAD_MAX_PROCS=2
#        (tether load -procs for the max runs)
#        FANOUT_RUNS=3 FANOUT_CLIENTS=5000 FANOUT_DURATION=10s
#        FANOUT_RATES="5 max" FANOUT_SIZE=100 FANOUT_WINDOW=4 (the library
#        rows; FANOUT_CPUPROFILE=<file>: a CPU profile of Tether's server)
#        CLUSTER_CLIENTS=1000 CLUSTER_NODES=3 CLUSTER_RUNS=3 CLUSTER_RATE=10
#        (more knobs: bench/load/product.sh)
#        SERVE_IDLE_RUNS=1 (rounds of part 6, each tether serve then Node)
#        GROWTH_CLIENTS="1000 5000 10000 19000" GROWTH_SERVERS=tether
#        (GROWTH_SERVERS="tether node" adds Node socket.io 4.8, alternated)
#        GROWTH_SCENARIOS="idle active"
#        RUNS=1: repeat the echo tests; the tables show the median run
#        (4 more minutes per run; RUNS=5 is what BENCHMARKS.md shows).
set -euo pipefail
cd "$(dirname "$0")"

DURATION=${DURATION:-3s}
WARMUP=${WARMUP:-1s}
CONNS=${CONNS:-1000}
IDLE_CONNS=${IDLE_CONNS:-10000}
COUNT=${COUNT:-6}
BENCHTIME=${BENCHTIME:-300ms}
OUT=${OUT:-results}
RUNS=${RUNS:-1}
BENCHSTAT=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

log() { printf '==> %s\n' "$*" >&2; }

# 10,000 idle connections need as many descriptors in each process (Go
# raises its own soft limit to the hard one; this is for anything else).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

mkdir -p "$OUT"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT

FANOUT_RUNS=${FANOUT_RUNS:-3}
FANOUT_CLIENTS=${FANOUT_CLIENTS:-5000}
FANOUT_DURATION=${FANOUT_DURATION:-10s}
FANOUT_RATES=${FANOUT_RATES:-5 max}
# 4 messages of 4,999 deliveries in flight per tether load process: about
# what the product rows keep in flight (16 of 999).
FANOUT_WINDOW=${FANOUT_WINDOW:-4}
FANOUT_SIZE=${FANOUT_SIZE:-100}

LOAD_RUNS=${LOAD_RUNS:-3}
LOAD_CLIENTS=${LOAD_CLIENTS:-1000}
LOAD_RATES=${LOAD_RATES:-5 20 max}
LOAD_MAX_PROCS=${LOAD_MAX_PROCS:-2}

load() {
	log "Socket.IO fan-out of tether serve (defaults) against Node socket.io 4.8, with tether load"
	{
		echo "### 4. Socket.IO fan-out with tether load ($LOAD_CLIENTS clients in one room): tether serve (defaults) against Node socket.io 4.8"
		echo
		echo "$(go version), node $(node --version), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo
		# FLOOR=1: the write(2) floor at each fixed rate, in the same rounds.
		RUNS=$LOAD_RUNS CLIENTS=$LOAD_CLIENTS RATES=$LOAD_RATES MAX_PROCS=$LOAD_MAX_PROCS FLOOR=1 \
			OUT="$(cd "$OUT" && pwd)" ./load/product.sh single
		echo
		echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	} | tee "$OUT/load.md"
}

fanout() {
	log "Socket.IO fan-out, library form ($FANOUT_CLIENTS clients): Tether's socketio against Node socket.io 4.8, with tether load"
	{
		echo "### 4b. Socket.IO fan-out with tether load, library form, extra rows ($FANOUT_CLIENTS clients in one room): Tether's socketio (bench/cmd/sioserver) against Node socket.io 4.8 (bench/fanout/node), WebSocket only"
		echo
		echo "$(go version), node $(node --version), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo
		RUNS=$FANOUT_RUNS CLIENTS=$FANOUT_CLIENTS RATES=$FANOUT_RATES DURATION=$FANOUT_DURATION SIZE=$FANOUT_SIZE \
			WINDOW=$FANOUT_WINDOW MAX_PROCS=$LOAD_MAX_PROCS OUT="$(cd "$OUT" && pwd)" ./load/product.sh library
		echo
		echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	} | tee "$OUT/fanout.md"
}

CLUSTER_CLIENTS=${CLUSTER_CLIENTS:-1000}
CLUSTER_NODES=${CLUSTER_NODES:-3}
CLUSTER_RUNS=${CLUSTER_RUNS:-3}
CLUSTER_RATE=${CLUSTER_RATE:-10}

cluster() {
	log "Socket.IO fan-out in a cluster ($CLUSTER_NODES nodes, $CLUSTER_CLIENTS clients): tether serve against Node socket.io 4.8 + @socket.io/redis-adapter, with tether load"
	{
		echo "### 5. Socket.IO fan-out in a cluster on Redis with tether load ($CLUSTER_CLIENTS clients in one room, spread over $CLUSTER_NODES nodes)"
		echo
		echo "$(go version), node $(node --version), $(redis-server --version | cut -d' ' -f1-3), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo
		RUNS=$CLUSTER_RUNS CLIENTS=$CLUSTER_CLIENTS NODES=$CLUSTER_NODES RATES="max $CLUSTER_RATE" MAX_PROCS=$LOAD_MAX_PROCS \
			OUT="$(cd "$OUT" && pwd)" ./load/product.sh cluster
		echo
		echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	} | tee "$OUT/cluster.md"
}

SERVE_IDLE_RUNS=${SERVE_IDLE_RUNS:-1}

serve_idle() {
	log "memory per idle Socket.IO client: tether serve (defaults) against Node socket.io 4.8"
	{
		echo "### 6. Memory per idle Socket.IO client (tether serve, defaults; 5,000 clients over WebSocket)"
		echo
		echo "$(go version), node $(node --version), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo
		RUNS=$SERVE_IDLE_RUNS OUT="$(cd "$OUT" && pwd)" ./load/serve-idle.sh
		echo
		echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	} | tee "$OUT/serve-idle.md"
}

GROWTH_CLIENTS=${GROWTH_CLIENTS:-1000 5000 10000 19000}
GROWTH_SERVERS=${GROWTH_SERVERS:-tether}
GROWTH_SCENARIOS=${GROWTH_SCENARIOS:-idle active}

growth() {
	log "growth curves: $GROWTH_SERVERS at $GROWTH_CLIENTS clients, $GROWTH_SCENARIOS"
	(cd .. && go build -o "$bin/tether" ./cmd/tether)
	go build -o "$bin/growth" ./cmd/growth
	if [[ " $GROWTH_SERVERS " == *" node "* ]]; then
		(cd ../test/e2e/client && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error >&2; })
	fi
	local results="$OUT/growth.jsonl"
	: >"$results"
	for scenario in $GROWTH_SCENARIOS; do
		for n in $GROWTH_CLIENTS; do
			for server in $GROWTH_SERVERS; do
				# The lock per point: other benchmarks on the machine
				# wait for it, and this waits for theirs.
				flock /tmp/bench.lock "$bin/growth" -mode point -server "$server" -tether "$bin/tether" \
					-clients "$n" -scenario "$scenario" | tee -a "$results" >&2 ||
					log "FAILED: growth -server $server -clients $n -scenario $scenario"
			done
		done
	done
	{
		echo "### 7. Growth curves (tether serve, defaults)"
		echo
		echo "$(go version), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
		echo
		"$bin/growth" -mode table <"$results"
	} | tee "$OUT/growth.md"
	"$bin/growth" -mode plot -docs ../docs <"$results" >&2
}

case "${1:-}" in
growth)
	growth
	exit
	;;
load)
	load
	exit
	;;
fanout)
	fanout
	exit
	;;
cluster)
	cluster
	exit
	;;
serve-idle)
	serve_idle
	exit
	;;
esac

log "building loadtest and checking every client against every server"
go build -o "$bin/loadtest" ./cmd/loadtest
go build -o "$bin/tether" ../cmd/tether
go test -count=1 ./...

results="$OUT/results.jsonl"
: >"$results"
run() {
	# A failed run is reported and left out of the tables; the rest go on.
	"$bin/loadtest" -tether "$bin/tether" -out json "$@" | tee -a "$results" >&2 || log "FAILED: loadtest $*"
}

# Each size's servers and clients run back to back, so that the rows
# compared in a table were measured within a minute of each other (the
# machine's speed drifts over minutes); Tether's server with Tether's client
# is the row both tables compare against.
for run in $(seq "$RUNS"); do
	log "run $run of $RUNS, echo throughput ($CONNS connections): servers with Tether's client, clients with Tether's server"
	for compress in off deflate; do
		for size in 512 4096 65536; do
			for lib in tether gorilla gws coder; do
				run -lib "$lib" -client tether -conns "$CONNS" -size "$size" -compress "$compress" -warmup "$WARMUP" -duration "$DURATION"
			done
			for lib in gorilla gws coder; do
				run -lib tether -client "$lib" -conns "$CONNS" -size "$size" -compress "$compress" -warmup "$WARMUP" -duration "$DURATION"
			done
			if [ "$compress" = off ]; then
				# The product as users run it, against gws, with a client
				# that is neither's.
				for lib in tether-echo gws; do
					run -lib "$lib" -client gorilla -conns "$CONNS" -size "$size" -warmup "$WARMUP" -duration "$DURATION"
				done
			fi
		done
	done
done

log "memory per idle connection ($IDLE_CONNS connections)"
for compress in off deflate deflate-ctx; do
	for lib in tether tether-go tether-async tether-echoserver tether-echo gorilla gws coder; do
		[ "$lib/$compress" = gorilla/deflate-ctx ] && continue # gorilla has no context takeover
		run -mode idle -lib "$lib" -conns "$IDLE_CONNS" -compress "$compress"
	done
done

log "allocations per echoed message (testing.B, -count $COUNT)"
go test -run '^$' -bench 'ServerEcho' -benchmem -count "$COUNT" -benchtime "$BENCHTIME" . | tee "$OUT/bench.txt" >&2

log "report"
{
	echo "## Results"
	echo
	echo "$(go version), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	"$bin/loadtest" -mode table <"$results"
	echo "### Server echo of one message (testing.B, -count $COUNT)"
	echo
	echo "Median CPU time, allocations and bytes allocated per message echoed:"
	echo
	"$bin/loadtest" -mode benchtable <"$OUT/bench.txt"
	echo "benchstat, each library against Tether:"
	echo
	echo '```'
	go run "$BENCHSTAT" -col /lib "$OUT/bench.txt"
	echo '```'
} | tee "$OUT/report.md"

load
fanout
cluster
serve_idle
