# Shortcuts; the README's commands are the reference.
.PHONY: run echo test fuzz bench

run:
	go run ./cmd/tether echo -addr 127.0.0.1:9001

echo: run

test:
	./scripts/test.sh

# FUZZTIME per target, e.g. make fuzz FUZZTIME=5m
FUZZTIME ?= 30s
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

bench:
	cd bench && go test -run '^$$' -bench . -benchmem -count 6 ./... | tee bench.txt
