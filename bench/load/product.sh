#!/usr/bin/env bash
# The Socket.IO fan-out rows of BENCHMARKS.md, measured with `tether load`
# (bench/run.sh load, cluster and fanout): the product as users run it,
# `tether serve` with its default settings, against Node's socket.io 4.8 on
# the same scenario, the same clients and the same events (tether serve's
# subscribe and publish), rounds alternated, a fresh server per run; and
# the library form as extra rows.
#
#   single:  tether serve (defaults: presence, join/leave events, recovery,
#            per-IP and event limits, demos) against
#            test/e2e/client/node_server.mjs (socket.io 4.8, the server of
#            tether load's own tests): CLIENTS clients in one room, at each
#            of RATES (messages per second, all clients together, or max:
#            as fast as the server keeps up, WINDOW messages in flight per
#            load process).
#   cluster: NODES × `tether serve -redis-url` (defaults, the pubsub
#            adapter: Node's @socket.io/redis-adapter protocol) against
#            NODES × test/cluster/node_server.mjs classic (socket.io 4.8 with
#            @socket.io/redis-adapter 8.3), on one redis-server the script
#            starts on a free port; clients spread over the nodes
#            (tether load -url a,b,c), CPU summed over them (-pid a,b,c);
#            Redis PUBLISH calls counted over each whole run.
#   library: extra rows, not what users run: Tether's Socket.IO library
#            (bench/cmd/sioserver: socketio.NewServer, WebSocket only,
#            nothing but tether serve's subscribe, unsubscribe and publish)
#            against bench/fanout/node/server.mjs (socket.io 4.8, WebSocket
#            only, the same events), as single.
#
# Every run is one `tether load` command, printed in its JSON line
# ("command"). Each round (every rate, every server) runs under an
# exclusive flock on $LOCK (/tmp/bench.lock; LOCK= for none), taken once
# per round so that other benchmarks on the machine wait for the round and
# the round for them, not run by run. The machine's load average
# (/proc/loadavg) is recorded before and after each run.
#
# Usage: bench/load/product.sh single|cluster|library
# Knobs: RUNS=3 CLIENTS=1000 RATES="5 20 max" DURATION=10s WARMUP=2s SIZE=100
#        WINDOW=16 PROCS=1 (tether load -procs for every run) MAX_PROCS=2
#        (-procs for the max runs) NODES=3 OUT=bench/results
#        TETHER=<a built tether binary> SERVE_ARGS= (extra flags of tether
#        serve, for labelled extra rows) LABEL_SUFFIX= (added to its label)
#        ROOMS=1 (tether load -rooms: the clients spread over this many rooms,
#        each message to one of them) BASE=<another built tether binary>
#        (single mode: a third server, `tether serve` defaults from that
#        binary, labelled with BASE_LABEL, e.g. a commit, for before/after
#        rows in the same rounds) FLOOR=1 (single mode: after the servers of
#        each fixed rate, bench/cmd/writefloor: one plain write(2) of 200
#        bytes per delivery to CLIENTS loopback connections at the same rate
#        per connection, the floor, into $OUT/floor-single.jsonl)
#        FLOOR_BATCH= (with FLOOR=1, e.g. 128: the floor again with the
#        writes in io_uring submissions of that many, writefloor -batch, as
#        tether serve's write groups make them)
#        PIN= (e.g. PIN="0 1": the generator on CPU 0, the servers and
#        Redis on CPU 1, with taskset; both sides alike, so that the servers
#        get one core of their own, as they would with the generator on
#        another machine; labelled in each row)
# Output: $OUT/load-<mode>.jsonl (tether load's JSON report per run, plus
# round, load averages and Redis PUBLISH calls) and a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/../.."

