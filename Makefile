# Shortcuts; the README's commands are the reference.
.PHONY: run echo test fuzz bench attack

# Builds the demo apps' web assets (npm), then runs the standalone server
# on embedded defaults: http://localhost:8080. Without npm it says what to
# install and serves the demo pages without their client (they say so).
run:
	./scripts/build-web.sh -optional
	go run ./cmd/tether serve

echo:
	go run ./cmd/tether echo -addr 127.0.0.1:9001

test:
	./scripts/test.sh

# FUZZTIME per target, e.g. make fuzz FUZZTIME=5m
FUZZTIME ?= 30s
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

# The hardening battery at full size, with its summary table (SECURITY.md).
attack:
	./scripts/attack.sh

# The comparison with gorilla/websocket, lxzan/gws and coder/websocket
# (BENCHMARKS.md); Markdown tables on stdout, raw results in bench/results.
bench:
	./bench/run.sh