MODE=${1:?usage: product.sh single|cluster|library}
RUNS=${RUNS:-3}
CLIENTS=${CLIENTS:-1000}
RATES=${RATES:-5 20 max}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
SIZE=${SIZE:-100}
ROOMS=${ROOMS:-1}
BASE=${BASE:-}
BASE_LABEL=${BASE_LABEL:-$BASE}
WINDOW=${WINDOW:-16}
PROCS=${PROCS:-1}
MAX_PROCS=${MAX_PROCS:-2}
NODES=${NODES:-3}
OUT=${OUT:-bench/results}
SERVE_ARGS=${SERVE_ARGS:-}
LOCK=${LOCK-/tmp/bench.lock}
LABEL_SUFFIX=${LABEL_SUFFIX:-}
PIN=${PIN:-}
gen_pin=() srv_pin=() pin_label=
if [ -n "$PIN" ]; then
	read -r gen_cpu srv_cpu <<<"$PIN"
	gen_pin=(taskset -c "$gen_cpu")
	srv_pin=(taskset -c "$srv_cpu")
	pin_label=" (pinned: generator CPU $gen_cpu, servers and Redis CPU $srv_cpu)"
fi

. bench/load/common.sh
case $MODE in
single)
	npm_ci test/e2e/client
	[ -z "${FLOOR:-}" ] || (cd bench && go build -o "$tmp/writefloor" ./cmd/writefloor)
	;;
cluster) npm_ci test/cluster ;;
library)
	npm_ci bench/fanout/node
	(cd bench && go build -o "$tmp/sioserver" ./cmd/sioserver)
	;;
*)
	echo "usage: product.sh single|cluster|library" >&2
	exit 2
	;;
esac

freeport() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# waitready URL waits until tether serve's /readyz answers 200.
waitready() {
	for _ in $(seq 200); do
		curl -fsS -o /dev/null "$1/readyz" 2>/dev/null && return
		sleep 0.05
	done
	log "FAILED: $1 not ready"
	return 1
}

# startserver COMMAND ARGS... starts a server (a Node script, or
# bench/cmd/sioserver) that prints {"op":"listening","port":N} on stdout and
# ends when its stdin closes, with a FIFO kept open as its stdin, and sets
# SRV_PID and SRV_PORT.
fds=()
startserver() {
	local n=${#pids[@]} fd
	mkfifo "$tmp/stdin$n"
	"$@" <"$tmp/stdin$n" >"$tmp/server$n.out" 2>"$tmp/server$n.err" &
	SRV_PID=$!
	exec {fd}>"$tmp/stdin$n" # opened after the server, or the open blocks
	fds+=("$fd")
	pids+=("$SRV_PID")
	SRV_PORT=
	for _ in $(seq 200); do
		SRV_PORT=$(jq -r 'select(.op == "listening") | .port' "$tmp/server$n.out" 2>/dev/null | head -1)
		[ -n "$SRV_PORT" ] && return
		sleep 0.05
	done
	log "FAILED: $* did not listen: $(cat "$tmp/server$n.err")"
	return 1
}

stopall() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	for fd in "${fds[@]}"; do exec {fd}>&-; done
	pids=()
	fds=()
	rm -f "$tmp"/stdin*
}

redis_publishes() {
	[ -n "${REDIS_PORT:-}" ] || { echo 0; return; }
	redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' | awk -F'[=,]' '/^cmdstat_publish:/ { print $2; found = 1 } END { if (!found) print 0 }'
}

# measure ROUND LABEL URLS PIDS RATE: one tether load run under the lock.
measure() {
	local round=$1 label=$2$pin_label urls=$3 pids_=$4 rate=$5
	local procs=$PROCS
	[ "$rate" = max ] && procs=$MAX_PROCS
	local args=(-url "$urls" -pid "$pids_" -clients "$CLIENTS" -procs "$procs" -rooms "$ROOMS" -publish-rate "$rate" -size "$SIZE"
		-duration "$DURATION" -warmup "$WARMUP" -label "$label" -out json)
	[ "$rate" = max ] && args+=(-window "$WINDOW")
	local load0 load1 pub0 pub1
	load0=$(cut -d' ' -f1-3 /proc/loadavg)
	pub0=$(redis_publishes)
	"${gen_pin[@]}" "$TETHER" load "${args[@]}" >"$tmp/load.json" 2>"$tmp/load.err" ||
		log "FAILED ($label, $rate): $(tail -1 "$tmp/load.err")"
	pub1=$(redis_publishes)
	load1=$(cut -d' ' -f1-3 /proc/loadavg)
	jq -c --argjson round "$round" --arg load0 "$load0" --arg load1 "$load1" --argjson pubs "$((pub1 - pub0))" \
		--arg time "$(date -u +%H:%M:%S)" --arg rate "$rate" \
		'. + {round: $round, rate: $rate, load_before: $load0, load_after: $load1, redis_publishes: $pubs, time: $time}' \
		"$tmp/load.json" | tee -a "$results" >&2
}

results="$OUT/load-$MODE.jsonl"
: >"$results"
[ -z "${FLOOR:-}" ] || : >"$OUT/floor-$MODE.jsonl"
log "uptime before: $(uptime)"

if [ "$MODE" = cluster ]; then
	REDIS_PORT=$(freeport)
	"${srv_pin[@]}" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$tmp/redis.log" 2>&1 &
	redis_pid=$!
	trap 'kill "$redis_pid" 2>/dev/null; cleanup' EXIT
	for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
	redis_url=redis://127.0.0.1:$REDIS_PORT
fi

# run ROUND SERVER RATE: fresh servers, one measurement, servers stopped.
run() {
	local round=$1 server=$2 rate=$3 urls=() spids=() label
	case $MODE/$server in
	single/tether | single/base)
		local port bin=$TETHER at=
		[ "$server" = base ] && bin=$BASE at=" at $BASE_LABEL"
		port=$(freeport)
		# shellcheck disable=SC2086
		"${srv_pin[@]}" "$bin" serve -addr "127.0.0.1:$port" $SERVE_ARGS >"$tmp/serve.log" 2>&1 &
		pids+=("$!")
		spids+=("$!")
		urls+=("http://127.0.0.1:$port")
		waitready "${urls[0]}"
		label="tether serve (defaults)$at$LABEL_SUFFIX"
		;;
	single/node)
		startserver "${srv_pin[@]}" node test/e2e/client/node_server.mjs
		spids+=("$SRV_PID")
		urls+=("http://127.0.0.1:$SRV_PORT")
		label="Node socket.io 4.8"
		;;
	library/tether)
		startserver "${srv_pin[@]}" "$tmp/sioserver"
		spids+=("$SRV_PID")
		urls+=("http://127.0.0.1:$SRV_PORT")
		label="Tether socketio (library, WebSocket only)"
		;;
	library/node)
		startserver "${srv_pin[@]}" node bench/fanout/node/server.mjs
		spids+=("$SRV_PID")
		urls+=("http://127.0.0.1:$SRV_PORT")
		label="Node socket.io 4.8 (library, WebSocket only)"
		;;
	cluster/tether)
		for i in $(seq "$NODES"); do
			local port
			port=$(freeport)
			# shellcheck disable=SC2086
			TETHER_CLUSTER_NODE_ID="tether$i" "${srv_pin[@]}" "$TETHER" serve -addr "127.0.0.1:$port" -redis-url "$redis_url" $SERVE_ARGS >"$tmp/serve$i.log" 2>&1 &
			pids+=("$!")
			spids+=("$!")
			urls+=("http://127.0.0.1:$port")
		done
		for u in "${urls[@]}"; do waitready "$u"; done
		label="tether serve -redis-url ×$NODES (defaults)$LABEL_SUFFIX"
		;;
	cluster/node)
		for _ in $(seq "$NODES"); do
			startserver "${srv_pin[@]}" node test/cluster/node_server.mjs classic "$redis_url"
			spids+=("$SRV_PID")
			urls+=("http://127.0.0.1:$SRV_PORT")
		done
		label="Node socket.io 4.8 + redis-adapter ×$NODES"
		;;
	esac
	sleep 1
	measure "$round" "$label" "$(IFS=,; echo "${urls[*]}")" "$(IFS=,; echo "${spids[*]}")" "$rate"
	stopall
}

SERVERS=${SERVERS:-tether node}
[ -n "$BASE" ] && [ "$MODE" = single ] && SERVERS="base $SERVERS"
[ -z "$LOCK" ] || exec {lockfd}>"$LOCK"
for round in $(seq "$RUNS"); do
	[ -z "$LOCK" ] || { log "round $round: waiting for $LOCK"; flock -x "$lockfd"; }
	for rate in $RATES; do
		order=$SERVERS # reversed every other round
		[ $((round % 2)) = 0 ] && order=$(echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' ')
		for server in $order; do
			log "round $round of $RUNS, $MODE, $server, rate $rate"
			run "$round" "$server" "$rate"
		done
		if [ -n "${FLOOR:-}" ] && [ "$MODE" = single ] && [ "$rate" != max ]; then
			log "round $round of $RUNS, write(2) floor, rate $rate"
			for batch in 0 ${FLOOR_BATCH:-}; do
				"${srv_pin[@]}" "$tmp/writefloor" -conns "$CLIENTS" -rate "$(awk -v r="$rate" -v n="$ROOMS" 'BEGIN { print r / n }')" \
					-size 200 -duration "$DURATION" -warmup "$WARMUP" -batch "$batch" |
					jq -c --argjson round "$round" --arg time "$(date -u +%H:%M:%S)" '. + {round: $round, time: $time}' |
					tee -a "$OUT/floor-$MODE.jsonl" >&2
			done
		fi
	done
	[ -z "$LOCK" ] || flock -u "$lockfd"
done
log "uptime after: $(uptime)"

# The table: every run, in the order they ran.
echo "| time (UTC) | round | server | rate | delivered / expected | delivered msg/s | p50 | p99 | server CPU per delivered msg | server CPU | load generator CPU (procs) | Redis PUBLISH per message | load average before → after |"
echo "|---|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|"
jq -r '[.time, .round, .label, (if .rate == "max" then "max (window \(.window) per proc)" else "\(.rate)/s" end),
	"\(.delivered) / \(.expected)\(if .ok then "" else " FAILED" end)", (.delivered_per_s | round),
	"\(.latency_ms.p50) ms", "\(.latency_ms.p99) ms",
	"\(.server.cpu_per_delivered_message_us * 100 | round / 100) µs", "\(.server.cpu_percent | round) %",
	"\(.generator.cpu_percent | round) % (\(.procs))",
	(if .redis_publishes > 0 and .sent_all > 0 then "\(.redis_publishes / .sent_all * 100 | round / 100)" else "—" end),
	"\(.load_before) → \(.load_after)"] | "| " + join(" | ") + " |"' "$results"
if [ -n "${FLOOR:-}" ] && [ -s "$OUT/floor-$MODE.jsonl" ]; then
	echo
	echo "| round | write(2) floor: connections × writes/s each | writes | io_uring batch | CPU per write |"
	echo "|--:|---|--:|--:|--:|"
	jq -r '"| \(.round) | \(.conns) × \(.rate)/s | \(.writes) | \(if (.batch // 0) > 0 then .batch else "— (write(2) each)" end) | \(.cpu_us_per_write * 100 | round / 100) µs |"' "$OUT/floor-$MODE.jsonl"
fi
echo
echo "Commands (server URLs and pids differ per run):"
echo
echo '```'
jq -r '.command' "$results" | sed -E 's#http://127\.0\.0\.1:[0-9]+#http://127.0.0.1:$PORT#g; s#-pid [0-9,]+#-pid $PID#' | sort -u
echo '```'
